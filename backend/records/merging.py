"""Server-side resolution of concurrent edits, run in the write's transaction.

After any write, a document may have more than one live leaf (two devices edited it apart)
or, for a visit, a live leaf that differs from a signed-off revision (an offline edit of a
visit signed off meanwhile). ``resolve_conflicts``:

1. signed-off visits: the signed-off content is restored on top of the winner; whatever the
   offline edit changed becomes an ``addendum`` linked to the visit (the supervisor is told
   through the review queue) — nothing written is lost, nothing signed off changes;
2. otherwise, several live leaves are merged with the schema's rules against their common
   ancestor (``sync.merge_many``); the merged body becomes a new revision on the winning leaf
   and every other live leaf gets a tombstone child, so all peers converge on one document;
   fields the rules cannot decide become ``ConflictItem``s and are listed in the document's
   ``decisions_pending`` until a supervisor decides.

A deleted leaf never beats an edit (CouchDB's winner rule already prefers live leaves); the
lost deletion is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from django.utils.dateparse import parse_datetime

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.keys.services import case_key_current
from sync import InvalidDocument, MergeOutcome, Side, encrypt_body, merge_many, revtree

from .codec import open_body, schema_for
from .models import Document, Revision
from .store import edit_of, store_edit
from .trees import tree_of

if TYPE_CHECKING:
    from backend.review.models import ConflictItem

#: How a server merge revision is named where an author is expected.
MERGE_AUTHOR = "merge"
#: Fields that say who/when, not what: ignored when comparing an edit with signed-off content.
STAMP_FIELDS = frozenset({"updated_at", "updated_by"})
#: Fields an addendum does not propose (workflow state, stamps).
NOT_PROPOSED = STAMP_FIELDS | {
    "status",
    "submitted_at",
    "signed_off_at",
    "signed_off_by",
    "decisions_pending",
    "transitions",
    "author",
    "created_at",
}


def _instant(text: str) -> datetime:
    parsed = parse_datetime(text)
    return parsed if parsed is not None else datetime.min.replace(tzinfo=UTC)


def _content(document: Document, revision: Revision) -> dict[str, Any]:
    return open_body(
        doc_id=document.id, doc_type=document.doc_type, case_id=document.case_id, body=revision.body
    )


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


def _without(content: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if k not in names}


@dataclass(frozen=True)
class Written:
    """What the write that triggers a resolution did (lets the common case skip all work)."""

    rev: str
    deleted: bool
    outcome: str
    parent_signed_off: bool = False


def resolve_conflicts(
    *, document: Document, actor: Actor, now: datetime, written: Written | None = None
) -> None:
    """Bring ``document`` back to a single live leaf (see module docstring).

    With ``written`` given, a write that leaves one live leaf and does not edit a signed-off
    visit costs nothing more than reading the tree it already has.
    """
    tree = tree_of(document)
    leaves = revtree.leaves(tree)
    live = [leaf for leaf in leaves if not leaf.deleted]
    if not live:
        return
    if len(live) == 1 and written is not None:
        _audit_if_deletion_lost(document, actor, leaves, written)
        if document.doc_type != "visit" or not written.parent_signed_off:
            return
    revisions = {
        r.rev: r
        for r in Revision.objects.filter(document=document).only(
            "rev", "body", "deleted", "device_id", "generation", "origin"
        )
    }
    if document.doc_type == "visit" and _protect_signed_off(document, tree, live, revisions, actor, now):
        return
    if len(live) < 2:
        return
    _merge_leaves(document, tree, live, revisions, actor, now)


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


def _write_child(
    document: Document,
    *,
    parent: str,
    content: dict[str, Any] | None,
    actor: Actor,
    origin: str,
    now: datetime,
) -> str:
    pending = edit_of(document, parent=parent, content=content, actor=actor, origin=origin)
    return store_edit(pending, document=document, now=now).rev


def _close_other_leaves(
    document: Document, keep: str, live: list[revtree.Leaf], actor: Actor, now: datetime
) -> list[str]:
    closed = []
    for leaf in live:
        if leaf.rev != keep:
            closed.append(
                _write_child(
                    document,
                    parent=leaf.rev,
                    content=None,
                    actor=actor,
                    origin=Revision.Origin.MERGE,
                    now=now,
                )
            )
    return closed


# --- signed-off visits -----------------------------------------------------------------------


def _signed_off_rev(tree: revtree.RevTree, revisions: dict[str, Revision]) -> str | None:
    """The earliest signed-off revision in the tree (status is clear meta: no decryption)."""
    signed = [
        r
        for r in revisions.values()
        if not r.deleted and (r.body or {}).get("meta", {}).get("status") == "signed_off"
    ]
    if not signed:
        return None
    return min(signed, key=lambda r: (r.generation, r.rev)).rev


def _protect_signed_off(
    document: Document,
    tree: revtree.RevTree,
    live: list[revtree.Leaf],
    revisions: dict[str, Revision],
    actor: Actor,
    now: datetime,
) -> bool:
    signed_rev = _signed_off_rev(tree, revisions)
    if signed_rev is None:
        return False
    signed = _content(document, revisions[signed_rev])
    signed_core = _without(signed, STAMP_FIELDS)
    divergent = [
        leaf
        for leaf in live
        if _without(_content(document, revisions[leaf.rev]), STAMP_FIELDS) != signed_core
    ]
    if not divergent and len(live) == 1:
        return True
    for leaf in divergent:
        _addendum_from_edit(document, tree, signed_rev, leaf.rev, revisions, actor, now)
    winner = revtree.winning_rev(tree_of(document))
    restored = _write_child(
        document, parent=winner, content=signed, actor=actor, origin=Revision.Origin.MERGE, now=now
    )
    _close_other_leaves(document, restored, [leaf for leaf in live if leaf.rev != winner], actor, now)
    audit_record(
        actor=actor,
        action=AuditAction.MERGE,
        object_type="visit",
        object_id=document.id,
        case_id=document.case_id,
        detail={
            "outcome": "signed_off_restored",
            "signed_off_rev": signed_rev,
            "restored_rev": restored,
            "edits": [leaf.rev for leaf in divergent],
        },
    )
    return True


def _addendum_from_edit(
    document: Document,
    tree: revtree.RevTree,
    signed_rev: str,
    edit_rev: str,
    revisions: dict[str, Revision],
    actor: Actor,
    now: datetime,
) -> None:
    from .services import document_create

    edit = _content(document, revisions[edit_rev])
    base_rev = revtree.common_ancestor(tree, [signed_rev, edit_rev])
    base = (
        _content(document, revisions[base_rev])
        if base_rev and base_rev in revisions and not revisions[base_rev].deleted
        else {}
    )
    proposed = {k: v for k, v in edit.items() if k not in NOT_PROPOSED and v != base.get(k)}
    removed = sorted(k for k in base if k not in edit and k not in NOT_PROPOSED)
    if not proposed and not removed:
        return
    author_ref = edit.get("updated_by") or actor.ref
    changed = ", ".join(sorted([*proposed, *removed]))
    text = (
        f"Edit made offline on revision {base_rev or 'unknown'} after this visit was signed off "
        f"(edited {edit.get('updated_at', 'at an unknown time')} by {author_ref}). "
        f"The signed-off record is unchanged; the edit proposed changes to: {changed}."
    )
    document_create(
        actor=actor,
        case_id=document.case_id,
        doc_type="addendum",
        content={
            "visit_id": document.id,
            "reason": "Offline edit to a visit that was signed off meanwhile.",
            "text": text,
            "proposed_changes": {**proposed, **{k: None for k in removed}},
        },
        origin=Revision.Origin.MERGE,
        now=now,
        server_content={"source_rev": edit_rev, "status": "open"},
        check_permission=False,
    )
    audit_record(
        actor=actor,
        action=AuditAction.ADDENDUM,
        object_type="visit",
        object_id=document.id,
        case_id=document.case_id,
        detail={"from_rev": edit_rev, "fields": sorted([*proposed, *removed])},
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
    sides = []
    merge_revs: set[str] = set()
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
        sides.append(
            Side(
                content=content,
                rev=leaf.rev,
                author=author,
                edited_at=str(content.get("updated_at") or "1970-01-01T00:00:00Z"),
                device=None if is_merge or not revision.device_id else f"d:{revision.device_id}",
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


def _merge_leaves(
    document: Document,
    tree: revtree.RevTree,
    live: list[revtree.Leaf],
    revisions: dict[str, Revision],
    actor: Actor,
    now: datetime,
) -> None:
    plan = plan_merge(document, tree, live, revisions)
    if plan.invalid is not None:
        _whole_document_conflict(
            document,
            live,
            list(plan.sides),
            actor,
            now,
            reason=plan.invalid.field or "(document)",
            placeholder_revs=set(plan.merge_revs),
        )
        return
    merged_rev = _write_child(
        document, parent=plan.winner, content=plan.merged, actor=actor, origin=Revision.Origin.MERGE, now=now
    )
    closed = _close_other_leaves(
        document, merged_rev, [leaf for leaf in live if leaf.rev != plan.winner], actor, now
    )
    for item in plan.outcome.undecided:
        _record_conflict(
            document,
            field=item.field,
            rule=item.rule,
            merged_rev=merged_rev,
            who=[(c.rev, c.author, c.edited_at, c.device) for c in item.values],
            base=item.base,
            values=[c.value for c in item.values],
            now=now,
            placeholder_revs=plan.merge_revs,
        )
    audit_record(
        actor=actor,
        action=AuditAction.MERGE,
        object_type=document.doc_type,
        object_id=document.id,
        case_id=document.case_id,
        detail=merge_audit_detail(plan, live, merged_rev, closed),
    )


def _record_conflict(
    document: Document,
    *,
    field: str,
    rule: str,
    merged_rev: str,
    who: list[tuple[str, str, str, str | None]],
    base: Any,
    values: list[Any],
    now: datetime,
    placeholder_revs: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Store the review item for one undecided field (see ``conflict_item``)."""
    from backend.review.models import ConflictItem

    open_item = (
        ConflictItem.objects.select_for_update()
        .filter(document=document, field=field[:200], decided_at__isnull=True)
        .first()
    )
    item = conflict_item(
        document,
        field=field,
        rule=rule,
        merged_rev=merged_rev,
        who=who,
        base=base,
        values=values,
        now=now,
        placeholder_revs=placeholder_revs,
        open_item=open_item,
    )
    if open_item is not None:
        item.save(update_fields=["candidates", "values_enc", "merged_rev"])
    else:
        item.save(force_insert=True)


