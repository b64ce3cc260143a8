"""Shared fixtures: one-line wrappers around the factories, and an authenticated API client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import Role, Team, User
from backend.accounts.services import team_manager_add, token_issue
from backend.audit.services import Actor
from backend.demo.factories import TeamFactory, UserFactory


@pytest.fixture(autouse=True)
def _fast_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team(db: None) -> Team:
    return TeamFactory(name="Children in Need Central", service=Team.Service.CHILD_IN_NEED)


@pytest.fixture
def other_team(db: None) -> Team:
    return TeamFactory(name="Child Protection South", service=Team.Service.CHILD_PROTECTION)


@pytest.fixture
def practitioner(team: Team) -> User:
    user = UserFactory(username="amy.worker", role=Role.PRACTITIONER)
    team.members.add(user)
    return user


@pytest.fixture
def colleague(team: Team) -> User:
    user = UserFactory(username="ben.worker", role=Role.PRACTITIONER)
    team.members.add(user)
    return user


@pytest.fixture
def supervisor(team: Team) -> User:
    user = UserFactory(username="sue.manager", role=Role.SUPERVISOR, job_title="Team manager")
    team_manager_add(team=team, user=user)
    return user


@pytest.fixture
def other_supervisor(other_team: Team) -> User:
    user = UserFactory(username="oscar.manager", role=Role.SUPERVISOR, job_title="Team manager")
    team_manager_add(team=other_team, user=user)
    return user


@pytest.fixture
def admin_user(db: None) -> User:
    return UserFactory(username="ida.admin", role=Role.ADMIN, job_title="Information governance")


@pytest.fixture
def api() -> Callable[[User | None], APIClient]:
    """``api(user)`` → an APIClient holding a fresh token for ``user`` (anonymous for None)."""

    def make(user: User | None = None) -> APIClient:
        client = APIClient()
        if user is not None:
            secret, _ = token_issue(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
        return client

    return make


def actor(user: User) -> Actor:
    return Actor(user=user)


@pytest.fixture
def case_content() -> dict[str, Any]:
    return {
        "case_type": "child_in_need",
        "visit_frequency_days": 20,
        "family_name": "Okafor family",
        "address": {"line1": "12 Mill Lane", "town": "Northby", "postcode": "NB1 2AA"},
        "summary": "Referred by school after repeated absence.",
    }


@pytest.fixture
def case_id(supervisor: User, practitioner: User, case_content: dict[str, Any]) -> str:
    """An open case in ``team`` with ``practitioner`` as lead."""
    from backend.cases.services import allocation_add, case_create

    view = case_create(actor=actor(supervisor), team=supervisor.managed_teams.get(), content=case_content)
    allocation_add(actor=actor(supervisor), case_id=view.id, user=practitioner, role="lead")
    return view.id


@pytest.fixture
def visit_content() -> dict[str, Any]:
    return {
        "visit_date": "2026-11-20T10:00:00Z",
        "visit_type": "statutory",
        "observations": "Kitchen was clean.\n\nAmy showed me her room.",
        "child_voice": "Amy said she likes her new school.",
        "actions": [
            {
                "id": "a1",
                "text": "Book a review meeting",
                "owner": "social worker",
                "due_date": "2026-12-01",
            }
        ],
        "risk_level": "medium",
    }
