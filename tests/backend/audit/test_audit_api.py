"""The audit trail: admins query and export it; nobody can change or delete it."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import DatabaseError, connection, transaction

from backend.audit.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


def test_admin_filters_audit_events(api, admin_user, practitioner, case_id, visit_content):
    client = api(practitioner)
    created = client.post(f"/api/cases/{case_id}/visits/", {"content": visit_content}, format="json").json()
    client.get(f"/api/visits/{created['id']}/")
    admin = api(admin_user)
    reads = admin.get("/api/audit/?actor=amy.worker&action=read").json()
    assert reads["count"] == 1
    assert reads["results"][0]["object_id"] == created["id"]
    by_case = admin.get(f"/api/audit/?case_id={case_id}").json()
    assert {e["action"] for e in by_case["results"]} >= {"create", "read", "allocate"}


def test_non_admins_cannot_read_the_audit_trail(api, supervisor, practitioner):
    assert api(supervisor).get("/api/audit/").status_code == 403
    assert api(practitioner).get("/api/audit/export/").status_code == 403


def test_csv_export(api, admin_user, practitioner, case_id):
    response = api(admin_user).get(f"/api/audit/export/?case_id={case_id}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:5] == ["id", "at", "actor_username", "device_id", "action"]
    assert {r[4] for r in rows[1:]} >= {"create", "allocate"}


def test_csv_export_defuses_formulas(api, admin_user, db):
    AuditEvent.objects.create(
        at="2026-11-26T10:00:00Z", action=AuditAction.LOGIN_FAILED, actor_username="=HYPERLINK(1)"
    )
    body = api(admin_user).get("/api/audit/export/?action=login_failed").content.decode()
    assert "'=HYPERLINK(1)" in body


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_audit_api_is_read_only(api, admin_user, method):
    response = getattr(api(admin_user), method)("/api/audit/", {}, format="json")
    assert response.status_code == 405


def test_database_refuses_to_update_audit_events(admin_user):
    event = AuditEvent.objects.create(at="2026-11-26T10:00:00Z", action=AuditAction.LOGIN, actor=admin_user)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="logout")
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == AuditAction.LOGIN
