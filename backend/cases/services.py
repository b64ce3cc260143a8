"""Creating, updating and closing cases; allocating practitioners to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from backend.accounts.models import Role, Team, User
from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.common.errors import ApplicationError, ErrorCode, Forbidden, NotFound, OutOfScope, StaleRevision
from backend.common.ids import new_id
from backend.common.sequence import next_seq
from backend.keys.envelopes import withdraw_envelopes
from backend.keys.services import case_key_create, case_key_rotate
from backend.records.models import Revision
from backend.records.permissions import can_read_case
from backend.records.services import (
    DocumentView,
    document_create,
    document_write_internal,
    lock_document,
    view_of,
)

from .models import Allocation, Case, CaseType
from .selectors import case_in_scope

CASE_NUMBER_PREFIX = {
    CaseType.EARLY_HELP: "EH",
    CaseType.CHILD_IN_NEED: "CIN",
    CaseType.CHILD_PROTECTION: "CP",
    CaseType.LOOKED_AFTER: "LAC",
}


def _can_manage_team(user: User, team: Team) -> bool:
    return user.role == Role.ADMIN or (
        user.role == Role.SUPERVISOR and user.managed_teams.filter(pk=team.pk).exists()
    )


def _next_case_number(case_type: str, year: int) -> str:
    # next_seq() has already serialised writers (advisory lock / SQLite write lock).
    prefix = f"{CASE_NUMBER_PREFIX[CaseType(case_type)]}-{year}-"
    latest = Case.objects.filter(case_number__startswith=prefix).aggregate(m=Max("case_number"))["m"]
    number = int(latest.rsplit("-", 1)[1]) + 1 if latest else 1
    return f"{prefix}{number:05d}"


@transaction.atomic
def case_create(
    *,
    actor: Actor,
    team: Team,
    content: dict[str, Any],
    now: datetime | None = None,
    case_id: str | None = None,
) -> DocumentView:
    """Open a case for ``team`` (supervisor of that team or admin). The case number is issued
    here unless ``content`` brings the council's own. Raises Forbidden, InvalidDocument."""
    now = now or timezone.now()
    if not _can_manage_team(actor.user, team):
        raise Forbidden("only the team's supervisors or an admin can open a case")
    case_type = content.get("case_type")
    if case_type not in CaseType.values:
        raise ApplicationError(
            ErrorCode.INVALID_FIELD,
            f"case_type must be one of {CaseType.values}",
            field="content.case_type",
        )
    frequency = content.get("visit_frequency_days")
    if not isinstance(frequency, int) or isinstance(frequency, bool):
        raise ApplicationError(
            ErrorCode.INVALID_FIELD,
            "visit_frequency_days must be an integer",
            field="content.visit_frequency_days",
        )
    next_seq()  # serialise case-number issue with every other writer
    content = dict(content)
    content.setdefault("case_number", _next_case_number(case_type, now.year))
    content.setdefault("opened_on", now.date().isoformat())
    if Case.objects.filter(case_number=content["case_number"]).exists():
        raise ApplicationError(
            ErrorCode.CONFLICT,
            "a case with this case number already exists",
            field="content.case_number",
        )
    case_id = case_id or new_id("case")
    Case.objects.create(
        id=case_id,
        team=team,
        case_number=str(content["case_number"])[:20],
        case_type=case_type,
        status="open",
        visit_frequency_days=max(1, min(frequency, 365)),
        opened_on=now.date(),
        created_at=now,
        updated_at=now,
    )
    case_key_create(case_id=case_id, now=now)
    return document_create(
        actor=actor, case_id=case_id, doc_type="case", content=content, doc_id=case_id, now=now
    )


@transaction.atomic
def case_close(*, actor: Actor, case_id: str, rev: str, now: datetime | None = None) -> DocumentView:
    """Close an open case (supervisor of its team or admin); StaleRevision on a stale rev."""
    now = now or timezone.now()
    case = case_in_scope(actor.user, case_id)  # outside scope answers like a missing case
    if not _can_manage_team(actor.user, case.team):
        raise Forbidden("only the team's supervisors or an admin can close a case")
    document = lock_document(case_id)
    if rev != document.rev:
        raise StaleRevision(document.rev)
    content = view_of(document).content
    if content.get("status") == "closed":
        raise ApplicationError(ErrorCode.CONFLICT, "the case is already closed", field="status")
    content.update(status="closed", closed_on=now.date().isoformat())
    view = document_write_internal(
        actor=actor,
        document=document,
        content=content,
        origin=Revision.Origin.WORKFLOW,
        action=AuditAction.CASE_CLOSE,
        now=now,
    )
    return view


