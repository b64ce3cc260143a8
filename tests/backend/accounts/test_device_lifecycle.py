"""The device lifecycle over HTTP: retire (send, then erase), revoke (lock, keep sealed),
re-admit, wipe; check-in; every move audited; other people's devices answered like missing ones."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import Device
from backend.audit.models import AuditAction, AuditEvent
from sync import generate_device_keypair

pytestmark = pytest.mark.django_db


def enrol(client: APIClient, name: str = "Amy's iPad") -> tuple[int, APIClient]:
    _, public = generate_device_keypair()
    response = client.post(
        "/api/devices/",
        {"name": name, "public_key": base64.b64encode(public).decode(), "app_version": "1.0"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    device = APIClient()
    device.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return response.json()["device"]["pk"], device


def checkin(device: APIClient, unsent: int = 0) -> Any:
    return device.post(
        "/api/devices/me/checkin/",
        {"unsent": unsent, "client_time": "2026-12-04T10:00:00.000Z"},
        format="json",
    )


def events(pk: int) -> list[tuple[str, Any]]:
    return [
        (e.action, e.actor.username if e.actor else None)
        for e in AuditEvent.objects.filter(object_id=f"d:{pk}").order_by("id")
    ]


def test_checkin_reports_status_clock_and_stores_unsent(api, practitioner, admin_user):
    pk, device = enrol(api(practitioner))
    answer = checkin(device, unsent=3)
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["id"] == pk and body["name"] == "Amy's iPad"
    assert body["status"] == "active" and body["instruction"] is None
    assert body["server_time"].endswith("Z") and len(body["server_time"]) == len("2026-12-04T10:00:00.000Z")
    datetime.fromisoformat(body["server_time"])
    listed = {d["pk"]: d for d in api(admin_user).get("/api/devices/").json()}[pk]
    assert listed["unsent_reported"] == 3 and listed["unsent_reported_at"] and listed["last_seen_at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"unsent": -1, "client_time": "2026-12-04T10:00:00Z"}, "unsent"),
        ({"unsent": "many", "client_time": "2026-12-04T10:00:00Z"}, "unsent"),
        ({"unsent": 1, "client_time": "yesterday"}, "client_time"),
        ({"unsent": 1}, "client_time"),
        ({"unsent": 1, "client_time": "2026-12-04T10:00:00Z", "extra": 1}, None),
    ],
)
def test_bad_checkin_is_a_clear_400_and_stores_nothing(api, practitioner, body, field):
    pk, device = enrol(api(practitioner))
    answer = device.post("/api/devices/me/checkin/", body, format="json")
    assert answer.status_code == 400
    if field is None:
        assert answer.json()["code"] == "unknown_field"
    else:
        assert answer.json()["field"] == field
    assert Device.objects.get(pk=pk).unsent_reported is None


def test_checkin_needs_the_device_token(api, practitioner):
    enrol(api(practitioner))
    answer = api(practitioner).post(
        "/api/devices/me/checkin/", {"unsent": 0, "client_time": "2026-12-04T10:00:00Z"}, format="json"
    )
    assert answer.status_code == 403 and answer.json()["code"] == "permission_denied"


def test_retire_lets_the_device_send_then_it_erases_and_confirms(api, practitioner, admin_user):
    pk, device = enrol(api(practitioner))
    checkin(device, unsent=2)
    assert api(practitioner).post(f"/api/devices/{pk}/retire/").status_code == 403  # admins only
    retired = api(admin_user).post(f"/api/devices/{pk}/retire/")
    assert retired.status_code == 200
    shown = retired.json()
    assert shown["status"] == "retiring" and shown["retire_ordered_at"]
    assert shown["unsent_reported"] == 2 and "last_sync_at" in shown  # what the server knows
    # Its token still works (it must send); check-in tells it what to do.
    assert device.get("/api/me/").status_code == 200
    told = checkin(device, unsent=2).json()
    assert told["status"] == "retiring" and told["instruction"] == "send_then_erase"
    # After erasing it confirms; its tokens stop.
    assert device.post("/api/devices/wiped/").status_code == 204
    assert Device.objects.get(pk=pk).status == "wiped"
    assert device.get("/api/me/").status_code == 401
    confirmed = AuditEvent.objects.get(action=AuditAction.DEVICE_WIPED, object_id=f"d:{pk}")
    assert confirmed.detail == {"outcome": "retired"}
    assert events(pk) == [
        ("device_enrol", "amy.worker"),
        ("device_retire", "ida.admin"),
        ("device_wiped", "amy.worker"),
    ]


def test_revoke_locks_keeps_data_then_readmit_lets_the_user_sign_in_again(api, practitioner, admin_user):
    pk, device = enrol(api(practitioner))
    assert api(practitioner).post(f"/api/devices/{pk}/revoke/").json()["status"] == "revoked"
    refused = device.get("/api/me/")
    assert refused.status_code == 401
    assert refused.json()["code"] == "device_revoked" and refused.json()["lock"] is True
    assert "wipe" not in refused.json()
    # A revoked device is not told to wipe, and cannot claim it did.
    assert device.post("/api/devices/wiped/").status_code == 404
    assert api(practitioner).post(f"/api/devices/{pk}/token/").status_code == 401
    assert api(practitioner).post(f"/api/devices/{pk}/readmit/").status_code == 403
    readmitted = api(admin_user).post(f"/api/devices/{pk}/readmit/")
    assert readmitted.status_code == 200 and readmitted.json()["status"] == "active"
    # The old token stays dead; the user signs in on the tablet again for a new one.
    old = device.get("/api/me/")
    assert old.status_code == 401 and old.json()["code"] == "authentication_failed"
    renewed = api(practitioner).post(f"/api/devices/{pk}/token/")
    assert renewed.status_code == 200
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Token {renewed.json()['token']}")
    assert checkin(fresh).json()["status"] == "active"
    assert [a for a, _ in events(pk)] == ["device_enrol", "device_revoke", "device_readmit"]


def test_wipe_after_revoke_tells_the_device_to_erase(api, practitioner, admin_user):
    pk, device = enrol(api(practitioner))
    api(admin_user).post(f"/api/devices/{pk}/revoke/")
    assert api(admin_user).post(f"/api/devices/{pk}/wipe/").json()["status"] == "wipe_pending"
    assert device.get("/api/me/").json()["wipe"] is True
    assert device.post("/api/devices/wiped/").status_code == 204
    assert AuditEvent.objects.get(action=AuditAction.DEVICE_WIPED, object_id=f"d:{pk}").detail == {
        "outcome": "wiped"
    }


@pytest.mark.parametrize(
    ("before", "move"),
    [
        ("wiped", "retire"),
        ("revoked", "retire"),
        ("retiring", "readmit"),
        ("wipe_pending", "readmit"),
        ("wiped", "wipe"),
        ("wipe_pending", "revoke"),
    ],
)
def test_a_move_from_the_wrong_status_is_a_409_and_changes_nothing(
    api, practitioner, admin_user, before, move
):
    pk, _ = enrol(api(practitioner))
    Device.objects.filter(pk=pk).update(status=before)
    count = AuditEvent.objects.count()
    answer = api(admin_user).post(f"/api/devices/{pk}/{move}/")
    assert answer.status_code == 409 and answer.json()["code"] == "conflict"
    assert Device.objects.get(pk=pk).status == before and AuditEvent.objects.count() == count


def test_a_move_ordered_twice_changes_nothing_more(api, practitioner, admin_user):
    pk, _ = enrol(api(practitioner))
    first = api(admin_user).post(f"/api/devices/{pk}/retire/").json()
    again = api(admin_user).post(f"/api/devices/{pk}/retire/")
    assert again.status_code == 200 and again.json()["retire_ordered_at"] == first["retire_ordered_at"]
    assert [a for a, _ in events(pk)].count("device_retire") == 1


@pytest.mark.parametrize("move", ["retire", "revoke", "readmit", "wipe", "token"])
def test_someone_elses_device_is_answered_like_a_missing_one_and_audited(api, practitioner, colleague, move):
    pk, _ = enrol(api(colleague), "Ben's iPad")
    missing = api(practitioner).post(f"/api/devices/{pk + 1000}/{move}/")
    theirs = api(practitioner).post(f"/api/devices/{pk}/{move}/")
    assert (
        (theirs.status_code, theirs.json())
        == (missing.status_code, missing.json())
        == (
            404,
            {"code": "not_found", "message": "device not found"},
        )
    )
    denied = AuditEvent.objects.get(action=AuditAction.READ_DENIED)
    assert denied.actor == practitioner and denied.object_id == f"d:{pk}"
    assert Device.objects.get(pk=pk).status == "active"
