"""A plaintext canary sent in every invalid way never comes back in an error body or a log line,
and is not at rest in the database."""

from __future__ import annotations

import json
import logging

import pytest

from backend.audit.models import AuditAction, AuditEvent
from backend.records.models import Revision
from backend.records.services import document_create
from tests.conftest import actor

from .tablet import Tablet

pytestmark = pytest.mark.django_db

CANARY = "CANARY-plaintext-9d41-Okonkwo-lives-at-14-Elm-Rd"


@pytest.fixture
def visit_id(practitioner, case_id, visit_content) -> str:
    return document_create(
        actor=actor(practitioner), case_id=case_id, doc_type="visit", content=visit_content
    ).id


def test_sync_errors_never_echo_case_data(practitioner, visit_id, caplog):
    caplog.set_level(logging.DEBUG)
    tablet = Tablet(practitioner)
    tablet.pull()
    attempts = [
        tablet.edit(visit_id, {"risk_level": CANARY}),  # enum violation
        tablet.edit(visit_id, {"visit_date": CANARY}),  # format violation
        tablet.edit(visit_id, {"actions": [{"id": "x", "text": CANARY, "due_date": CANARY}]}),
        tablet.edit(visit_id, {"observations": CANARY * 1000}),  # too long
        tablet.edit(visit_id, {CANARY: "x"}),  # unknown field (a name, not a value, but still)
    ]
    leaky = tablet.edit(visit_id, {"analysis": "ok"})
    leaky["meta"]["observations"] = CANARY  # secret field in clear meta
    attempts.append(leaky)
    bodies = []
    for doc in attempts:
        response = tablet.post("/_bulk_docs", {"docs": [doc], "new_edits": False})
        bodies.append(response.content.decode())
        single = tablet.put(f"/{visit_id}?new_edits=false", doc)
        bodies.append(single.content.decode())
    assert all('"error"' in b for b in bodies)
    for body in bodies:
        assert CANARY not in body
    # An unknown field whose name does not look like a field name is counted, not echoed.
    assert "field name(s) not shown" in bodies[8]
    assert CANARY not in caplog.text
    assert not any(CANARY in str(r.body) for r in Revision.objects.all())


def test_rest_errors_never_echo_case_data(api, practitioner, case_id, visit_id, caplog):
    caplog.set_level(logging.DEBUG)
    client = api(practitioner)
    rev = client.get(f"/api/visits/{visit_id}/").json()["rev"]
    patches = [
        {"risk_level": CANARY},
        {"visit_date": CANARY},
        {"children_seen": [{"person_id": CANARY}]},
        {"observations": CANARY * 1000},
        {"people_present": CANARY},
    ]
    for patch in patches:
        response = client.patch(f"/api/visits/{visit_id}/", {"rev": rev, "content": patch}, format="json")
        assert response.status_code == 400
        assert CANARY not in response.content.decode()
    assert CANARY not in caplog.text


#: A key name that looks like a field name but carries case data (issue 10, item 7).
NAMED = "okonkwo_lives_at_elm_rd"


def test_refusals_name_rules_never_the_names_or_revisions_sent(practitioner, visit_id):
    """Unknown top-level field names, unknown keys in clear meta and malformed revision ids are
    neither echoed in the refusal nor stored in the ``sync_refused`` audit row."""
    tablet = Tablet(practitioner)
    tablet.pull()
    unknown_top = tablet.edit(visit_id, {"analysis": "ok"})
    unknown_top[NAMED] = "x"
    unknown_meta = tablet.edit(visit_id, {"analysis": "ok"})
    unknown_meta["meta"][NAMED] = "x"
    bodies = []
    for doc in (unknown_top, unknown_meta):
        response = tablet.post("/_bulk_docs", {"docs": [doc], "new_edits": False})
        assert response.status_code == 201
        assert response.json()[0]["error"] == "forbidden"
        bodies.append(response.content.decode())
    bad_rev = tablet.client.delete(f"/sync/caseload/{visit_id}?rev=1-{NAMED}", **tablet.headers())
    assert bad_rev.status_code == 400
    bodies.append(bad_rev.content.decode())
    for body in bodies:
        assert NAMED not in body
    refused = AuditEvent.objects.filter(action=AuditAction.SYNC_REFUSED, object_id=visit_id)
    assert refused.count() == 2
    assert all(NAMED not in json.dumps(event.detail) for event in refused)
    assert "field name(s) not shown" in refused.order_by("pk")[0].detail["reason"]
