"""Cross-cutting pieces: application errors, the exception handler, ids, limits, pagination."""
