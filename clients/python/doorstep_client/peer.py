"""What the replicator needs from either side: the ``Peer`` protocol and the values it trades."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: A sequence value as the peer gave it: an int (PouchDB, the replica) or an opaque string
#: (CouchDB 2+, Doorstep's ``"<E>-<D>"``). Never compared or parsed, only sent back.
Seq = Any


@dataclass(frozen=True, slots=True)
class Change:
    """One row of a ``_changes`` feed with ``style=all_docs``: every leaf revision of ``id``."""

    seq: Seq
    id: str
    revs: tuple[str, ...]
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class ChangesBatch:
    """A page of changes; ``pending`` is how many remain after it, when the peer says."""

    changes: tuple[Change, ...]
    last_seq: Seq
    pending: int | None = None


@dataclass(frozen=True, slots=True)
class DocFailure:
    """A document a peer would not read or store, in the peer's words (``error``, ``reason``)."""

    id: str
    rev: str | None
    error: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "rev": self.rev, "error": self.error, "reason": self.reason}


class Peer(Protocol):
    """A CouchDB-protocol database as the replicator sees it (a ``Replica`` or a ``Remote``)."""

    @property
    def peer_id(self) -> str:
        """A stable name without credentials, part of the replication id."""
        ...

    def info(self) -> Mapping[str, Any]:
        """``GET /db``: at least ``update_seq``."""
        ...

    def get_local(self, local_id: str) -> dict[str, Any] | None:
        """The ``_local/{local_id}`` document, or None."""
        ...

    def put_local(self, local_id: str, body: Mapping[str, Any]) -> None:
        """Write ``_local/{local_id}``, replacing whatever is there."""
        ...

    def changes_since(self, since: Seq, limit: int) -> ChangesBatch:
        """Up to ``limit`` changes after ``since``, oldest first, every leaf listed."""
        ...

    def revs_diff(self, revs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        """For each id, the given revs the peer lacks (ids with nothing missing may be left out)."""
        ...

    def bulk_get(
        self, wanted: Sequence[tuple[str, Sequence[str]]]
    ) -> tuple[list[dict[str, Any]], list[DocFailure]]:
        """The asked revisions (``latest`` leaves) with ``_revisions``, and what could not be read."""
        ...

    def bulk_store_replicated(self, docs: Sequence[Mapping[str, Any]]) -> list[DocFailure]:
        """Store replicated revisions as they are (``new_edits=false``); per-document refusals."""
        ...

    def ensure_full_commit(self) -> None:
        """Make what was stored durable before a checkpoint names it."""
        ...
