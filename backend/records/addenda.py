"""Signed-off protection: an edit that meets a signed-off visit becomes an addendum.

A visit signed off on the server may still receive an offline edit made before the device
heard of the sign-off. The signed-off content is restored on top of the winner, every other
live leaf is closed, and whatever the edit changed becomes an ``addendum`` document linked to
the visit (the supervisor sees it in the review queue): nothing written is lost, nothing
signed off changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from backend.accounts.names import moment, person_name, users_by_ref
from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from sync import revtree
from sync import workflow as visit_workflow

from .codec import open_body
from .models import Document, Revision
from .services import document_create
from .store import close_leaves, store_child
from .trees import tree_of

#: Fields that say who/when, not what: ignored when comparing an edit with signed-off content.
STAMP_FIELDS = frozenset({"updated_at", "updated_by"})


def _content(document: Document, revision: Revision) -> dict[str, Any]:
    return open_body(
        doc_id=document.id, doc_type=document.doc_type, case_id=document.case_id, body=revision.body
    )


def _without(content: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if k not in names}


def signed_off_rev(revisions: dict[str, Revision]) -> str | None:
    """The earliest signed-off revision among ``revisions`` (status is clear meta: no decryption)."""
    signed = [
        r
        for r in revisions.values()
        if not r.deleted and (r.body or {}).get("meta", {}).get("status") == visit_workflow.FINAL_STATUS
    ]
    if not signed:
        return None
    return min(signed, key=lambda r: (r.generation, r.rev)).rev


def protect_signed_off(
    document: Document,
    tree: revtree.RevTree,
    live: list[revtree.Leaf],
    revisions: dict[str, Revision],
    actor: Actor,
    now: datetime,
) -> bool:
    """Restore the signed-off content of visit ``document`` over any divergent live leaf, each
    divergent edit becoming an addendum. False if the visit was never signed off (nothing done)."""
    signed_rev = signed_off_rev(revisions)
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
    restored = store_child(
        document, parent=winner, content=signed, actor=actor, origin=Revision.Origin.MERGE, now=now
    )
    close_leaves(document, [leaf.rev for leaf in live if leaf.rev != winner], actor=actor, now=now)
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
    not_proposed = STAMP_FIELDS | visit_workflow.server_fields("visit")
    edit = _content(document, revisions[edit_rev])
    base_rev = revtree.common_ancestor(tree, [signed_rev, edit_rev])
    base = (
        _content(document, revisions[base_rev])
        if base_rev and base_rev in revisions and not revisions[base_rev].deleted
        else {}
    )
    proposed = {k: v for k, v in edit.items() if k not in not_proposed and v != base.get(k)}
    removed = sorted(k for k in base if k not in edit and k not in not_proposed)
    if not proposed and not removed:
        return
    author_ref = edit.get("updated_by") or actor.ref
    changed = ", ".join(name.replace("_", " ").capitalize() for name in sorted([*proposed, *removed]))
    # A text people read: names and the council's local time, never raw ids, revisions or ISO
    # times (those stay in the addendum's fields and the audit trail).
    author = users_by_ref([author_ref]).get(str(author_ref))
    edited = parse_datetime(str(edit.get("updated_at") or ""))
    text = (
        f"{person_name(author) if author else 'A colleague'} edited this visit offline"
        f"{f' on {moment(edited)}' if edited is not None and edited.tzinfo is not None else ''}, "
        f"after it had been signed off. The signed-off record is unchanged; the edit proposed "
        f"changes to: {changed}."
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
        server_content={"source_rev": edit_rev, "status": visit_workflow.initial_status("addendum")},
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
