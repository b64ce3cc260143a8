"""A worker's "For your attention" list (derived at read time) and the names directory."""
