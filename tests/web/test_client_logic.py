"""The web client's own logic agrees with the server's: working-day timescales (next visit
due, overdue), which fields travel in clear, id format; and refusal reasons read as words.
Runs clients/web/src/lib under Node (no browser)."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date, timedelta
from typing import Any

import pytest

from backend.cases.workdays import add_working_days, working_days_between
from sync import load_schemas
from tests.live import ROOT
from tests.web.conftest import HERE, NODE

START = date(2026, 11, 2)
DAYS = [START + timedelta(days=i) for i in range(21)]


@pytest.fixture(scope="module")
def client_answers() -> dict[str, Any]:
    request = {
        "addWorkingDays": [[d.isoformat(), n] for d in DAYS for n in (0, 1, 4, 5, 10, 20)],
        "workingDaysBetween": [[a.isoformat(), b.isoformat()] for a in DAYS[::3] for b in DAYS[::2]],
        "timescales": [
            {
                "lastVisitOn": None,
                "openedOn": "2026-11-02",
                "frequencyDays": 10,
                "status": "open",
                "today": "2026-11-26",
            },
            {
                "lastVisitOn": "2026-11-20",
                "openedOn": "2026-01-02",
                "frequencyDays": 20,
                "status": "open",
                "today": "2026-11-26",
            },
            {
                "lastVisitOn": None,
                "openedOn": "2026-01-02",
                "frequencyDays": 10,
                "status": "closed",
                "today": "2026-11-26",
            },
        ],
        "refusals": [
            "observations breaks maxLength=20000",
            "children_seen/0/seen breaks type",
            "document is outside your caseload",
            "something new",
        ],
    }
    result = subprocess.run(
        [NODE, str(HERE / "unit" / "logic.mjs"), json.dumps(request)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return {"request": request, **json.loads(result.stdout)}


def test_working_days_match_the_server(client_answers: dict[str, Any]) -> None:
    request = client_answers["request"]
    expected = [add_working_days(date.fromisoformat(d), n).isoformat() for d, n in request["addWorkingDays"]]
    assert client_answers["addWorkingDays"] == expected
    expected = [
        working_days_between(date.fromisoformat(a), date.fromisoformat(b))
        for a, b in request["workingDaysBetween"]
    ]
    assert client_answers["workingDaysBetween"] == expected


def test_next_visit_due_and_overdue(client_answers: dict[str, Any]) -> None:
    never, recent, closed = client_answers["timescales"]
    assert never == {"lastVisitOn": None, "due": "2026-11-16", "overdue": True, "daysOverdue": 8}
    assert recent["due"] == "2026-12-18" and recent["overdue"] is False
    assert closed["overdue"] is False


def test_clear_fields_are_the_schemas(client_answers: dict[str, Any]) -> None:
    schemas = load_schemas()
    assert client_answers["clearFields"] == {
        t: sorted(schemas[t].clear_fields) for t in client_answers["clearFields"]
    }


def test_new_ids_are_what_the_server_accepts(client_answers: dict[str, Any]) -> None:
    ids = client_answers["ids"]
    assert all(re.fullmatch(r"visit:[0-9A-HJKMNP-TV-Z]{26}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_refusal_reasons_read_as_words(client_answers: dict[str, Any]) -> None:
    length, kind, scope, other = client_answers["refusals"]
    assert length == "Observations is longer than the 20,000 characters allowed."
    assert kind.startswith("Children seen › seen is not in the form")
    assert "no longer allocated to you" in scope
    assert other == "The server said: something new."
