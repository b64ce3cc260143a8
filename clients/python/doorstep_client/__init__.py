"""Doorstep Python client: local encrypted replica, replication, CLI."""
