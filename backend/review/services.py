"""Visit workflow (submit, sign off, return), conflict decisions and addendum acknowledgement.

Every transition is attributed (who, when, comment) inside the visit's own ``transitions``
list, written as a new revision through the document store, and audited in the same
transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from ulid import ULID

from backend.accounts.models import Role
from backend.audit.models import AuditAction
from backend.audit.services import Actor
from backend.common.errors import ApplicationError, ErrorCode, Forbidden, NotFound, OutOfScope, StaleRevision
from backend.keys.services import case_key_by_kid, case_key_current
from backend.records.codec import schema_for
from backend.records.conflicts import conflict_values
from backend.records.merging import close_other_leaves_after_decision
from backend.records.models import ConflictItem, Document, Revision
from backend.records.permissions import can_read_case, is_allocated, manages_team
from backend.records.services import DocumentView, document_write_internal, lock_document, view_of
from sync import InvalidDocument, apply_decision, combine_versions, decrypt_body, encrypt_body, workflow


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _visit_for(actor: Actor, visit_id: str, rev: str) -> tuple[Document, dict[str, Any]]:
    # Every refusal here says "document not found", as lock_document does for a missing id:
    # a visit outside the caller's scope, or another type's id, must answer like an absent one.
    document = lock_document(visit_id)
    if document.doc_type != "visit" or document.deleted:
        raise NotFound("document")
    if not can_read_case(actor.user, document.case):
        raise OutOfScope("document", object_type="visit", object_id=visit_id, case_id=document.case_id)
    if rev != document.rev:
        raise StaleRevision(document.rev)
    return document, view_of(document).content


def _transition(
    content: dict[str, Any], action: str, actor: Actor, now: datetime, comment: str = ""
) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": f"t{ULID()}", "action": action, "by": actor.ref, "at": _iso(now)}
    if comment:
        entry["comment"] = comment
    return {**content, "transitions": [*content.get("transitions", []), entry]}


#: The audit action of each workflow move (the moves themselves: ``sync.workflow.MOVES``).
MOVE_AUDIT = {"submit": AuditAction.SUBMIT, "sign_off": AuditAction.SIGN_OFF, "return": AuditAction.RETURN}


def _require_supervisor(actor: Actor, document: Document) -> None:
    if actor.user.role != Role.SUPERVISOR or not manages_team(actor.user, document.case.team_id):
        raise Forbidden("only a supervisor of the case's team can do that")


def _move_visit(
    *, actor: Actor, visit_id: str, rev: str, move: workflow.Move, comment: str, now: datetime
) -> DocumentView:
    document, content = _visit_for(actor, visit_id, rev)
    if move.by == "supervisor":
        _require_supervisor(actor, document)
    elif not (is_allocated(actor.user, document.case_id) or manages_team(actor.user, document.case.team_id)):
        raise Forbidden("only workers allocated to the case can submit its visits")
    status = content.get("status")
    if status not in move.from_statuses:
        raise ApplicationError(ErrorCode.CONFLICT, f"a {status} visit cannot be {move.verb}", field="status")
    if move.to_status == workflow.FINAL_STATUS and (
        content.get("decisions_pending")
        or ConflictItem.objects.filter(document=document, decided_at__isnull=True).exists()
    ):
        raise ApplicationError(
            ErrorCode.CONFLICT,
            "decide the pending conflicts on this visit before signing it off",
            field="decisions_pending",
        )
    content = _transition(content, move.action, actor, now, comment)
    content["status"] = move.to_status
    if move.stamps is not None:
        content[move.stamps] = _iso(now)
    if move.to_status == workflow.FINAL_STATUS:
        content["signed_off_by"] = actor.ref
    return document_write_internal(
        actor=actor,
        document=document,
        content=content,
        origin=Revision.Origin.WORKFLOW,
        action=MOVE_AUDIT[move.action],
        now=now,
        detail={"comment_given": bool(comment)},
    )


@transaction.atomic
def visit_submit(*, actor: Actor, visit_id: str, rev: str, now: datetime | None = None) -> DocumentView:
    """A practitioner allocated to the case (or its supervisor) submits a draft or returned
    visit for sign-off."""
    return _move_visit(
        actor=actor,
        visit_id=visit_id,
        rev=rev,
        move=workflow.MOVES["submit"],
        comment="",
        now=now or timezone.now(),
    )


@transaction.atomic
def visit_sign_off(
    *, actor: Actor, visit_id: str, rev: str, comment: str = "", now: datetime | None = None
) -> DocumentView:
    """Sign off a submitted visit; it is immutable afterwards. Refused while conflicts wait."""
    return _move_visit(
        actor=actor,
        visit_id=visit_id,
        rev=rev,
        move=workflow.MOVES["sign_off"],
        comment=comment,
        now=now or timezone.now(),
    )


@transaction.atomic
def visit_return(
    *, actor: Actor, visit_id: str, rev: str, comment: str, now: datetime | None = None
) -> DocumentView:
    """Return a submitted visit to its author with a comment saying what to change."""
    if not comment.strip():
        raise ApplicationError(
            ErrorCode.MISSING_FIELD, "say what needs changing when returning a visit", field="comment"
        )
    return _move_visit(
        actor=actor,
        visit_id=visit_id,
        rev=rev,
        move=workflow.MOVES["return"],
        comment=comment,
        now=now or timezone.now(),
    )


@transaction.atomic
def conflict_decide(
    *,
    actor: Actor,
    conflict_id: int,
    choice: int | None = None,
    value: Any = None,
    has_value: bool = False,
    both: bool = False,
    reason: str = "",
    now: datetime | None = None,
) -> DocumentView:
    """A supervisor decides an undecided field: one of the candidates (``choice``), every
    version (``both``: text fields, combined without markers) or a value of their own, with a
    ``reason`` kept (encrypted) with the decision; required unless a candidate is kept. Writes
    a new revision with the supervisor as author and clears the flag."""
    now = now or timezone.now()
    # The document's row first, then the item's (only its own row): the order a replicated
    # write that merges takes them, so a decision and a sync of the same document queue
    # instead of deadlocking.
    doc_id = ConflictItem.objects.filter(pk=conflict_id).values_list("document_id", flat=True).first()
    if doc_id is None:
        raise NotFound("conflict")
    document = lock_document(doc_id)
    item = ConflictItem.objects.select_for_update(of=("self",)).filter(pk=conflict_id).first()
    if item is None:
        raise NotFound("conflict")
    if not can_read_case(actor.user, document.case):
        raise OutOfScope(
            "conflict", object_type="conflict", object_id=str(conflict_id), case_id=document.case_id
        )
    _require_supervisor(actor, document)
    if item.decided_at is not None:
        raise ApplicationError(ErrorCode.CONFLICT, "this conflict has already been decided")
    if document.doc_type == "visit" and view_of(document).content.get("status") == workflow.FINAL_STATUS:
        raise ApplicationError(
            ErrorCode.CONFLICT,
            "this visit is signed off and cannot change; record the decision as an addendum",
            field="status",
        )
    opened = conflict_values(item)
    values = opened["values"]
    if (both or has_value) and not reason.strip():
        raise ApplicationError(
            ErrorCode.MISSING_FIELD, "say why, when keeping both versions or writing your own", field="reason"
        )
    if both:
        if item.rule != "text" or not all(isinstance(v, str) for v in values):
            raise ApplicationError(
                ErrorCode.INVALID_FIELD, "both versions can be kept for text only", field="both"
            )
        base = opened.get("base")
        choice, has_value, value = None, True, combine_versions(base if isinstance(base, str) else "", values)
    if choice is not None:
        if not 0 <= choice < len(values):
            raise ApplicationError(
                ErrorCode.INVALID_FIELD, f"choice must be between 0 and {len(values) - 1}", field="choice"
            )
        decided = values[choice]
    elif has_value:
        decided = value
    else:
        raise ApplicationError(ErrorCode.MISSING_FIELD, "give a choice or a value", field="choice")
    content = view_of(document).content
    schema = schema_for(document.doc_type)
    if item.field == "(document)":
        if not isinstance(decided, dict):
            raise ApplicationError(
                ErrorCode.INVALID_FIELD, "a whole-document decision must be a document", field="value"
            )
        new_content = {**decided}
    else:
        try:
            new_content = apply_decision(schema, content, item.field, decided)
        except InvalidDocument as exc:
            raise ApplicationError(ErrorCode.INVALID_FIELD, exc.reason, field="value") from None
    still_open = set(
        ConflictItem.objects.filter(document=document, decided_at__isnull=True)
        .exclude(pk=item.pk)
        .values_list("field", flat=True)
    )
    pending = [f for f in new_content.get("decisions_pending", []) if f != item.field or f in still_open]
    if "decisions_pending" in schema.rules:
        new_content["decisions_pending"] = pending
    if document.doc_type == "visit":
        new_content = _transition(
            new_content, "decide", actor, now, reason.strip() or f"decided {item.field}"
        )
    view = document_write_internal(
        actor=actor,
        document=document,
        content=new_content,
        origin=Revision.Origin.DECISION,
        action=AuditAction.CONFLICT_DECIDED,
        now=now,
        detail={"conflict": item.pk, "field": item.field, "decision": _how(choice, both)},
    )
    if item.field == "(document)":
        close_other_leaves_after_decision(document=Document.objects.get(pk=document.pk), actor=actor, now=now)
        view = view_of(Document.objects.get(pk=document.pk))
    item.decided_at = now
    item.decided_by = actor.user
    item.decision_rev = view.rev
    item.decision, item.decision_choice = _how(choice, both), choice
    item.reason_enc = _seal_reason(item, reason.strip()) if reason.strip() else None
    item.save(
        update_fields=[
            "decided_at",
            "decided_by",
            "decision_rev",
            "decision",
            "decision_choice",
            "reason_enc",
        ]
    )
    return view


def _how(choice: int | None, both: bool) -> str:
    return "version" if choice is not None else "both" if both else "own"


def _seal_reason(item: ConflictItem, reason: str) -> dict[str, Any]:
    kid, key = case_key_current(case_id=item.case_id)
    return encrypt_body(
        {"reason": reason},
        key=key,
        kid=kid,
        doc_id=item.document_id,
        doc_type="decision",
        case_id=item.case_id,
    )


def conflict_reason(item: ConflictItem) -> str | None:
    """The supervisor's reason for a decision, decrypted (None if none was given)."""
    enc = item.reason_enc
    if not enc:
        return None
    key = case_key_by_kid(kid=enc["kid"])
    opened = decrypt_body(enc, key=key, doc_id=item.document_id, doc_type="decision", case_id=item.case_id)
    reason = opened.get("reason")
    return reason if isinstance(reason, str) else None


@transaction.atomic
def addendum_acknowledge(
    *, actor: Actor, addendum_id: str, rev: str, now: datetime | None = None
) -> DocumentView:
    """A supervisor acknowledges an addendum (it leaves the review queue)."""
    now = now or timezone.now()
    document = lock_document(addendum_id)
    if document.doc_type != "addendum":  # answered as lock_document answers a missing id
        raise NotFound("document")
    if not can_read_case(actor.user, document.case):
        raise OutOfScope("document", object_type="addendum", object_id=addendum_id, case_id=document.case_id)
    _require_supervisor(actor, document)
    if rev != document.rev:
        raise StaleRevision(document.rev)
    content = view_of(document).content
    if content.get("status") == "acknowledged":
        raise ApplicationError(ErrorCode.CONFLICT, "already acknowledged", field="status")
    content["status"] = "acknowledged"
    return document_write_internal(
        actor=actor,
        document=document,
        content=content,
        origin=Revision.Origin.WORKFLOW,
        action=AuditAction.UPDATE,
        now=now,
        detail={"acknowledged": True},
    )