@transaction.atomic
def allocation_add(
    *, actor: Actor, case_id: str, user: User, role: str, now: datetime | None = None
) -> Allocation:
    """Allocate ``user`` (a practitioner) to a case; takes a global sequence number so devices
    pick the case's documents up on their next sync. Raises Forbidden, ApplicationError."""
    now = now or timezone.now()
    case = case_in_scope(actor.user, case_id)
    if not _can_manage_team(actor.user, case.team):
        raise Forbidden("only the team's supervisors or an admin can allocate this case")
    if user.role != Role.PRACTITIONER:
        raise ApplicationError(
            ErrorCode.INVALID_FIELD, "only practitioners can be allocated to a case", field="user"
        )
    if role not in Allocation.Role.values:
        raise ApplicationError(
            ErrorCode.INVALID_FIELD, f"role must be one of {Allocation.Role.values}", field="role"
        )
    seq = next_seq()
    live = Allocation.objects.select_for_update().filter(case=case, ended_seq__isnull=True)
    if live.filter(user=user).exists():
        raise ApplicationError(
            ErrorCode.CONFLICT, "this practitioner is already allocated to the case", field="user"
        )
    if role == Allocation.Role.LEAD and live.filter(role=Allocation.Role.LEAD).exists():
        raise ApplicationError(
            ErrorCode.CONFLICT,
            "the case already has a lead practitioner; end that allocation first",
            field="role",
        )
    allocation = Allocation.objects.create(
        case=case, user=user, role=role, started_seq=seq, started_at=now, started_by=actor.user
    )
    audit_record(
        actor=actor,
        action=AuditAction.ALLOCATE,
        object_type="allocation",
        object_id=str(allocation.pk),
        case_id=case.id,
        detail={"user": user.username, "role": role, "seq": seq},
    )
    return allocation


@transaction.atomic
def allocation_end(*, actor: Actor, allocation_id: int, now: datetime | None = None) -> Allocation:
    """End an allocation: the case leaves the practitioner's devices on their next sync, their
    key envelopes are withdrawn and the case key is rotated for future writes."""
    now = now or timezone.now()
    # The sequence lock first, as allocation_add takes it, then only the allocation's own row:
    # the other order (or a FOR UPDATE over the joined case, team and user rows) deadlocks with
    # writers that hold the sequence lock and insert rows referring to them.
    seq = next_seq()
    allocation = (
        Allocation.objects.select_for_update(of=("self",))
        .select_related("case__team", "user")
        .filter(pk=allocation_id)
        .first()
    )
    if allocation is None:
        raise NotFound("allocation")
    if not can_read_case(actor.user, allocation.case):  # answered like a missing allocation
        raise OutOfScope(
            "allocation", object_type="allocation", object_id=str(allocation_id), case_id=allocation.case_id
        )
    if not _can_manage_team(actor.user, allocation.case.team):
        raise Forbidden("only the team's supervisors or an admin can change this allocation")
    if allocation.ended_seq is not None:
        raise ApplicationError(ErrorCode.CONFLICT, "this allocation has already ended")
    allocation.ended_seq = seq
    allocation.ended_at = now
    allocation.ended_by = actor.user
    allocation.save(update_fields=["ended_seq", "ended_at", "ended_by"])
    audit_record(
        actor=actor,
        action=AuditAction.DEALLOCATE,
        object_type="allocation",
        object_id=str(allocation.pk),
        case_id=allocation.case_id,
        detail={"user": allocation.user.username, "seq": seq},
    )
    withdraw_envelopes(user=allocation.user, case_id=allocation.case_id, actor=actor, now=now)
    case_key_rotate(case_id=allocation.case_id, actor=actor, reason="allocation ended")
    return allocation
