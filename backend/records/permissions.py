"""Who may read and write which case's documents (authorisation data is relational)."""

from __future__ import annotations

from typing import Any

from backend.accounts.models import Role
from backend.cases.models import Allocation, Case


def is_allocated(user: Any, case_id: str) -> bool:
    return Allocation.objects.filter(case_id=case_id, user=user, ended_seq__isnull=True).exists()


def manages_team(user: Any, team_id: int) -> bool:
    return user.role == Role.SUPERVISOR and user.managed_teams.filter(pk=team_id).exists()


def can_read_case(user: Any, case: Case) -> bool:
    return can_read(user, case_id=case.id, team_id=case.team_id)


def can_read(user: Any, *, case_id: str, team_id: int) -> bool:
    """``can_read_case`` for the case ``case_id`` of team ``team_id`` (no ``Case`` needed)."""
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.SUPERVISOR:
        return manages_team(user, team_id)
    return is_allocated(user, case_id)


def case_permissions(user: Any, case: Case, doc_type: str) -> tuple[bool, bool]:
    """(may read, may write ``doc_type``) on ``case``, with at most one query."""
    if user.role == Role.ADMIN:
        return True, doc_type == "case"
    if user.role == Role.SUPERVISOR:
        managed = manages_team(user, case.team_id)
        return managed, managed
    allocated = is_allocated(user, case.id)
    return allocated, allocated and doc_type != "case"