def conflict_item(
    document: Document,
    *,
    field: str,
    rule: str,
    merged_rev: str,
    who: list[tuple[str, str, str, str | None]],
    base: Any,
    values: list[Any],
    now: datetime,
    placeholder_revs: set[str] | frozenset[str],
    open_item: ConflictItem | None,
) -> ConflictItem:
    """A review item: who wrote each candidate in clear, the values encrypted under the case key.
    Returns ``open_item`` updated, or a new unsaved item when there is none.

    One open item per field: when a field that already waits for a decision conflicts again
    (a third device's edit meets the merged document), the new candidates join the open item,
    and a merge revision's placeholder (the safe value it showed) is not offered as anyone's edit.
    """
    from backend.review.models import ConflictItem
    from backend.review.services import conflict_values

    candidates = [
        {"rev": rev, "author": author, "edited_at": at, "device": device} for rev, author, at, device in who
    ]
    pairs = [(c, v) for c, v in zip(candidates, values, strict=True) if c["rev"] not in placeholder_revs]
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
        open_item.merged_rev = merged_rev
        return open_item
    return ConflictItem(
        document=document,
        case_id=document.case_id,
        field=field[:200],
        rule=rule,
        merged_rev=merged_rev,
        candidates=[c for c, _ in pairs],
        values_enc=values_enc,
        created_at=now,
    )


