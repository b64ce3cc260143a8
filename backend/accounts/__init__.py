"""Users, roles, teams, devices and API tokens."""
