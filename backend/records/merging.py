"""Server-side resolution of concurrent edits: one resolver for the documents a write round
left, run in the write's transaction.

After any replicated write, a document may have more than one live leaf (two devices edited
it apart) or, for a visit, a live leaf that differs from a signed-off revision (an offline edit
of a visit signed off meanwhile). ``resolve_conflicts`` takes every document the round wrote
(a single write is a list of one) and:

1. signed-off visits: the signed-off content is restored and the offline edit becomes an
   addendum (``records.addenda``) — nothing written is lost, nothing signed off changes;
2. otherwise, several live leaves are merged with the schema's rules against their common
   ancestor (``sync.merge_many``); every merged body becomes a new revision on its winning leaf
   and every other live leaf gets a tombstone child — all of them through one
   ``records.store.store_revisions`` call — so all peers converge on one document; fields the
   rules cannot decide become conflict items (``records.conflicts``) listed in the document's
   ``decisions_pending`` until a supervisor decides;
3. a merge whose result would break the schema leaves the leaves for a supervisor to choose
   (``records.conflicts.whole_document_conflict``).

A deleted leaf never beats an edit (CouchDB's winner rule already prefers live leaves); the
lost deletion is audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from django.conf import settings
from django.db import connection
from django.utils.dateparse import parse_datetime

from backend.accounts.names import moment, names_cached, person_name, users_by_ref
from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record, audit_record_many
from backend.cases.models import Case
from sync import InvalidDocument, MergeOutcome, Side, merge_many, revtree, workflow

from .addenda import protect_signed_off
from .codec import open_body, schema_for
from .conflicts import Conflict, record_conflicts, whole_document_conflict
from .models import Document, Revision
from .store import PendingRevision, close_leaves, seal_body, store_revisions
from .trees import tree_of

#: How a server merge revision is named where an author is expected.
MERGE_AUTHOR = "merge"


def _instant(text: str) -> datetime:
    parsed = parse_datetime(text)
    return parsed if parsed is not None else datetime.min.replace(tzinfo=UTC)


class MergeInput(Protocol):
    """What a merge reads of a stored revision (a ``Revision`` or a plain row)."""

    @property
    def deleted(self) -> bool: ...
    @property
    def body(self) -> Any: ...
    @property
    def origin(self) -> str: ...
    @property
    def device_id(self) -> Any: ...


def _label(user: Any, edited_at: str) -> str:
    """How merged text names a side: "Jamie Hussain, 4 December 14:29" (council time)."""
    try:
        parsed = parse_datetime(edited_at)
    except ValueError:
        parsed = None
    when = moment(parsed) if parsed is not None and parsed.tzinfo is not None else "an unknown time"
    return f"{person_name(user) if user is not None else 'A colleague'}, {when}"


def _opened(
    document: Document, rev: str, revisions: Mapping[str, MergeInput], opened: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """The content of revision ``rev``: decrypted already (``opened``, a copy) or now."""
    content = opened.get(rev)
    if content is not None:
        return dict(content)
    return open_body(
        doc_id=document.id, doc_type=document.doc_type, case_id=document.case_id, body=revisions[rev].body
    )


@dataclass(frozen=True)
class Written:
    """What the write that triggers a resolution did (lets the common case skip all work)."""

    rev: str
    deleted: bool
    outcome: str
    parent_signed_off: bool = False


def resolve_conflicts(
    *,
    written: Sequence[tuple[Document, Written]],
    actor: Actor,
    now: datetime,
    opened: Mapping[tuple[str, str], dict[str, Any]] | None = None,
) -> None:
    """Bring every document of ``written`` back to a single live leaf (see module docstring).

    Runs inside the caller's transaction, with the documents locked by the caller; each
    ``Document`` is updated in place. A write that leaves one live leaf and does not edit a
    signed-off visit costs nothing more than reading the tree it already has; the documents
    that merge cleanly take a fixed number of queries together, whatever their number. Call it
    within ``keys.services.current_keys_cached`` so each case's key is looked up once.
    ``opened`` may give revisions' content the caller decrypted already, by ``(document id,
    rev)`` (the write's own revision, its parent): those are not decrypted again. Raises
    ``DecryptionError`` for a stored body that does not open.
    """
    several: list[tuple[Document, revtree.RevTree, list[revtree.Leaf]]] = []
    later: list[tuple[Document, Written]] = []
    seen: set[str] = set()
    for document, write in written:
        if document.id in seen:  # a second mention is resolved after the first's merge
            later.append((document, write))
            continue
        seen.add(document.id)
        tree = tree_of(document)
        leaves = revtree.leaves(tree)
        live = [leaf for leaf in leaves if not leaf.deleted]
        if len(live) >= 2:
            several.append((document, tree, live))
        elif live:
            _audit_if_deletion_lost(document, actor, leaves, write)
            if document.doc_type == "visit" and write.parent_signed_off:
                protect_signed_off(document, tree, live, _all_revisions(document), actor, now)
    if several:
        with names_cached():  # the merged texts' authors named with one query per round
            _resolve_several(several, actor=actor, now=now, opened=opened or {})
    if later:
        resolve_conflicts(written=later, actor=actor, now=now, opened=opened)


def _all_revisions(document: Document) -> dict[str, Revision]:
    return {
        r.rev: r
        for r in Revision.objects.filter(document=document).only(
            "rev", "body", "deleted", "device_id", "generation", "origin"
        )
    }


def _resolve_several(
    several: list[tuple[Document, revtree.RevTree, list[revtree.Leaf]]],
    *,
    actor: Actor,
    now: datetime,
    opened: Mapping[tuple[str, str], dict[str, Any]],
) -> None:
    """Documents with several live leaves: signed-off visits protected one by one, merges that
    would break the schema sent to review one by one, every other merge stored together."""
    signed = _visits_with_signed_off_revisions([d.id for d, _, _ in several if d.doc_type == "visit"])
    bases = {
        document.id: revtree.common_ancestor(tree, [leaf.rev for leaf in live])
        for document, tree, live in several
    }
    stored = _merge_inputs(
        (document.id, rev)
        for document, _, live in several
        if document.id not in signed
        for rev in [*(leaf.rev for leaf in live), bases[document.id]]
        if rev is not None
    )
    merges: list[tuple[Document, revtree.RevTree, list[revtree.Leaf], MergePlan]] = []
    for document, tree, live in several:
        if document.id in signed:
            protect_signed_off(document, tree, live, _all_revisions(document), actor, now)
            continue
        revisions = {
            rev: stored[(document.id, rev)]
            for rev in [*(leaf.rev for leaf in live), bases[document.id]]
            if rev is not None and (document.id, rev) in stored
        }
        contents = {rev: opened[(document.id, rev)] for rev in revisions if (document.id, rev) in opened}
        plan = plan_merge(document, tree, live, revisions, contents)
        if plan.invalid is not None:
            whole_document_conflict(
                document,
                live,
                plan.sides,
                actor,
                now,
                reason=plan.invalid.field or "(document)",
                placeholder_revs=plan.merge_revs,
            )
        else:
            merges.append((document, tree, live, plan))
    if merges:
        _store_merges(merges, actor=actor, now=now)


def _audit_if_deletion_lost(
    document: Document, actor: Actor, leaves: list[revtree.Leaf], written: Written
) -> None:
    """A device's deletion and another's edit met: the edit survives (CouchDB's winner rule);
    say so in the audit trail. Tombstones the merge itself wrote are not deletions by anyone."""
    deleted = [leaf.rev for leaf in leaves if leaf.deleted]
    if not deleted:
        return
    if written.deleted:
        lost = not document.deleted
    elif written.outcome == "new_branch":
        lost = Revision.objects.filter(
            document=document, rev__in=deleted, origin__in=[Revision.Origin.SYNC, Revision.Origin.REST]
        ).exists()
    else:
        lost = False
    if lost:
        audit_record(
            actor=actor,
            action=AuditAction.MERGE,
            object_type=document.doc_type,
            object_id=document.id,
            case_id=document.case_id,
            detail={"outcome": "edit_kept_over_deletion", "deleted_leaves": deleted, "winner": document.rev},
        )


# --- merging concurrent leaves ---------------------------------------------------------------


@dataclass(frozen=True)
class MergePlan:
    """What merging a document's live leaves gives, before anything is written.

    ``invalid`` is set when the merged body breaks the schema (then nothing of it is stored).
    """

    winner: str
    base_rev: str | None
    sides: tuple[Side, ...]
    #: Leaves written by an earlier server merge (their pending values are placeholders).
    merge_revs: frozenset[str]
    outcome: MergeOutcome
    merged: dict[str, Any]
    undecided_paths: list[str]
    invalid: InvalidDocument | None


def plan_merge(
    document: Document,
    tree: revtree.RevTree,
    live: list[revtree.Leaf],
    revisions: Mapping[str, MergeInput],
    opened: Mapping[str, dict[str, Any]] | None = None,
) -> MergePlan:
    """Merge the ``live`` leaves of ``document`` with the schema's rules against their common
    ancestor. ``revisions`` must hold every live leaf and, when stored, the ancestor;
    ``opened`` may give the decrypted content of some of them (by rev), which is then not
    decrypted again. Raises ``DecryptionError`` for a body that does not open and
    ``InvalidDocument`` for a value the rules cannot handle."""
    schema = schema_for(document.doc_type)
    opened = opened or {}
    base_rev = revtree.common_ancestor(tree, [leaf.rev for leaf in live])
    base = (
        _opened(document, base_rev, revisions, opened)
        if base_rev and base_rev in revisions and not revisions[base_rev].deleted
        else None
    )
    merge_revs: set[str] = set()
    drafts = []
    for leaf in live:
        revision = revisions[leaf.rev]
        content = _opened(document, leaf.rev, revisions, opened)
        is_merge = revision.origin == Revision.Origin.MERGE
        if is_merge:
            # A server merge's values for pending fields are placeholders (the safe value), not
            # anyone's edit: never credit them to the person whose stamp the merge carries.
            merge_revs.add(leaf.rev)
        author = (
            MERGE_AUTHOR if is_merge else str(content.get("updated_by") or content.get("author") or "unknown")
        )
        drafts.append((leaf, revision, content, is_merge, author))
    names = users_by_ref(author for *_, author in drafts)
    sides = []
    for leaf, revision, content, is_merge, author in drafts:
        edited_at = str(content.get("updated_at") or "1970-01-01T00:00:00Z")
        sides.append(
            Side(
                content=content,
                rev=leaf.rev,
                author=author,
                edited_at=edited_at,
                device=None if is_merge or not revision.device_id else f"d:{revision.device_id}",
                label=_label(names.get(author), edited_at),
            )
        )
    outcome = merge_many(schema, base, sides)
    merged = dict(outcome.content)
    # The merged revision is stamped with the latest edit (by edit time), not a per-field guess.
    editors = [s for s in sides if s.rev not in merge_revs] or sides
    latest = max(editors, key=lambda s: (_instant(s.edited_at), s.rev))
    merged["updated_at"] = max(sides, key=lambda s: _instant(s.edited_at)).edited_at
    merged["updated_by"] = latest.content.get("updated_by", merged.get("updated_by"))
    undecided_paths = [u.field for u in outcome.undecided]
    if "decisions_pending" in schema.rules and undecided_paths:
        merged["decisions_pending"] = sorted(
            set(merged.get("decisions_pending") or []) | set(undecided_paths)
        )
    invalid: InvalidDocument | None = None
    try:
        schema.validate(merged)
    except InvalidDocument as exc:
        invalid = exc
    return MergePlan(
        winner=revtree.winning_rev(tree),
        base_rev=base_rev,
        sides=tuple(sides),
        merge_revs=frozenset(merge_revs),
        outcome=outcome,
        merged=merged,
        undecided_paths=undecided_paths,
        invalid=invalid,
    )


def merge_audit_detail(
    plan: MergePlan, live: list[revtree.Leaf], merged_rev: str, closed: list[str]
) -> dict[str, Any]:
    """The ``merge`` audit event's detail for a stored merge (revs and field names only)."""
    return {
        "leaves": [leaf.rev for leaf in live],
        "base": plan.base_rev,
        "merged_rev": merged_rev,
        "closed": closed,
        "undecided": plan.undecided_paths,
        "notes": [{"field": n.field, "code": n.code} for n in plan.outcome.notes][:50],
    }


# --- storing merges together ----------------------------------------------------------------


def _visits_with_signed_off_revisions(visit_ids: list[str]) -> set[str]:
    """Visits with a live signed-off revision anywhere in their history (``status`` is clear
    meta, so no body needs decrypting): the per-document path protects those."""
    if not visit_ids:
        return set()
    return set(
        Revision.objects.filter(
            document_id__in=visit_ids, deleted=False, body__meta__status=workflow.FINAL_STATUS
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


@dataclass(frozen=True)
class _Merge:
    document: Document
    live: list[revtree.Leaf]
    plan: MergePlan
    merged_rev: str
    closed: list[str]


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
        # can shorten a leaf's known ancestry), as storing them one at a time does;
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
    record_conflicts(
        [
            Conflict(
                document=m.document,
                field=undecided.field,
                rule=undecided.rule,
                merged_rev=m.merged_rev,
                who=[(c.rev, c.author, c.edited_at, c.device) for c in undecided.values],
                base=undecided.base,
                values=[c.value for c in undecided.values],
                placeholder_revs=m.plan.merge_revs,
            )
            for m in done
            for undecided in m.plan.outcome.undecided
        ],
        now=now,
    )
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


def close_other_leaves_after_decision(*, document: Document, actor: Actor, now: datetime) -> None:
    """After a supervisor chose a whole document, tombstone the leaves that lost."""
    tree = tree_of(document)
    live = [leaf for leaf in revtree.leaves(tree) if not leaf.deleted]
    winner = revtree.winning_rev(tree)
    close_leaves(document, [leaf.rev for leaf in live if leaf.rev != winner], actor=actor, now=now)
