"""Device enrolment, listing, token renewal, revocation and wipe over the HTTP API."""

from __future__ import annotations

import base64

import pytest

from backend.audit.models import AuditAction, AuditEvent
from sync import generate_device_keypair

pytestmark = pytest.mark.django_db


def enrol(client, name="Tablet 1"):
    _, public = generate_device_keypair()
    return client.post(
        "/api/devices/",
        {"name": name, "public_key": base64.b64encode(public).decode(), "app_version": "1.0"},
        format="json",
    )


def test_enrol_returns_a_device_token_that_works(api, practitioner):
    response = enrol(api(practitioner))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["device"]["id"].startswith("d:") and body["device"]["status"] == "active"
    assert body["token"].startswith("dst_")
    from rest_framework.test import APIClient

    device_client = APIClient()
    device_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert device_client.get("/api/me/").status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_ENROL, actor=practitioner).exists()
    # A device token cannot enrol further devices.
    assert enrol(device_client).status_code == 403


@pytest.mark.parametrize("key", ["not base64!", base64.b64encode(b"short").decode(), ""])
def test_bad_public_key_is_400(api, practitioner, key):
    response = api(practitioner).post("/api/devices/", {"name": "x", "public_key": key}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "public_key"


def test_users_see_their_devices_admins_see_all(api, practitioner, colleague, admin_user):
    enrol(api(practitioner), "Amy's tablet")
    enrol(api(colleague), "Ben's tablet")
    assert [d["name"] for d in api(practitioner).get("/api/devices/").json()] == ["Amy's tablet"]
    assert len(api(admin_user).get("/api/devices/").json()) == 2


def test_revoke_and_wipe(api, practitioner, colleague, admin_user):
    body = enrol(api(practitioner)).json()
    pk = body["device"]["pk"]
    assert api(colleague).post(f"/api/devices/{pk}/revoke/").status_code == 404
    assert api(practitioner).post(f"/api/devices/{pk}/wipe/").status_code == 403
    revoked = api(practitioner).post(f"/api/devices/{pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    from rest_framework.test import APIClient

    device_client = APIClient()
    device_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    refused = device_client.get("/api/me/")
    assert refused.status_code == 401
    # Revoked is not wiped: the tablet locks and keeps its data sealed.
    assert refused.json()["code"] == "device_revoked" and refused.json()["lock"] is True
    assert "wipe" not in refused.json()
    wiped = api(admin_user).post(f"/api/devices/{pk}/wipe/")
    assert wiped.json()["status"] == "wipe_pending" and wiped.json()["wipe_ordered_at"]
    refused = device_client.get("/api/me/")
    assert refused.status_code == 401 and refused.json()["wipe"] is True and "lock" not in refused.json()
    actions = set(AuditEvent.objects.filter(object_id=f"d:{pk}").values_list("action", flat=True))
    assert {AuditAction.DEVICE_ENROL, AuditAction.DEVICE_REVOKE, AuditAction.DEVICE_WIPE} <= actions


def test_token_renewal_replaces_the_old_token(api, practitioner):
    body = enrol(api(practitioner)).json()
    renewed = api(practitioner).post(f"/api/devices/{body['device']['pk']}/token/")
    assert renewed.status_code == 200
    from rest_framework.test import APIClient

    old, new = APIClient(), APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    new.credentials(HTTP_AUTHORIZATION=f"Token {renewed.json()['token']}")
    assert old.get("/api/me/").status_code == 401
    assert new.get("/api/me/").status_code == 200


def test_wiped_device_confirms_with_its_revoked_token(api, practitioner, admin_user):
    from rest_framework.test import APIClient

    body = enrol(api(practitioner)).json()
    pk = body["device"]["pk"]
    device = APIClient()
    device.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert device.post("/api/devices/wiped/").status_code == 404  # not ordered to wipe
    api(admin_user).post(f"/api/devices/{pk}/wipe/")
    assert device.post("/api/devices/wiped/").status_code == 204
    listed = {d["pk"]: d for d in api(admin_user).get("/api/devices/").json()}
    assert listed[pk]["status"] == "wiped"
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_WIPED, object_id=f"d:{pk}").exists()
    assert APIClient().post("/api/devices/wiped/").status_code == 401
