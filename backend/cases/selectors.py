"""Reads of cases and allocations, always scoped to the caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from backend.accounts.models import Role

from .models import Allocation, Case
from .workdays import add_working_days, working_days_between


def cases_visible_to(user: Any) -> QuerySet[Case]:
    """Practitioner: live allocations; supervisor: the teams they manage; admin: all."""
    qs = Case.objects.all()
    if user.role == Role.ADMIN:
        return qs
    if user.role == Role.SUPERVISOR:
        return qs.filter(team__in=user.managed_teams.all())
    return qs.filter(allocations__user=user, allocations__ended_seq__isnull=True).distinct()


#: What the case list shows of each live allocation (fewer columns: less to fetch and parse).
LIST_ALLOCATION_FIELDS = (
    "id",
    "case_id",
    "user_id",
    "role",
    "started_at",
    "started_seq",
    "ended_at",
    "ended_seq",
    "user__username",
    "user__first_name",
    "user__last_name",
)


def case_list(*, user: Any, filters: dict[str, Any]) -> QuerySet[Case]:
    qs = (
        cases_visible_to(user)
        .select_related("team")
        .prefetch_related(
            Prefetch(
                "allocations",
                queryset=Allocation.objects.filter(ended_seq__isnull=True)
                .select_related("user")
                .only(*LIST_ALLOCATION_FIELDS),
                to_attr="live_allocations",
            )
        )
    )
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("case_type"):
        qs = qs.filter(case_type=filters["case_type"])
    if filters.get("team"):
        qs = qs.filter(team_id=filters["team"])
    if filters.get("case_number"):
        qs = qs.filter(case_number__icontains=filters["case_number"])
    if filters.get("allocated_to"):
        qs = qs.filter(
            Q(allocations__user_id=filters["allocated_to"]) & Q(allocations__ended_seq__isnull=True)
        )
    return qs.order_by("case_number")


@dataclass(frozen=True)
class VisitTimescale:
    last_visit_on: date | None
    next_visit_due: date
    overdue: bool
    working_days_overdue: int


def visit_timescale(case: Case, *, today: date) -> VisitTimescale:
    """When the next statutory visit is due: ``visit_frequency_days`` working days after the
    last submitted visit (or after the case opened, if none)."""
    since = case.last_visit_on or case.opened_on
    due = add_working_days(since, case.visit_frequency_days)
    overdue = case.status == "open" and due < today
    return VisitTimescale(
        last_visit_on=case.last_visit_on,
        next_visit_due=due,
        overdue=overdue,
        working_days_overdue=working_days_between(due, today) if overdue else 0,
    )


def allocation_history(*, case: Case) -> QuerySet[Allocation]:
    return (
        Allocation.objects.filter(case=case)
        .select_related("user", "started_by", "ended_by")
        .order_by("started_seq")
    )
