"""Doorstep's Django project: case records, teams, allocations, devices, audit and sync."""
