"""Django admin cannot write what must be audited: devices (status, user, tokens), allocations,
cases and team managers change only through the services; its device actions call them; what it
may still change (users, team members) is audited."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client

from backend.accounts.models import AuthToken, Device
from backend.accounts.services import token_issue
from backend.audit.models import AuditAction, AuditEvent
from backend.cases.models import Allocation, Case
from sync import generate_device_keypair

pytestmark = pytest.mark.django_db


@pytest.fixture
def site_admin(admin_user: Any) -> Client:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def device(practitioner: Any) -> Device:
    _, public = generate_device_keypair()
    secret, _ = token_issue(user=practitioner)
    response = Client().post(
        "/api/devices/",
        {"name": "Amy's iPad", "public_key": base64.b64encode(public).decode()},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {secret}",
    )
    return Device.objects.get(pk=response.json()["device"]["pk"])


def _snapshot(device: Device) -> tuple[Any, ...]:
    device.refresh_from_db()
    tokens = sorted(AuthToken.objects.filter(device=device).values_list("key_hash", "revoked_at"))
    return device.status, device.user_id, device.wipe_ordered_at, tokens


def test_the_device_page_is_read_only(site_admin: Client, device: Device, colleague: Any) -> None:
    before = _snapshot(device)
    page = site_admin.get(f"/admin/accounts/device/{device.pk}/change/")
    assert page.status_code == 200 and b'name="status"' not in page.content
    forged = {"name": "x", "user": colleague.pk, "status": "wipe_pending", "public_key": device.public_key}
    assert site_admin.post(f"/admin/accounts/device/{device.pk}/change/", forged).status_code == 403
    assert site_admin.post(f"/admin/accounts/device/{device.pk}/delete/", {"post": "yes"}).status_code == 403
    assert site_admin.post("/admin/accounts/device/add/", forged).status_code == 403
    assert site_admin.get("/admin/accounts/authtoken/").status_code == 404  # tokens are not in admin
    bulk_delete = {"action": "delete_selected", "_selected_action": [device.pk], "post": "yes"}
    site_admin.post("/admin/accounts/device/", bulk_delete)
    assert _snapshot(device) == before
    assert not AuditEvent.objects.exclude(action=AuditAction.DEVICE_ENROL).exists()


@pytest.mark.parametrize(
    ("action", "status", "audited"),
    [
        ("device_retire", "retiring", AuditAction.DEVICE_RETIRE),
        ("device_revoke", "revoked", AuditAction.DEVICE_REVOKE),
        ("device_wipe", "wipe_pending", AuditAction.DEVICE_WIPE),
    ],
)
def test_admin_actions_go_through_the_service_and_are_audited(
    site_admin: Client, device: Device, admin_user: Any, action: str, status: str, audited: str
) -> None:
    response = site_admin.post("/admin/accounts/device/", {"action": action, "_selected_action": [device.pk]})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.status == status
    event = AuditEvent.objects.get(action=audited, object_id=f"d:{device.pk}")
    assert event.actor == admin_user and event.detail["from"] == "active"


def test_readmit_action_and_a_refused_move_is_reported(site_admin: Client, device: Device) -> None:
    site_admin.post("/admin/accounts/device/", {"action": "device_revoke", "_selected_action": [device.pk]})
    page = site_admin.post(
        "/admin/accounts/device/", {"action": "device_retire", "_selected_action": [device.pk]}, follow=True
    )
    assert "revoked: it cannot be retired" in page.content.decode()
    site_admin.post("/admin/accounts/device/", {"action": "device_readmit", "_selected_action": [device.pk]})
    device.refresh_from_db()
    assert device.status == "active" and device.revoked_at is None
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_READMIT, object_id=f"d:{device.pk}").exists()


def test_a_staff_user_who_is_not_an_admin_cannot_order_a_wipe(device: Device, supervisor: Any) -> None:
    supervisor.is_staff = supervisor.is_superuser = True
    supervisor.save()
    client = Client()
    client.force_login(supervisor)
    client.post("/admin/accounts/device/", {"action": "device_wipe", "_selected_action": [device.pk]})
    device.refresh_from_db()
    assert device.status == "active"


def test_cases_allocations_and_teams_cannot_be_changed_or_deleted(
    site_admin: Client, case_id: str, practitioner: Any, team: Any
) -> None:
    allocation = Allocation.objects.get(case_id=case_id)
    ended_before = allocation.ended_at
    assert (
        site_admin.post(f"/admin/cases/allocation/{allocation.pk}/change/", {"role": "x"}).status_code == 403
    )
    assert (
        site_admin.post(f"/admin/cases/allocation/{allocation.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    case = Case.objects.get(pk=case_id)
    assert site_admin.post(f"/admin/cases/case/{case.pk}/delete/", {"post": "yes"}).status_code == 403
    assert site_admin.post(f"/admin/accounts/team/{team.pk}/delete/", {"post": "yes"}).status_code == 403
    allocation.refresh_from_db()
    assert allocation.ended_at == ended_before and Case.objects.filter(pk=case_id).exists()


def _admin_edits(object_type: str, object_id: Any) -> list[dict[str, Any]]:
    events = AuditEvent.objects.filter(action=AuditAction.ADMIN_EDIT, object_type=object_type)
    return [e.detail for e in events.filter(object_id=str(object_id)).order_by("pk")]


def test_a_role_change_and_a_password_reset_in_django_admin_are_audited(
    site_admin: Client, practitioner: Any
) -> None:
    """A user's role decides what they may read; changing it (or their password) in Django admin
    leaves an ``admin_edit`` event naming the fields, never their values."""
    form = {
        "username": practitioner.username,
        "first_name": practitioner.first_name,
        "last_name": practitioner.last_name,
        "email": "",
        "is_active": "on",
        "role": "admin",
        "job_title": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "09:00:00",
    }
    response = site_admin.post(f"/admin/accounts/user/{practitioner.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    practitioner.refresh_from_db()
    assert practitioner.role == "admin"
    (edit,) = _admin_edits("user", practitioner.pk)
    assert edit["change"] == "changed" and "Role" in str(edit["what"])
    password = {
        "password1": "a-new-Passw0rd-2026",
        "password2": "a-new-Passw0rd-2026",
        "usable_password": "true",
    }
    response = site_admin.post(f"/admin/accounts/user/{practitioner.pk}/password/", password)
    assert response.status_code == 302, response.content[:2000]
    edits = _admin_edits("user", practitioner.pk)
    assert len(edits) == 2 and "a-new-Passw0rd-2026" not in str(edits)


def test_team_membership_changed_in_django_admin_is_audited(
    site_admin: Client, team: Any, practitioner: Any, colleague: Any
) -> None:
    team.members.add(colleague)
    page = site_admin.get(f"/admin/accounts/team/{team.pk}/change/")
    assert page.status_code == 200
    prefix = page.context["inline_admin_formsets"][0].formset.prefix
    form = {
        "name": team.name,
        "service": team.service,
        "members": [colleague.pk],  # the practitioner leaves the team
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
    }
    response = site_admin.post(f"/admin/accounts/team/{team.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    assert set(team.members.values_list("pk", flat=True)) == {colleague.pk}
    (edit,) = _admin_edits("team", team.pk)
    assert edit["change"] == "changed" and "Members" in str(edit["what"])
