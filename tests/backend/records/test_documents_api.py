"""Visits, people and notes through the HTTP API: revisions, concurrency, errors, nothing stored."""

from __future__ import annotations

import pytest

from backend.audit.models import AuditAction, AuditEvent
from backend.common.sequence import current_seq
from backend.records.models import Document, Revision

pytestmark = pytest.mark.django_db


def snapshot() -> tuple[int, int, int, int]:
    return (
        Document.objects.count(),
        Revision.objects.count(),
        current_seq(),
        AuditEvent.objects.exclude(action="read_denied").count(),
    )


def create_visit(client, case_id, content):
    response = client.post(f"/api/cases/{case_id}/visits/", {"content": content}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_read_update_visit(api, practitioner, case_id, visit_content):
    client = api(practitioner)
    created = create_visit(client, case_id, visit_content)
    assert created["id"].startswith("visit:")
    assert created["rev"].startswith("1-")
    assert created["content"]["status"] == "draft"
    assert created["content"]["author"] == practitioner.ref
    read = client.get(f"/api/visits/{created['id']}/").json()
    assert read["content"]["observations"] == visit_content["observations"]
    updated = client.patch(
        f"/api/visits/{created['id']}/",
        {"rev": created["rev"], "content": {"analysis": "Things are improving."}},
        format="json",
    )
    assert updated.status_code == 200, updated.json()
    assert updated.json()["rev"].startswith("2-")
    assert updated.json()["content"]["analysis"] == "Things are improving."
    assert updated.json()["content"]["observations"] == visit_content["observations"]
    # Every body is kept.
    assert Revision.objects.filter(document_id=created["id"]).count() == 2
    listed = client.get(f"/api/cases/{case_id}/visits/").json()
    assert listed["count"] == 1 and listed["results"][0]["meta"]["status"] == "draft"
    assert "observations" not in listed["results"][0]["meta"]


def test_put_replaces_content_and_keeps_server_fields(api, practitioner, case_id, visit_content):
    client = api(practitioner)
    created = create_visit(client, case_id, visit_content)
    replacement = {k: v for k, v in visit_content.items() if k != "child_voice"}
    response = client.put(
        f"/api/visits/{created['id']}/",
        {"rev": created["rev"], "content": replacement},
        format="json",
    )
    assert response.status_code == 200, response.json()
    content = response.json()["content"]
    assert "child_voice" not in content
    assert content["author"] == practitioner.ref and content["status"] == "draft"


def test_an_edit_without_a_device_reading_drops_the_last_tablets(api, practitioner, case_id, visit_content):
    """``updated_at_device`` is the editing tablet's clock at *its* edit; a later REST edit that
    sends none is stamped with the server's time alone, not with the old tablet reading."""
    client = api(practitioner)
    created = create_visit(client, case_id, {**visit_content, "updated_at_device": "2026-01-02T03:04:05Z"})
    assert created["content"]["updated_at_device"] == "2026-01-02T03:04:05Z"
    edited = client.patch(
        f"/api/visits/{created['id']}/",
        {"rev": created["rev"], "content": {"analysis": "Things are improving."}},
        format="json",
    )
    assert edited.status_code == 200, edited.json()
    assert "updated_at_device" not in edited.json()["content"]
    again = client.patch(
        f"/api/visits/{created['id']}/",
        {"rev": edited.json()["rev"], "content": {"updated_at_device": "2026-12-04T10:00:00Z"}},
        format="json",
    )
    assert again.status_code == 200, again.json()
    assert again.json()["content"]["updated_at_device"] == "2026-12-04T10:00:00Z"


def test_stale_rev_is_409_and_stores_nothing(api, practitioner, case_id, visit_content):
    client = api(practitioner)
    created = create_visit(client, case_id, visit_content)
    first = client.patch(
        f"/api/visits/{created['id']}/",
        {"rev": created["rev"], "content": {"analysis": "A"}},
        format="json",
    )
    before = snapshot()
    stale = client.patch(
        f"/api/visits/{created['id']}/",
        {"rev": created["rev"], "content": {"analysis": "B"}},
        format="json",
    )
    assert stale.status_code == 409
    assert stale.json()["current_rev"] == first.json()["rev"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("patch", "status", "code", "field"),
    [
        ({"risk_level": "apocalyptic"}, 400, "invalid_field", "risk_level"),
        ({"visit_date": "yesterday"}, 400, "invalid_field", "visit_date"),
        ({"favourite_colour": "blue"}, 400, "unknown_field", "(document)"),
        ({"actions": [{"id": "a9"}]}, 400, "missing_field", "actions.0.text"),
        ({"status": "signed_off"}, 400, "invalid_field", "status"),
        ({"author": "u:999"}, 400, "invalid_field", "author"),
        ({"observations": "x" * 20001}, 400, "invalid_field", "observations"),
    ],
    ids=[
        "bad-enum",
        "bad-date",
        "unknown-field",
        "nested-missing",
        "server-status",
        "server-author",
        "too-long",
    ],
)
def test_invalid_updates_name_the_field_and_store_nothing(
    api, practitioner, case_id, visit_content, patch, status, code, field
):
    client = api(practitioner)
    created = create_visit(client, case_id, visit_content)
    before = snapshot()
    response = client.patch(
        f"/api/visits/{created['id']}/", {"rev": created["rev"], "content": patch}, format="json"
    )
    assert response.status_code == status, response.json()
    body = response.json()
    assert body["code"] == code
    assert body["field"] == field
    assert snapshot() == before


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"content": {"visit_type": "statutory"}}, "missing_field", "visit_date"),
        ({"content": "not an object"}, "invalid_field", "content"),
        # An unknown name is not repeated (it may be case data): no field (issue 10 item 7).
        ({"content": {}, "extra": 1}, "unknown_field", None),
        ({"id": "visit:not-a-ulid", "content": {}}, "invalid_field", "id"),
        ({}, "missing_field", "content"),
    ],
    ids=["schema-required", "content-not-object", "unknown-top-level", "bad-id", "no-content"],
)
def test_invalid_creates_are_400_and_store_nothing(api, practitioner, case_id, payload, code, field):
    before = snapshot()
    response = api(practitioner).post(f"/api/cases/{case_id}/visits/", payload, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert response.json().get("field") == field
    assert snapshot() == before


def test_malformed_json_and_wrong_media_type(api, practitioner, case_id):
    client = api(practitioner)
    before = snapshot()
    bad = client.post(f"/api/cases/{case_id}/visits/", data='{"content": {', content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "malformed_json"
    form = client.post(
        f"/api/cases/{case_id}/visits/",
        data="content=1",
        content_type="application/x-www-form-urlencoded",
    )
    assert form.status_code == 415 and form.json()["code"] == "unsupported_media_type"
    assert snapshot() == before


def test_oversize_body_is_413_and_stores_nothing(api, practitioner, case_id, settings):
    settings.DOORSTEP_MAX_REST_BODY = 2048
    before = snapshot()
    response = api(practitioner).post(
        f"/api/cases/{case_id}/visits/", {"content": {"observations": "x" * 5000}}, format="json"
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert snapshot() == before


def test_visit_of_another_case_is_404_and_audited(api, practitioner, colleague, case_id, visit_content):
    created = create_visit(api(practitioner), case_id, visit_content)
    response = api(colleague).get(f"/api/visits/{created['id']}/")
    assert response.status_code == 404
    assert AuditEvent.objects.filter(
        action=AuditAction.READ_DENIED, actor=colleague, object_id=created["id"]
    ).exists()
    write = api(colleague).post(f"/api/cases/{case_id}/visits/", {"content": visit_content}, format="json")
    assert write.status_code == 404


def test_wrong_type_at_endpoint_is_404(api, practitioner, case_id, visit_content):
    created = create_visit(api(practitioner), case_id, visit_content)
    assert api(practitioner).get(f"/api/notes/{created['id']}/").status_code == 404


def test_people_and_notes(api, practitioner, case_id):
    client = api(practitioner)
    person = client.post(
        f"/api/cases/{case_id}/people/",
        {"content": {"role": "child", "full_name": "Amy Okafor", "date_of_birth": "2016-03-01"}},
        format="json",
    )
    assert person.status_code == 201, person.json()
    note = client.post(
        f"/api/cases/{case_id}/notes/",
        {"content": {"category": "phone_call", "text": "Spoke to school."}},
        format="json",
    )
    assert note.status_code == 201, note.json()
    assert client.get(f"/api/people/{person.json()['id']}/").json()["content"]["full_name"] == "Amy Okafor"
    assert client.get(f"/api/cases/{case_id}/notes/").json()["count"] == 1


def test_every_write_is_audited_with_field_names_only(api, practitioner, case_id, visit_content):
    client = api(practitioner)
    created = create_visit(client, case_id, visit_content)
    client.patch(
        f"/api/visits/{created['id']}/",
        {"rev": created["rev"], "content": {"analysis": "SECRET ANALYSIS"}},
        format="json",
    )
    events = AuditEvent.objects.filter(object_id=created["id"]).order_by("id")
    assert [e.action for e in events] == [AuditAction.CREATE, AuditAction.UPDATE]
    assert events[1].detail["fields"] == ["analysis", "updated_at"]
    assert "SECRET" not in str(list(events.values()))


def test_global_sequence_is_monotonic_across_documents(api, practitioner, case_id, visit_content):
    client = api(practitioner)
    seqs = []
    for _ in range(3):
        created = create_visit(client, case_id, visit_content)
        seqs.append(Document.objects.get(pk=created["id"]).seq)
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
