"""Cases (the relational side: team, type, status, visit frequency) and their allocations."""
