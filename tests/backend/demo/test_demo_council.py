"""The demo council: realistic, deterministic, and its accounts are printed as JSON."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from backend.accounts.models import Role, Team, User
from backend.cases.models import Case
from backend.demo.seed import seed_demo
from backend.records.models import Document, VisitRecord
from backend.records.services import view_of

pytestmark = pytest.mark.django_db


def test_seed_builds_the_council_and_accounts_print_as_json(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", "--families", "30", stdout=StringIO())
    assert Team.objects.count() == 3
    assert User.objects.filter(role=Role.PRACTITIONER).count() == 12
    assert User.objects.filter(role=Role.SUPERVISOR).count() == 3
    assert User.objects.filter(role=Role.ADMIN).count() == 1
    assert Case.objects.count() == 30
    assert set(VisitRecord.objects.values_list("status", flat=True)) == {
        "draft",
        "submitted",
        "returned",
        "signed_off",
    }
    assert Document.objects.filter(doc_type="note").exists()
    assert Document.objects.filter(doc_type="person", meta__role="child").exists()
    out = StringIO()
    call_command("demo_accounts", "--json", stdout=out)
    accounts = json.loads(out.getvalue())
    assert len(accounts) == 16
    assert {a["role"] for a in accounts} == {"practitioner", "supervisor", "admin"}
    assert all(set(a) >= {"username", "password", "role", "teams"} for a in accounts)
    # --if-empty leaves a populated database alone; without it, refuses.
    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    assert "not loaded" in out.getvalue()
    assert Case.objects.count() == 30


def _seed_and_describe(families: int) -> tuple[list[str], list[str]]:
    """Seed inside a savepoint, describe the result, roll it back."""
    with transaction.atomic():
        seed_demo(seed=7, families=families)
        usernames = sorted(User.objects.values_list("username", flat=True))
        family_names = [
            view_of(Document.objects.get(pk=case.id)).content["family_name"]
            for case in Case.objects.order_by("case_number")
        ]
        transaction.set_rollback(True)
    return usernames, family_names


def test_seed_is_deterministic(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    first = _seed_and_describe(6)
    second = _seed_and_describe(6)
    assert first == second
    assert len(first[0]) == 16 and len(first[1]) == 6
