"""What a supervisor's review queue shows: visits awaiting sign-off, conflicts to decide,
open addenda, overdue statutory visits and late edits, for the teams they manage."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from backend.accounts.models import Role
from backend.audit.models import AuditAction, AuditEvent
from backend.cases.models import Case
from backend.cases.selectors import visit_timescale
from backend.records.models import ConflictItem, Document, VisitRecord


def review_cases(user: Any) -> QuerySet[Case]:
    if user.role == Role.ADMIN:
        return Case.objects.all()
    if user.role == Role.SUPERVISOR:
        return Case.objects.filter(team__in=user.managed_teams.all())
    return Case.objects.none()


def awaiting_sign_off(user: Any) -> QuerySet[VisitRecord]:
    """Submitted visits, each annotated ``open_conflicts`` (a merge may leave a decision pending
    without a new revision, so the projection's flag alone is not enough)."""
    open_items = ConflictItem.objects.filter(document_id=OuterRef("document_id"), decided_at__isnull=True)
    return (
        VisitRecord.objects.filter(case__in=review_cases(user), status="submitted", deleted=False)
        .annotate(open_conflicts=Exists(open_items))
        .select_related("case", "author", "document")
        .order_by("submitted_at")
    )


def open_conflicts(user: Any) -> QuerySet[ConflictItem]:
    return (
        ConflictItem.objects.filter(case__in=review_cases(user), decided_at__isnull=True)
        .select_related("case", "document")
        .order_by("created_at")
    )


def open_addenda(user: Any) -> QuerySet[Document]:
    return (
        Document.objects.filter(
            case__in=review_cases(user), doc_type="addendum", deleted=False, meta__status="open"
        )
        .select_related("case")
        .order_by("created_at")
    )


def overdue_cases(user: Any, *, today: date) -> list[tuple[Case, Any]]:
    result = []
    for case in review_cases(user).filter(status="open").select_related("team").order_by("case_number"):
        timescale = visit_timescale(case, today=today)
        if timescale.overdue:
            result.append((case, timescale))
    result.sort(key=lambda pair: (-pair[1].working_days_overdue, pair[0].case_number))
    return result


#: How long a late edit stays listed in the review queue.
LATE_EDITS_LISTED_DAYS = 30


def late_edits(user: Any, *, now: datetime) -> list[tuple[AuditEvent, Case]]:
    """Offline edits accepted after the writer's allocation ended (``late_edit`` audit events)
    on the supervisor's teams' cases in the last ``LATE_EDITS_LISTED_DAYS`` days, newest first."""
    events = list(
        AuditEvent.objects.filter(
            action=AuditAction.LATE_EDIT,
            at__gte=now - timedelta(days=LATE_EDITS_LISTED_DAYS),
            case_id__in=review_cases(user).values("id"),
        )
        .select_related("actor")
        .order_by("-at", "-id")[:500]
    )
    cases = {c.id: c for c in Case.objects.filter(pk__in={e.case_id for e in events})}
    return [(event, cases[event.case_id]) for event in events if event.case_id in cases]
