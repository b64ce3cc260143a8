"""A caller's subset: which cases their devices hold, since when, and which they have lost.

Practitioners hold the cases they are allocated to; supervisors the cases of the teams they
manage; admins hold no caseload on a device. Access to a case starts at the global sequence
number of the change that granted it (allocation, or becoming a team's manager): the feed
orders a document at ``max(document seq, access seq)`` so a newly granted case delivers its
older documents too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from backend.accounts.models import ManagementEnd, Role, TeamManager
from backend.cases.models import Allocation, Case
from backend.keys.models import KeyEnvelope

_ALLOCATIONS = Allocation._meta.db_table
_MANAGEMENT_ENDS = ManagementEnd._meta.db_table
_CASES = Case._meta.db_table


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


def read_access(caller: Any) -> dict[str, int]:
    """``case_access`` for reads that deliver case data: none for a retiring device (it may
    still push edits to its cases, through ``case_access``, and receives nothing more)."""
    return case_access(caller.user) if caller.receives else {}


def lost_cases(user: Any, *, after_seq: int, access: dict[str, int]) -> list[LostCase]:
    """Cases whose access ended after ``after_seq`` and that are not accessible again now: a
    practitioner's ended allocations; a supervisor's teams they stopped managing."""
    if after_seq <= 0 or user.role not in {Role.PRACTITIONER, Role.SUPERVISOR}:
        return []
    if user.role == Role.PRACTITIONER:
        sql = (
            f"SELECT case_id, MAX(ended_seq) FROM {_ALLOCATIONS} WHERE user_id = %s AND ended_seq > %s "
            "GROUP BY case_id ORDER BY case_id"
        )
    else:
        sql = (
            f"SELECT c.id, MAX(e.ended_seq) FROM {_MANAGEMENT_ENDS} e JOIN {_CASES} c ON c.team_id = e.team_id "
            "WHERE e.user_id = %s AND e.ended_seq > %s GROUP BY c.id ORDER BY c.id"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, after_seq])
        rows = cursor.fetchall()
    return [LostCase(case_id=case_id, ended_seq=int(end)) for case_id, end in rows if case_id not in access]


def late_write_access(user: Any, device: Any, *, access: dict[str, int], now: Any) -> dict[str, int]:
    """Cases this device may still *write* to although they left the caller's subset: a
    practitioner's allocation that ended less than ``DOORSTEP_LATE_EDIT_DAYS`` ago, on a case
    this very device was issued the keys of (so it can hold offline edits to it). Lets edits made
    offline before the device heard of the change reach the server instead of being purged
    with the case; they are audited as late edits and listed for the team's supervisors.
    Nothing is readable through this: reads use ``case_access`` only."""
    days = settings.DOORSTEP_LATE_EDIT_DAYS
    if device is None or days <= 0 or user.role != Role.PRACTITIONER:
        return {}
    ended = (
        Allocation.objects.filter(user=user, ended_at__gte=now - timedelta(days=days))
        .exclude(case_id__in=list(access))
        .values_list("case_id", "started_seq")
    )
    candidates = dict(ended)
    if not candidates:
        return {}
    held = set(
        KeyEnvelope.objects.filter(device=device, case_id__in=list(candidates)).values_list(
            "case_id", flat=True
        )
    )
    return {case_id: seq for case_id, seq in candidates.items() if case_id in held}
