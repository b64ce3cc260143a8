"""The one service for replicated writes: store a round of revisions, audit it and resolve the
conflicts it leaves, in one transaction.

The sync endpoint (``syncapi``) checks the CouchDB protocol — shape, ids, subset, keys, the
workflow table — and then makes this one call. It sits above ``records.services`` (whose
single-document writes the merge itself uses, for addenda) so that calling the merge here
makes no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record_many

from . import merging
from .models import Document
from .store import PendingRevision, StoredRevision, store_revisions


@dataclass
class ReplicatedWrite:
    """A replicated revision that passed the sync endpoint's checks, ready to store."""

    pending: PendingRevision
    #: Whether the revision it edits is a signed-off visit (its merge must protect that).
    parent_signed_off: bool
    #: Content the checks decrypted, by rev (the new revision, its parent): the merge that may
    #: follow need not decrypt them again.
    opened: dict[str, dict[str, Any]] = field(default_factory=dict)


@transaction.atomic
def documents_replicate(
    *,
    actor: Actor,
    writes: list[ReplicatedWrite],
    documents: dict[str, Document | None],
    late_cases: frozenset[str] = frozenset(),
    now: datetime,
) -> list[StoredRevision]:
    """Store a round of replicated revisions (each document at most once), audit them — a push
    or a deletion each, and a late edit for those on ``late_cases`` (cases the writer's
    allocation left, still writable from this device for a while) — and resolve the conflicts
    they leave, in one transaction with the caller's (``documents`` locked by the caller, as
    ``store.store_revisions`` needs them). One result per write, in order."""
    stored = store_revisions([w.pending for w in writes], documents=documents, now=now)
    audits: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = {}
    late: list[tuple[str, str, str, dict[str, Any]]] = []
    for write, outcome in zip(writes, stored, strict=True):
        pending = write.pending
        if pending.case.id in late_cases:
            late.append(
                (
                    "document",
                    pending.doc_id,
                    pending.case.id,
                    {"rev": outcome.rev, "reason": "allocation ended"},
                )
            )
        if outcome.seq is None:
            continue
        action = AuditAction.DELETE if pending.deleted else AuditAction.SYNC_PUSH
        audits.setdefault(action, []).append(
            (
                pending.doc_type,
                pending.doc_id,
                pending.case.id,
                {"rev": outcome.rev, "outcome": outcome.outcome},
            )
        )
    for action, items in audits.items():
        audit_record_many(actor=actor, action=action, items=items)
    if late:
        audit_record_many(actor=actor, action=AuditAction.LATE_EDIT, items=sorted(late))
    merging.resolve_conflicts(
        written=[
            (
                outcome.document,
                merging.Written(
                    rev=outcome.rev,
                    deleted=write.pending.deleted,
                    outcome=outcome.outcome,
                    parent_signed_off=write.parent_signed_off,
                ),
            )
            for write, outcome in zip(writes, stored, strict=True)
            if outcome.seq is not None
        ],
        actor=actor,
        now=now,
        opened={
            (write.pending.doc_id, rev): content
            for write, outcome in zip(writes, stored, strict=True)
            if outcome.seq is not None
            for rev, content in write.opened.items()
        },
    )
    return stored
