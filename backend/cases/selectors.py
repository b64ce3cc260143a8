"""Reads of cases and allocations, always scoped to the caller."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, Protocol

from django.db.models import QuerySet

from backend.accounts.models import Role, User
from backend.common import rows
from backend.common.errors import NotFound, OutOfScope
from backend.records.permissions import can_read_case

from .models import Allocation, Case
from .workdays import add_working_days, working_days_between


def cases_visible_to(user: Any) -> QuerySet[Case]:
    """Practitioner: live allocations; supervisor: the teams they manage; admin: all."""
    qs = Case.objects.all()
    if user.role == Role.ADMIN:
        return qs
    if user.role == Role.SUPERVISOR:
        return qs.filter(team__in=user.managed_teams.all())
    # A subquery rather than a join: no DISTINCT over every column, for the page and its count.
    return qs.filter(pk__in=Allocation.objects.filter(user=user, ended_seq__isnull=True).values("case_id"))


def case_in_scope(user: Any, case_id: str) -> Case:
    """The case ``case_id`` (with its team) if ``user`` may see it. Raises NotFound if there is
    none, and OutOfScope — answered exactly the same, but audited — if it is not theirs to see."""
    case = Case.objects.select_related("team").filter(pk=case_id).first()
    if case is None:
        raise NotFound("case")
    if not can_read_case(user, case):
        raise OutOfScope("case", object_type="case", object_id=case_id, case_id=case_id)
    return case


#: What the case list reads of each case: plain rows, not model instances (a page of 50 cases
#: with their teams as models cost more to build than every query of the request together).
CASE_ROW_FIELDS = (
    "id",
    "case_number",
    "case_type",
    "status",
    "team_id",
    "team__name",
    "visit_frequency_days",
    "opened_on",
    "last_visit_on",
)


def case_list(*, user: Any, filters: dict[str, Any]) -> QuerySet[Any]:
    """The cases ``user`` may see that match ``filters``, by case number, as named rows of
    ``CASE_ROW_FIELDS`` (``visit_timescale`` takes them as it takes a ``Case``)."""
    qs = cases_visible_to(user)
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
            pk__in=Allocation.objects.filter(user_id=filters["allocated_to"], ended_seq__isnull=True).values(
                "case_id"
            )
        )
    return qs.order_by("case_number").values_list(*CASE_ROW_FIELDS, named=True)


class AllocationRow(NamedTuple):
    """What a case shows of one live allocation."""

    id: int
    case_id: str
    user_id: int
    role: str
    started_at: datetime
    started_seq: int
    ended_at: datetime | None
    ended_seq: int | None
    username: str
    first_name: str
    last_name: str


def live_allocations(*, case_ids: Iterable[str]) -> dict[str, list[AllocationRow]]:
    """Each case's live allocations with their users' names, oldest first; one query for all
    of ``case_ids`` (hand-written: the ORM took longer to build it than to run it)."""
    by_case: dict[str, list[AllocationRow]] = {case_id: [] for case_id in case_ids}
    if not by_case:
        return by_case
    allocation = rows.fields(Allocation, *AllocationRow._fields[:8])
    user = rows.fields(User, *AllocationRow._fields[8:])
    sql = (
        f"SELECT {rows.select_list('a', allocation)}, {rows.select_list('u', user)} "
        f"FROM {Allocation._meta.db_table} a JOIN {User._meta.db_table} u ON u.id = a.user_id "
        f"WHERE a.case_id IN ({rows.placeholders(len(by_case))}) AND a.ended_seq IS NULL ORDER BY a.id"
    )
    for row in rows.fetch_rows(sql, list(by_case), [*allocation, *user]):
        found = AllocationRow(*row)
        by_case[found.case_id].append(found)
    return by_case


class CaseDates(Protocol):
    """What a visit timescale depends on (a ``Case`` or a ``case_list`` row)."""

    @property
    def status(self) -> str: ...
    @property
    def opened_on(self) -> date: ...
    @property
    def last_visit_on(self) -> date | None: ...
    @property
    def visit_frequency_days(self) -> int: ...


@dataclass(frozen=True)
class VisitTimescale:
    last_visit_on: date | None
    next_visit_due: date
    overdue: bool
    working_days_overdue: int


def visit_timescale(case: CaseDates, *, today: date) -> VisitTimescale:
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
