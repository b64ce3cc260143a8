"""A small council seeded through the services and the HTTP API, so that requests built from the
OpenAPI document reach the deep states: real documents of every type, a visit awaiting
sign-off, an open conflict, an open addendum, a device, and a token for every role."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from schemathesis import BaseSchema, Case, Response

from backend.accounts.models import User
from backend.accounts.services import token_issue
from backend.cases.models import Allocation
from backend.cases.services import allocation_add
from backend.records.services import document_create
from backend.review.models import ConflictItem
from backend.review.services import visit_submit
from tests.backend.syncapi.tablet import Tablet
from tests.conftest import actor


def load_schema() -> BaseSchema:
    """The API's OpenAPI document as Schemathesis sees it, sending requests to the WSGI app
    (fetched with Django's test client, which leaves the test's database connection alone)."""
    loaded = schemathesis.openapi.from_dict(Client().get("/api/schema/?format=json").json())
    loaded.app = get_wsgi_application()
    return loaded


def call(case: Case, **kwargs: Any) -> Response:
    """``case.call()`` through WSGI, keeping the test's database connection open across the
    request as Django's test client does (the request signals would close it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        return case.call(**kwargs)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@dataclass
class World:
    """Ids of real things and a token per role (``practitioner``, ``supervisor``, ``admin``, and
    ``device``: the practitioner's tablet's device token)."""

    tokens: dict[str, str]
    case_id: str
    docs: dict[str, str]  # collection ("visits", "people", "notes", "addenda") → a document id
    submitted_visit: str
    conflict_id: int
    device_id: int
    allocation_id: int
    team_id: int
    user_ids: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)


def seed_world(
    *,
    practitioner: User,
    colleague: User,
    supervisor: User,
    admin_user: User,
    case_id: str,
    visit_content: dict[str, Any],
) -> World:
    as_practitioner = actor(practitioner)
    visit = document_create(actor=as_practitioner, case_id=case_id, doc_type="visit", content=visit_content)
    person = document_create(
        actor=as_practitioner,
        case_id=case_id,
        doc_type="person",
        content={"role": "child", "full_name": "Amy Okafor"},
    )
    note = document_create(
        actor=as_practitioner,
        case_id=case_id,
        doc_type="note",
        content={"category": "general", "text": "Phoned school."},
    )
    addendum = document_create(
        actor=as_practitioner,
        case_id=case_id,
        doc_type="addendum",
        content={"visit_id": visit.id, "text": "Amy's brother was also present."},
    )
    submitted = document_create(
        actor=as_practitioner, case_id=case_id, doc_type="visit", content=visit_content
    )
    visit_submit(actor=as_practitioner, visit_id=submitted.id, rev=submitted.rev)
    # Two tablets set the risk level differently offline, then both sync: an open conflict.
    allocation_add(actor=actor(supervisor), case_id=case_id, user=colleague, role="co_worker")
    first, second = Tablet(practitioner, "first"), Tablet(colleague, "second")
    first.pull()
    second.pull()
    first.push([first.edit(visit.id, {"risk_level": "low"})])
    second.push([second.edit(visit.id, {"risk_level": "critical"})])
    conflict = ConflictItem.objects.get(document_id=visit.id, decided_at__isnull=True)
    return World(
        tokens={
            "practitioner": token_issue(user=practitioner)[0],
            "supervisor": token_issue(user=supervisor)[0],
            "admin": token_issue(user=admin_user)[0],
            "device": first.token,
        },
        case_id=case_id,
        docs={"visits": visit.id, "people": person.id, "notes": note.id, "addenda": addendum.id},
        submitted_visit=submitted.id,
        conflict_id=conflict.pk,
        device_id=int(first.device_id.removeprefix("d:")),
        allocation_id=Allocation.objects.filter(case_id=case_id, user=colleague).get().pk,
        team_id=supervisor.managed_teams.get().pk,
        user_ids={"practitioner": practitioner.pk, "colleague": colleague.pk},
    )