def _whole_document_conflict(
    document: Document,
    live: list[revtree.Leaf],
    sides: list[Side],
    actor: Actor,
    now: datetime,
    *,
    reason: str,
    placeholder_revs: set[str],
) -> None:
    """The merged body would break the schema: leave the leaves as CouchDB conflicts and ask a
    supervisor to choose, rather than store something invalid or drop anyone's edit. The
    winner gets a revision carrying ``decisions_pending: ["(document)"]`` so every device shows
    that the record needs a decision."""
    from backend.review.models import ConflictItem

    flagged_already = ConflictItem.objects.filter(
        document=document, field="(document)", decided_at__isnull=True
    ).exists()
    _record_conflict(
        document,
        field="(document)",
        rule="review",
        merged_rev=document.rev,
        who=[(side.rev, side.author, side.edited_at, side.device) for side in sides],
        base=None,
        values=[dict(side.content) for side in sides],
        now=now,
        placeholder_revs=placeholder_revs,
    )
    if not flagged_already and "decisions_pending" in schema_for(document.doc_type).rules:
        winner = revtree.winning_rev(tree_of(document))
        content = _content(document, Revision.objects.get(document=document, rev=winner))
        content["decisions_pending"] = sorted({*(content.get("decisions_pending") or []), "(document)"})
        _write_child(
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


def close_other_leaves_after_decision(*, document: Document, actor: Actor, now: datetime) -> None:
    """After a supervisor chose a whole document, tombstone the leaves that lost."""
    tree = tree_of(document)
    live = [leaf for leaf in revtree.leaves(tree) if not leaf.deleted]
    winner = revtree.winning_rev(tree)
    _close_other_leaves(document, winner, live, actor, now)
