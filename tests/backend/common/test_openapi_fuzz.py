"""Schemathesis generates requests from our OpenAPI spec: whatever it sends, never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from backend.accounts.services import token_issue
from backend.audit.services import Actor
from backend.records.services import document_create

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """Like Django's test client: don't let request signals close the test's DB connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def auth_header(supervisor) -> dict[str, str]:
    secret, _ = token_issue(user=supervisor)
    return {"Authorization": f"Token {secret}"}


@pytest.fixture
def real_ids(supervisor, case_id, visit_content) -> dict[str, str]:
    """Ids of real documents, so generated requests reach the services, not just the 404 path."""
    actor = Actor(user=supervisor)
    visit = document_create(actor=actor, case_id=case_id, doc_type="visit", content=visit_content)
    person = document_create(
        actor=actor,
        case_id=case_id,
        doc_type="person",
        content={"role": "child", "full_name": "A B"},
    )
    note = document_create(
        actor=actor, case_id=case_id, doc_type="note", content={"category": "general", "text": "t"}
    )
    return {"case": case_id, "visits": visit.id, "people": person.id, "notes": note.id}


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, auth_header):
    case.call_and_validate(headers=auth_header, checks=[not_a_server_error])


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_on_real_records(case, auth_header, real_ids):
    params = case.path_parameters or {}
    if "case_id" in params:
        params["case_id"] = real_ids["case"]
    if "doc_id" in params:
        collection = case.path.split("/")[2]
        params["doc_id"] = real_ids.get(collection, real_ids["visits"])
    case.call_and_validate(headers=auth_header, checks=[not_a_server_error])
