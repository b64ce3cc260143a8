"""Resolving the concurrent edits of a whole replicated write round at once: what
``merging.resolve_conflicts`` does for each document, with one query per kind of row.

The documents left with several live leaves are merged with the same plan (``plan_merge``);
every merged revision and every tombstone goes through one ``records.store.store_revisions``
call, review items are created together and the ``merge`` audit events are appended together.
The rare cases keep the per-document path, which stays the reference:

- a document with at most one live leaf (nothing to merge; a deletion that lost is audited
  there, and an edit on top of a signed-off visit is protected there);
- a visit with a signed-off revision anywhere in its tree (the edit becomes an addendum);
- a merge whose result breaks the schema (the whole document goes to review);
- a leaf or body the plan cannot use (missing or undecryptable body, a value of the wrong
  shape): the per-document path meets the same problem and fails the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record_many
from backend.cases.models import Case
from backend.common.rows import insert_rows
from sync import SyncError, revtree

from .merging import MergePlan, Written, conflict_item, merge_audit_detail, plan_merge, resolve_conflicts
from .models import Document, Revision
from .store import PendingRevision, seal_body, store_revisions
from .trees import tree_of


@dataclass(frozen=True)
class _Merge:
    document: Document
    live: list[revtree.Leaf]
    plan: MergePlan
    merged_rev: str
    closed: list[str]


def resolve_many(
    *,
    written: Sequence[tuple[Document, Written]],
    actor: Actor,
    now: datetime,
    opened: Mapping[tuple[str, str], dict[str, Any]] | None = None,
) -> None:
    """Bring every document of ``written`` back to a single live leaf, exactly as calling
    ``resolve_conflicts`` for each would (same merged content, winner, tombstones, review
    items, audit events, counters and projections), in a fixed number of queries for the
    documents that merge cleanly.

    Runs inside the caller's transaction, with the documents locked by the caller; each
    ``Document`` is updated in place. Call it within ``keys.services.current_keys_cached`` so
    each case's key is looked up once. ``opened`` may give revisions' content the caller
    decrypted already, by ``(document id, rev)`` (the write's own revision, its parent): those
    are not decrypted again. Raises what ``resolve_conflicts`` raises.
    """
    per_document: list[tuple[Document, Written]] = []
    several: list[tuple[Document, Written, revtree.RevTree, list[revtree.Leaf]]] = []
    seen: set[str] = set()
    for document, write in written:
        tree = tree_of(document)
        live = [leaf for leaf in revtree.leaves(tree) if not leaf.deleted]
        if len(live) < 2 or document.id in seen:  # a second mention runs after the first's merge
            per_document.append((document, write))
        else:
            several.append((document, write, tree, live))
        seen.add(document.id)
    merges: list[tuple[Document, revtree.RevTree, list[revtree.Leaf], MergePlan]] = []
    if several:
        signed = _visits_with_signed_off_revisions([d.id for d, _, _, _ in several if d.doc_type == "visit"])
        bases = {
            document.id: revtree.common_ancestor(tree, [leaf.rev for leaf in live])
            for document, _, tree, live in several
        }
        stored = _merge_inputs(
            (document.id, rev)
            for document, _, _, live in several
            if document.id not in signed
            for rev in [*(leaf.rev for leaf in live), bases[document.id]]
            if rev is not None
        )
        for document, write, tree, live in several:
            plan = None
            if document.id not in signed:
                plan = _plan(document, tree, live, bases[document.id], stored, opened or {})
            if plan is None or plan.invalid is not None:
                per_document.append((document, write))
            else:
                merges.append((document, tree, live, plan))
    if merges:
        _store_merges(merges, actor=actor, now=now)
    for document, write in per_document:
        resolve_conflicts(document=document, actor=actor, now=now, written=write)


def _visits_with_signed_off_revisions(visit_ids: list[str]) -> set[str]:
    """Visits with a live signed-off revision anywhere in their history (``status`` is clear
    meta, so no body needs decrypting): the per-document path protects those."""
    if not visit_ids:
        return set()
    return set(
        Revision.objects.filter(
            document_id__in=visit_ids, deleted=False, body__meta__status="signed_off"
        ).values_list("document_id", flat=True)
    )


class _Stored:
    """What a merge reads of a stored revision, as a plain row; the body (JSON text on SQLite)
    is decoded only if the merge has to decrypt it."""

    __slots__ = ("_body", "deleted", "device_id", "origin")

    def __init__(self, deleted: Any, body: Any, origin: str, device_id: Any) -> None:
        self.deleted = bool(deleted)
        self._body = body
        self.origin = origin
        self.device_id = device_id

    @property
    def body(self) -> Any:
        if isinstance(self._body, str | bytes):
            self._body = json.loads(self._body)
        return self._body


def _merge_inputs(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], _Stored]:
    """The stored revisions of exact ``(document id, rev)`` pairs, as plain rows: the VALUES
    join on the unique ``(document_id, rev)`` index of ``selectors.revisions_by_pair``, without
    building model instances."""
    wanted = list(dict.fromkeys(pairs))
    found: dict[tuple[str, str], _Stored] = {}
    table = connection.ops.quote_name(Revision._meta.db_table)
    cast = "CAST(%s AS TEXT)" if connection.vendor == "postgresql" else "%s"
    with connection.cursor() as cursor:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            values = ", ".join([f"({cast}, {cast})"] * len(chunk))
            cursor.execute(
                f"WITH wanted(document_id, rev) AS (VALUES {values}) "
                f"SELECT r.document_id, r.rev, r.deleted, r.body, r.origin, r.device_id FROM {table} r "
                "JOIN wanted w ON r.document_id = w.document_id AND r.rev = w.rev",
                [value for pair in chunk for value in pair],
            )
            for document_id, rev, deleted, body, origin, device_id in cursor.fetchall():
                found[(document_id, rev)] = _Stored(deleted, body, origin, device_id)
    return found


def _plan(
    document: Document,
    tree: revtree.RevTree,
    live: list[revtree.Leaf],
    base_rev: str | None,
    stored: dict[tuple[str, str], _Stored],
    opened: Mapping[tuple[str, str], dict[str, Any]],
) -> MergePlan | None:
    """The merge plan, or None when the per-document path must handle this document."""
    revisions = {
        rev: stored[(document.id, rev)]
        for rev in [*(leaf.rev for leaf in live), base_rev]
        if rev is not None and (document.id, rev) in stored
    }
    if any(leaf.rev not in revisions for leaf in live):
        return None
    contents = {rev: opened[(document.id, rev)] for rev in revisions if (document.id, rev) in opened}
    try:
        return plan_merge(document, tree, live, revisions, contents)
    except SyncError:
        return None


def _store_merges(
    merges: list[tuple[Document, revtree.RevTree, list[revtree.Leaf], MergePlan]],
    *,
    actor: Actor,
    now: datetime,
) -> None:
    """Each merged body on its document's winning leaf, a tombstone on every other live leaf,
    then the review items and audit events, all in one go."""
    cases = Case.objects.in_bulk({document.case_id for document, _, _, _ in merges})
    pending: list[PendingRevision] = []
    done: list[_Merge] = []
    for document, tree, live, plan in merges:
        case = cases[document.case_id]
        body = seal_body(
            doc_id=document.id, doc_type=document.doc_type, case_id=document.case_id, content=plan.merged
        )
        path = revtree.new_edit_path(parent_rev=plan.winner, tree=tree, body=body, deleted=False)
        # Each tombstone's path is made on the tree as the previous write left it (stemming
        # can shorten a leaf's known ancestry), as ``_write_child`` does one write at a time;
        # ``store_revisions`` reuses those merged trees.
        after, outcome = revtree.merge(tree, path, revs_limit=settings.DOORSTEP_REVS_LIMIT)
        pending.append(
            _pending(document, case, path, body, actor, deleted=False, merged=(tree, after, outcome))
        )
        others = [leaf for leaf in live if leaf.rev != plan.winner]
        closed = []
        for number, leaf in enumerate(others, start=1):
            tombstone = revtree.new_edit_path(parent_rev=leaf.rev, tree=after, body={}, deleted=True)
            merged = None
            if number < len(others):
                before = after
                after, outcome = revtree.merge(before, tombstone, revs_limit=settings.DOORSTEP_REVS_LIMIT)
                merged = (before, after, outcome)
            pending.append(_pending(document, case, tombstone, {}, actor, deleted=True, merged=merged))
            closed.append(revtree.leaf_rev(tombstone))
        done.append(
            _Merge(document=document, live=live, plan=plan, merged_rev=revtree.leaf_rev(path), closed=closed)
        )
    store_revisions(pending, documents={m.document.id: m.document for m in done}, now=now)
    _record_conflicts(done, now=now)
    audit_record_many(
        actor=actor,
        action=AuditAction.MERGE,
        items=[
            (
                m.document.doc_type,
                m.document.id,
                m.document.case_id,
                merge_audit_detail(m.plan, m.live, m.merged_rev, m.closed),
            )
            for m in done
        ],
    )


def _pending(
    document: Document,
    case: Case,
    path: revtree.RevPath,
    body: dict[str, Any],
    actor: Actor,
    *,
    deleted: bool,
    merged: tuple[revtree.RevTree, revtree.RevTree, str] | None = None,
) -> PendingRevision:
    return PendingRevision(
        doc_id=document.id,
        doc_type=document.doc_type,
        case=case,
        path=path,
        body=body,
        deleted=deleted,
        actor=actor,
        origin=Revision.Origin.MERGE,
        merged=merged,
    )


def _record_conflicts(done: list[_Merge], *, now: datetime) -> None:
    """Review items for every undecided field: new ones created together, open ones (a field
    that conflicts again) updated, as ``merging._record_conflict`` does one at a time."""
    from backend.review.models import ConflictItem

    wanted = [m for m in done if m.plan.outcome.undecided]
    if not wanted:
        return
    open_items: dict[tuple[str, str], ConflictItem] = {}
    for item in (
        ConflictItem.objects.select_for_update()
        .filter(document_id__in=[m.document.id for m in wanted], decided_at__isnull=True)
        .order_by("pk")
    ):
        open_items.setdefault((item.document_id, item.field), item)
    created: list[ConflictItem] = []
    updated: dict[int, ConflictItem] = {}
    for m in wanted:
        for undecided in m.plan.outcome.undecided:
            key = (m.document.id, undecided.field[:200])
            item = conflict_item(
                m.document,
                field=undecided.field,
                rule=undecided.rule,
                merged_rev=m.merged_rev,
                who=[(c.rev, c.author, c.edited_at, c.device) for c in undecided.values],
                base=undecided.base,
                values=[c.value for c in undecided.values],
                now=now,
                placeholder_revs=m.plan.merge_revs,
                open_item=open_items.get(key),
            )
            if key not in open_items:
                open_items[key] = item
                created.append(item)
            elif item.pk is not None:
                updated[item.pk] = item
    insert_rows(ConflictItem, created)
    for item in updated.values():
        item.save(update_fields=["candidates", "values_enc", "merged_rev"])
