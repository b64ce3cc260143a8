"""The demo council: teams, staff, 150 families with people, visits in every status and notes.

Deterministic for a given seed (Faker and factory-boy are both seeded); dates are relative to
the day it runs so that "overdue" stays meaningful. Everything is written through the store
services, so demo documents have revisions, sequence numbers, keys and audit events like any.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import factory.random
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Role, Team, User
from backend.accounts.services import team_manager_add
from backend.audit.services import Actor
from backend.cases.services import allocation_add, case_create
from backend.records.services import document_create

from . import factories
from .factories import DEMO_PASSWORD, TeamFactory, UserFactory, fake

TEAMS = [
    ("Early Help North", Team.Service.EARLY_HELP, "early_help", 30, "Early help worker"),
    ("Children in Need Central", Team.Service.CHILD_IN_NEED, "child_in_need", 20, "Social worker"),
    (
        "Child Protection South",
        Team.Service.CHILD_PROTECTION,
        "child_protection",
        10,
        "Social worker",
    ),
]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    name: str
    teams: list[str]


def demo_accounts() -> list[DemoAccount]:
    accounts = []
    for user in (
        User.objects.filter(username__startswith="demo.")
        .order_by("role", "username")
        .prefetch_related("teams", "managed_teams")
    ):
        teams = sorted({t.name for t in user.teams.all()} | {t.name for t in user.managed_teams.all()})
        accounts.append(
            DemoAccount(
                username=user.username,
                password=DEMO_PASSWORD,
                role=user.role,
                name=user.get_full_name(),
                teams=teams,
            )
        )
    return accounts


def _username(first: str, last: str) -> str:
    clean = "".join(ch for ch in f"{first}.{last}".lower() if ch.isalnum() or ch == ".")
    return f"demo.{clean}"


def _make_user(role: str, job_title: str) -> User:
    first, last = fake.first_name(), fake.last_name()
    username = _username(first, last)
    while User.objects.filter(username=username).exists():
        last = fake.last_name()
        username = _username(first, last)
    return UserFactory(username=username, first_name=first, last_name=last, role=role, job_title=job_title)


@transaction.atomic
def seed_demo(*, seed: int = 2026, families: int = 150, now: datetime | None = None) -> dict[str, int]:
    """Load the demo council into an empty database; returns counts of what was made."""
    now = now or timezone.now()
    today = now.date()
    fake.seed_instance(seed)
    factory.random.reseed_random(seed)
    rng = random.Random(seed)

    admin = _make_user(Role.ADMIN, "Information governance officer")
    admin.is_staff = True
    admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    teams: list[tuple[Team, str, int, list[User]]] = []
    supervisors: list[User] = []
    for name, service, case_type, frequency, job_title in TEAMS:
        team = TeamFactory(name=name, service=service)
        workers = [_make_user(Role.PRACTITIONER, job_title) for _ in range(4)]
        team.members.set(workers)
        supervisor = _make_user(Role.SUPERVISOR, "Team manager")
        team_manager_add(team=team, user=supervisor)
        supervisors.append(supervisor)
        teams.append((team, case_type, frequency, workers))
    # The child protection manager also oversees children in need ("one or more teams").
    team_manager_add(team=teams[1][0], user=supervisors[2])

    counts = {"cases": 0, "people": 0, "visits": 0, "notes": 0}
    for index in range(families):
        team, case_type, frequency, workers = teams[index % len(teams)]
        supervisor = team.managers.order_by("pk").first()
        assert supervisor is not None
        sup_actor = Actor(user=supervisor)
        opened = now - timedelta(days=rng.randint(40, 400))
        content = factories.case_content(case_type=case_type, visit_frequency_days=frequency)
        case_view = case_create(actor=sup_actor, team=team, content=content, now=opened)
        counts["cases"] += 1
        lead = workers[index % len(workers)]
        allocation_add(actor=sup_actor, case_id=case_view.id, user=lead, role="lead", now=opened)
        if rng.random() < 0.3:
            co = workers[(index + 1) % len(workers)]
            allocation_add(actor=sup_actor, case_id=case_view.id, user=co, role="co_worker", now=opened)
        worker = Actor(user=lead)
        surname = content["family_name"].removesuffix(" family")
        children: list[tuple[str, str]] = []
        adults: list[tuple[str, str]] = []
        roles = ["parent"] + (["carer"] if rng.random() < 0.4 else []) + ["child"] * rng.randint(1, 3)
        for role in roles:
            person = factories.person_content(role=role, surname=surname, today=today)
            view = document_create(
                actor=worker, case_id=case_view.id, doc_type="person", content=person, now=opened
            )
            (children if role == "child" else adults).append((view.id, person["full_name"]))
            counts["people"] += 1
        # Visits: most recent first in time order; the last one's status varies so every
        # status is present; some cases get no recent visit and become overdue.
        n_visits = rng.randint(1, 4)
        gap = max(2, frequency * 7 // 5)
        overdue_case = rng.random() < 0.15
        last = now - timedelta(days=(gap * 2 if overdue_case else rng.randint(1, gap)))
        for v in range(n_visits):
            visit_at = (last - timedelta(days=gap * (n_visits - 1 - v))).replace(
                hour=rng.choice([9, 10, 11, 14, 15]), minute=0, second=0, microsecond=0
            )
            if visit_at < opened:
                visit_at = opened + timedelta(days=1)
            is_latest = v == n_visits - 1
            status = (
                rng.choice(["draft", "submitted", "returned", "signed_off"]) if is_latest else "signed_off"
            )
            visit = factories.visit_content(visit_date=visit_at, children=children, adults=adults)
            document_create(
                actor=worker,
                case_id=case_view.id,
                doc_type="visit",
                content=visit,
                now=visit_at + timedelta(hours=3),
                server_content=_workflow(
                    status, author=lead, supervisor=supervisor, at=visit_at + timedelta(hours=3)
                ),
            )
            counts["visits"] += 1
        for _ in range(rng.randint(1, 3)):
            at = now - timedelta(days=rng.randint(1, 60))
            document_create(
                actor=worker,
                case_id=case_view.id,
                doc_type="note",
                content=factories.note_content(occurred_at=at),
                now=at,
            )
            counts["notes"] += 1
    return counts


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _workflow(status: str, *, author: User, supervisor: User, at: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": status, "transitions": []}
    if status == "draft":
        return fields
    submitted = at + timedelta(hours=1)
    fields["submitted_at"] = _iso(submitted)
    fields["transitions"].append({"id": "t1", "action": "submit", "by": author.ref, "at": _iso(submitted)})
    if status == "returned":
        fields["transitions"].append(
            {
                "id": "t2",
                "action": "return",
                "by": supervisor.ref,
                "at": _iso(submitted + timedelta(days=1)),
                "comment": "Please add the child's own words and a date for the first action.",
            }
        )
    if status == "signed_off":
        signed = submitted + timedelta(days=1)
        fields["signed_off_at"] = _iso(signed)
        fields["signed_off_by"] = supervisor.ref
        fields["transitions"].append(
            {"id": "t2", "action": "sign_off", "by": supervisor.ref, "at": _iso(signed)}
        )
    return fields
