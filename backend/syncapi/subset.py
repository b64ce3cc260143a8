"""A caller's subset: which cases their devices hold, since when, and which they have lost.

Practitioners hold the cases they are allocated to; supervisors the cases of the teams they
manage; admins hold no caseload on a device. Access to a case starts at the global sequence
number of the change that granted it (allocation, or becoming a team's manager): the feed
orders a document at ``max(document seq, access seq)`` so a newly granted case delivers its
older documents too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection

from backend.accounts.models import Role, TeamManager
from backend.cases.models import Allocation, Case

_ALLOCATIONS = Allocation._meta.db_table


@dataclass(frozen=True)
class LostCase:
    case_id: str
    ended_seq: int


def case_access(user: Any) -> dict[str, int]:
    """``{case_id: seq from which the caller has had access}`` for the caller's current subset."""
    if user.role == Role.PRACTITIONER:
        # Asked on every replication request: plain SQL on the (user, ended_seq) rows.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT case_id, started_seq FROM {_ALLOCATIONS} WHERE user_id = %s AND ended_seq IS NULL",
                [user.pk],
            )
            return {case_id: int(seq) for case_id, seq in cursor.fetchall()}
    if user.role == Role.SUPERVISOR:
        managed = dict(TeamManager.objects.filter(user=user).values_list("team_id", "started_seq"))
        if not managed:
            return {}
        return {
            case_id: managed[team_id]
            for case_id, team_id in Case.objects.filter(team_id__in=managed).values_list("id", "team_id")
        }
    return {}


def lost_cases(user: Any, *, after_seq: int, access: dict[str, int]) -> list[LostCase]:
    """Cases whose access ended after ``after_seq`` and that are not accessible again now."""
    if after_seq <= 0 or user.role != Role.PRACTITIONER:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT case_id, MAX(ended_seq) FROM {_ALLOCATIONS} WHERE user_id = %s AND ended_seq > %s "
            "GROUP BY case_id ORDER BY case_id",
            [user.pk, after_seq],
        )
        rows = cursor.fetchall()
    return [LostCase(case_id=case_id, ended_seq=int(end)) for case_id, end in rows if case_id not in access]


def in_subset(access: dict[str, int], case_id: str | None) -> bool:
    return case_id is not None and case_id in access
