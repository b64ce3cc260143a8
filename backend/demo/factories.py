"""Typed factory-boy factories: one per model, plus content factories for each document type.

Used by the demo seed and by the tests. Content factories build plain dicts that satisfy the
schemas in ``schemas/``; document rows are only ever created through the store services.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import factory
from factory.django import DjangoModelFactory
from faker import Faker

from backend.accounts.models import Role, Team, User

fake = Faker("en_GB")

DEMO_PASSWORD = "doorstep-demo-2026"


class TeamFactory(DjangoModelFactory[Team]):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")
    service = Team.Service.CHILD_IN_NEED


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    first_name = factory.Faker("first_name", locale="en_GB")
    last_name = factory.Faker("last_name", locale="en_GB")
    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@council.example")
    role = Role.PRACTITIONER
    job_title = "Social worker"
    password = factory.PostGenerationMethodCall("set_password", DEMO_PASSWORD)

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_action_ids = itertools.count(1)


def case_content(*, case_type: str, visit_frequency_days: int) -> dict[str, Any]:
    surname = fake.last_name()
    return {
        "case_type": case_type,
        "visit_frequency_days": visit_frequency_days,
        "family_name": f"{surname} family",
        "address": {
            "line1": fake.street_address().replace("\n", ", ")[:200],
            "town": fake.city()[:100],
            "postcode": fake.postcode()[:10],
        },
        "phone": fake.phone_number()[:40],
        "language": fake.random_element(
            ["English", "English", "English", "Polish", "Urdu", "Romanian", "Somali"]
        ),
        "reason_for_involvement": fake.paragraph(nb_sentences=4),
        "summary": "\n\n".join(fake.paragraphs(nb=2)),
    }


def person_content(*, role: str, surname: str, today: date) -> dict[str, Any]:
    if role in {"child", "sibling"}:
        dob = today - timedelta(days=fake.random_int(min=200, max=17 * 365))
        relationship = "child of the family"
    else:
        dob = today - timedelta(days=fake.random_int(min=19 * 365, max=60 * 365))
        relationship = fake.random_element(["mother", "father", "stepfather", "grandmother", "carer"])
    gender = fake.random_element(["female", "male"])
    first = fake.first_name_female() if gender == "female" else fake.first_name_male()
    return {
        "role": role,
        "full_name": f"{first} {surname}",
        "preferred_name": first,
        "date_of_birth": dob.isoformat(),
        "gender": gender,
        "relationship": relationship,
        "lives_in_household": fake.boolean(chance_of_getting_true=85),
        "notes": fake.sentence(nb_words=14),
    }


def visit_content(
    *, visit_date: datetime, children: list[tuple[str, str]], adults: list[tuple[str, str]]
) -> dict[str, Any]:
    """A realistic visit: ``children``/``adults`` are (person id, name) pairs."""
    seen = []
    for person_id, _name in children:
        alone = fake.boolean(chance_of_getting_true=70)
        item: dict[str, Any] = {"person_id": person_id, "seen": True, "seen_alone": alone}
        if not alone:
            item["reason_not_seen_alone"] = fake.random_element(
                [
                    "Child was asleep for most of the visit.",
                    "Parent declined; to be seen at school.",
                    "Too young to be seen alone.",
                ]
            )
        seen.append(item)
    return {
        "visit_date": _iso(visit_date),
        "visit_type": fake.random_element(["statutory", "statutory", "planned", "unannounced"]),
        "people_present": [
            {"id": pid, "name": name, "relationship": "household"} for pid, name in adults[:2]
        ],
        "children_seen": seen,
        "home_environment": fake.paragraph(nb_sentences=3),
        "observations": "\n\n".join(fake.paragraphs(nb=3)),
        "child_voice": fake.paragraph(nb_sentences=3),
        "analysis": fake.paragraph(nb_sentences=4),
        "actions": [
            {
                "id": f"a{next(_action_ids)}",
                "text": fake.sentence(nb_words=10),
                "owner": fake.random_element(["social worker", "parent", "school", "health visitor"]),
                "due_date": (visit_date.date() + timedelta(days=fake.random_int(min=3, max=21))).isoformat(),
                "done": False,
            }
            for _ in range(fake.random_int(min=1, max=3))
        ],
        "risk_level": fake.random_element(["low", "medium", "medium", "high"]),
        "risk_concerns": fake.paragraph(nb_sentences=2),
    }


def note_content(*, occurred_at: datetime) -> dict[str, Any]:
    return {
        "category": fake.random_element(["general", "phone_call", "meeting", "correspondence"]),
        "occurred_at": _iso(occurred_at),
        "subject": fake.sentence(nb_words=5)[:200],
        "text": "\n\n".join(fake.paragraphs(nb=2)),
    }
