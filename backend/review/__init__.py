"""Supervisor review: sign-off, returns, conflicts to decide, overdue visits."""
