"""Generated case content for the benchmarks: deterministic, realistic sizes, valid against schemas/."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

_TEXT = (
    "the family home was warm and tidy children were playing in the front room mother said "
    "school attendance has improved since the last visit father was at work grandmother helps "
    "with the morning routine the youngest child showed me her drawings and talked about her "
    "friends there were enough food and clean clothes the kitchen window is still broken the "
    "landlord has been asked to repair it health visitor appointment was missed and rebooked "
    "we discussed the safety plan and agreed the next steps with both parents"
)


_WORDS = _TEXT.split()


def _prose(rng: random.Random, sentences: int) -> str:
    return " ".join(
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."
        for _ in range(sentences)
    )


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def visit_content(rng: random.Random, n: int, when: datetime, people: list[str]) -> dict[str, Any]:
    """The worker's part of a visit (~1.5 KB of JSON); workflow fields are added by the loader."""
    return {
        "visit_date": iso(when),
        "visit_type": rng.choice(["statutory", "statutory", "planned", "unannounced"]),
        "people_present": [{"id": people[0], "name": "Parent", "relationship": "mother"}],
        "children_seen": [
            {"person_id": people[1], "seen": True, "seen_alone": False,
             "reason_not_seen_alone": "Too young to be seen alone."}
        ],
        "home_environment": _prose(rng, 2),
        "observations": "\n\n".join(_prose(rng, 2) for _ in range(3)),
        "child_voice": _prose(rng, 1),
        "analysis": _prose(rng, 2),
        "actions": [
            {"id": f"a{n}-{i}", "text": _prose(rng, 1), "owner": "social worker",
             "due_date": (when.date() + timedelta(days=7 + i)).isoformat(), "done": False}
            for i in range(2)
        ],
        "risk_level": rng.choice(["low", "medium", "medium"]),
        "risk_concerns": _prose(rng, 1),
    }  # fmt: skip


def note_content(rng: random.Random, when: datetime) -> dict[str, Any]:
    return {
        "category": rng.choice(["general", "phone_call", "meeting", "correspondence"]),
        "occurred_at": iso(when),
        "subject": _prose(rng, 1)[:120],
        "text": "\n\n".join(_prose(rng, 3) for _ in range(3)),
    }


def person_content(rng: random.Random, k: int, today: datetime) -> dict[str, Any]:
    child = k % 2 == 0
    dob = today.date() - timedelta(days=rng.randint(200, 6000) if child else rng.randint(7000, 20000))
    return {
        "role": "child" if child else "parent",
        "full_name": f"Person {k} Bench",
        "preferred_name": f"P{k}",
        "date_of_birth": dob.isoformat(),
        "gender": rng.choice(["female", "male"]),
        "relationship": "child of the family" if child else "mother",
        "lives_in_household": True,
        "notes": _prose(rng, 2),
    }


def case_content(rng: random.Random, index: int) -> dict[str, Any]:
    return {
        "case_type": "child_in_need",
        "visit_frequency_days": 20,
        "family_name": f"Bench family {index}",
        "address": {"line1": f"{index} Benchmark Road", "town": "Doorstep", "postcode": "DS1 1AA"},
        "reason_for_involvement": _prose(rng, 3),
        "summary": _prose(rng, 4),
    }


def rest_prose(rng: random.Random, sentences: int) -> str:
    """Longer sentences than ``_prose``: the REST benchmark's visits are ~3 KB."""
    out = []
    for _ in range(sentences):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 20))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def rest_visit_content(rng: random.Random, n: int, *, when: datetime | None = None) -> dict[str, Any]:
    """The REST benchmark's visit (~3 KB of prose), as a worker would send it (server-set fields left out)."""
    when = when or datetime.now(UTC) - timedelta(days=rng.randint(1, 20))
    stamp = when.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {
        "visit_date": stamp,
        "visit_type": rng.choice(["statutory", "planned", "unannounced"]),
        "people_present": [{"id": f"bench-adult-{n}", "name": "Parent", "relationship": "mother"}],
        "children_seen": [
            {"person_id": f"bench-child-{n}", "seen": True, "seen_alone": False,
             "reason_not_seen_alone": "Too young to be seen alone."}
        ],
        "home_environment": rest_prose(rng, 4),
        "observations": "\n\n".join(rest_prose(rng, 5) for _ in range(3)),
        "child_voice": rest_prose(rng, 3),
        "analysis": rest_prose(rng, 4),
        "actions": [
            {"id": f"bench-a{n}-{i}", "text": rest_prose(rng, 1), "owner": "social worker",
             "due_date": (when.date() + timedelta(days=7 + i)).isoformat(), "done": False}
            for i in range(rng.randint(1, 3))
        ],
        "risk_level": rng.choice(["low", "medium", "high"]),
        "risk_concerns": rest_prose(rng, 2),
    }  # fmt: skip
