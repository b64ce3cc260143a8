"""Conflict items: fields the merge rules could not decide, kept for a supervisor to decide.

One open item per field of a document: who wrote each candidate is in clear (``candidates``),
the competing values are case data and are encrypted under the case key (``values_enc``). A
merge that meets a field already waiting adds its new candidates to the open item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.common.rows import insert_rows
from backend.keys.services import case_key_by_kid, case_key_current
from sync import Side, decrypt_body, encrypt_body, revtree

from .codec import open_body, schema_for
from .models import ConflictItem, Document, Revision
from .store import store_child
from .trees import tree_of

#: The ``field`` of an item that asks a supervisor to choose a whole document.
WHOLE_DOCUMENT = "(document)"


@dataclass(frozen=True)
class Conflict:
    """One undecided field as a merge found it: who wrote each candidate value, and the values."""

    document: Document
    field: str
    rule: str
    #: The merged revision that shows the safe value while the field waits.
    merged_rev: str
    #: ``(rev, author, edited_at, device)`` per candidate.
    who: list[tuple[str, str, str, str | None]]
    base: Any
    values: list[Any]
    #: Revisions written by an earlier server merge: their values are placeholders, not edits.
    placeholder_revs: frozenset[str] = frozenset()


def conflict_values(item: ConflictItem) -> dict[str, Any]:
    """Decrypt a conflict's competing values (``{"base": …, "values": [one per candidate]}``)."""
    enc = item.values_enc
    key = case_key_by_kid(kid=enc["kid"])
    return decrypt_body(enc, key=key, doc_id=item.document_id, doc_type="conflict", case_id=item.case_id)


def record_conflicts(conflicts: Sequence[Conflict], *, now: datetime) -> None:
    """Store the review item of each conflict: new items created together, open items for the
    same field (a field that conflicts again) updated. Runs in the merge's transaction, with the
    documents locked by the caller."""
    if not conflicts:
        return
    open_items: dict[tuple[str, str], ConflictItem] = {}
    for item in (
        ConflictItem.objects.select_for_update()
        .filter(document_id__in={c.document.id for c in conflicts}, decided_at__isnull=True)
        .order_by("pk")
    ):
        open_items.setdefault((item.document_id, item.field), item)
    created: list[ConflictItem] = []
    updated: dict[int, ConflictItem] = {}
    for conflict in conflicts:
        key = (conflict.document.id, conflict.field[:200])
        item = _item(conflict, now=now, open_item=open_items.get(key))
        if key not in open_items:
            open_items[key] = item
            created.append(item)
        elif item.pk is not None:
            updated[item.pk] = item
    insert_rows(ConflictItem, created)
    for item in updated.values():
        item.save(update_fields=["candidates", "values_enc", "merged_rev"])


def _item(conflict: Conflict, *, now: datetime, open_item: ConflictItem | None) -> ConflictItem:
    """``open_item`` with the conflict's new candidates added, or a new unsaved item.

    A merge revision's placeholder (the safe value it showed) is not offered as anyone's edit.
    """
    document = conflict.document
    candidates = [
        {"rev": rev, "author": author, "edited_at": at, "device": device}
        for rev, author, at, device in conflict.who
    ]
    pairs = [
        (c, v)
        for c, v in zip(candidates, conflict.values, strict=True)
        if c["rev"] not in conflict.placeholder_revs
    ]
    base = conflict.base
    if open_item is not None:
        existing = conflict_values(open_item)
        known = {c["rev"] for c in open_item.candidates}
        pairs = [
            *zip(open_item.candidates, existing["values"], strict=True),
            *((c, v) for c, v in pairs if c["rev"] not in known),
        ]
        base = existing.get("base")
    kid, key = case_key_current(case_id=document.case_id)
    values_enc = encrypt_body(
        {"base": base, "values": [v for _, v in pairs]},
        key=key,
        kid=kid,
        doc_id=document.id,
        doc_type="conflict",
        case_id=document.case_id,
    )
    if open_item is not None:
        open_item.candidates = [c for c, _ in pairs]
        open_item.values_enc = values_enc
        open_item.merged_rev = conflict.merged_rev
        return open_item
    return ConflictItem(
        document=document,
        case_id=document.case_id,
        field=conflict.field[:200],
        rule=conflict.rule,
        merged_rev=conflict.merged_rev,
        candidates=[c for c, _ in pairs],
        values_enc=values_enc,
        created_at=now,
    )


def whole_document_conflict(
    document: Document,
    live: list[revtree.Leaf],
    sides: Sequence[Side],
    actor: Actor,
    now: datetime,
    *,
    reason: str,
    placeholder_revs: frozenset[str],
) -> None:
    """The merged body would break the schema: leave the leaves as CouchDB conflicts and ask a
    supervisor to choose, rather than store something invalid or drop anyone's edit. The
    winner gets a revision carrying ``decisions_pending: ["(document)"]`` so every device shows
    that the record needs a decision."""
    flagged_already = ConflictItem.objects.filter(
        document=document, field=WHOLE_DOCUMENT, decided_at__isnull=True
    ).exists()
    record_conflicts(
        [
            Conflict(
                document=document,
                field=WHOLE_DOCUMENT,
                rule="review",
                merged_rev=document.rev,
                who=[(side.rev, side.author, side.edited_at, side.device) for side in sides],
                base=None,
                values=[dict(side.content) for side in sides],
                placeholder_revs=placeholder_revs,
            )
        ],
        now=now,
    )
    if not flagged_already and "decisions_pending" in schema_for(document.doc_type).rules:
        winner = revtree.winning_rev(tree_of(document))
        revision = Revision.objects.get(document=document, rev=winner)
        content = open_body(
            doc_id=document.id, doc_type=document.doc_type, case_id=document.case_id, body=revision.body
        )
        content["decisions_pending"] = sorted({*(content.get("decisions_pending") or []), WHOLE_DOCUMENT})
        store_child(
            document, parent=winner, content=content, actor=actor, origin=Revision.Origin.MERGE, now=now
        )
    audit_record(
        actor=actor,
        action=AuditAction.MERGE,
        object_type=document.doc_type,
        object_id=document.id,
        case_id=document.case_id,
        detail={"outcome": "needs_decision", "leaves": [leaf.rev for leaf in live], "invalid_field": reason},
    )
