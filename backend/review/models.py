"""The review app keeps no tables of its own: ``ConflictItem`` lives in ``records.models``
(the merge writes it); it is re-exported here for the review code that reads it."""

from backend.records.models import ConflictItem

__all__ = ["ConflictItem"]
