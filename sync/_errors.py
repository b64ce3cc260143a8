"""The sync core's error hierarchy, split by whose fault a failure is (as h11 does)."""

from __future__ import annotations


class SyncError(Exception):
    """Base class for every error raised by ``sync``."""

    #: CouchDB-style error name (``bad_request``, ``forbidden``, ``conflict`` ...).
    error: str = "bad_request"

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class LocalSyncError(SyncError):
    """Our own side is misconfigured or misused (a schema without merge rules, say)."""

    error = "internal_error"


class RemoteSyncError(SyncError):
    """The peer sent something we must refuse; maps to a 4xx answer."""

    error = "bad_request"


class SchemaDefinitionError(LocalSyncError):
    """A JSON Schema under ``schemas/`` breaks the house rules (unknown or missing ``x-merge``)."""


class InvalidDocument(RemoteSyncError):
    """A document body does not satisfy its schema; ``field`` names the offending field and
    ``rule`` the kind of failure (``unknown_field``, ``missing_field`` or ``invalid``), for
    callers that answer with a code."""

    def __init__(self, reason: str, *, field: str | None = None, rule: str = "invalid") -> None:
        super().__init__(reason, field=field)
        self.rule = rule


class InvalidRevision(RemoteSyncError):
    """A revision id or ``_revisions`` list is malformed or inconsistent."""


class DecryptionError(RemoteSyncError):
    """Any failure to decrypt or unwrap; deliberately says nothing more (like Fernet's InvalidToken)."""

    def __init__(self, reason: str = "ciphertext could not be decrypted") -> None:
        super().__init__(reason)
