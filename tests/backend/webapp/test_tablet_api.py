"""The tablet app's own API: the council's idle-lock setting, and the audited discard of unsent work."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from backend.audit.models import AuditEvent
from sync import generate_device_keypair

pytestmark = pytest.mark.django_db


def enrol(client, name="Tablet 1"):
    _, public = generate_device_keypair()
    body = {"name": name, "public_key": base64.b64encode(public).decode(), "app_version": "web-test"}
    return client.post("/api/devices/", body, format="json").json()


def test_idle_lock_setting_is_served_without_signing_in(settings):
    settings.DOORSTEP_IDLE_LOCK_MINUTES = 7
    response = APIClient().get("/api/tablet/settings/")
    assert response.status_code == 200
    assert response.json() == {"idle_lock_minutes": 7}


def test_discarding_unsent_work_is_audited_with_ids_only(api, practitioner):
    device = enrol(api(practitioner))["device"]
    body = {
        "device": device["pk"],
        "count": 2,
        "records": ["visit:01JD0000000000000000000001"],
        "reason": "erase",
    }
    response = api(practitioner).post("/api/tablet/discard-unsent/", body, format="json")
    assert response.status_code == 201, response.json()
    event = AuditEvent.objects.get(pk=response.json()["audit_event"])
    assert (event.action, event.object_id, event.actor_id) == (
        "device_discard",
        device["id"],
        practitioner.pk,
    )
    assert event.detail == {
        "device_name": "Tablet 1",
        "count": 2,
        "records": ["visit:01JD0000000000000000000001"],
        "reason": "erase",
    }


def test_the_device_token_may_record_its_own_discard(api, practitioner):
    enrolled = enrol(api(practitioner))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {enrolled['token']}")
    body = {"device": enrolled["device"]["pk"], "count": 1, "records": [], "reason": "sign_out"}
    assert client.post("/api/tablet/discard-unsent/", body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"count": 0}, 400, "invalid_field"),
        ({"records": ["<script>"]}, 400, "invalid_field"),
        ({"reason": "because"}, 400, "invalid_field"),
        ({"observations": "text"}, 400, "unknown_field"),
        ({"device": 999_999}, 404, "not_found"),
    ],
)
def test_bad_discards_are_refused_and_nothing_is_audited(api, practitioner, change, status, code):
    device = enrol(api(practitioner))["device"]
    body = {"device": device["pk"], "count": 1, "records": [], "reason": "erase", **change}
    response = api(practitioner).post("/api/tablet/discard-unsent/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not AuditEvent.objects.filter(action="device_discard").exists()


def test_only_the_tablets_own_user_can_discard_its_work(api, practitioner, colleague):
    device = enrol(api(practitioner))["device"]
    body = {"device": device["pk"], "count": 1, "records": [], "reason": "erase"}
    # Someone else's device answers like a missing one, and the attempt is audited.
    assert api(colleague).post("/api/tablet/discard-unsent/", body, format="json").status_code == 404
    assert AuditEvent.objects.filter(action="read_denied", actor=colleague, object_id=device["id"]).exists()
    assert APIClient().post("/api/tablet/discard-unsent/", body, format="json").status_code == 401
    assert not AuditEvent.objects.filter(action="device_discard").exists()
