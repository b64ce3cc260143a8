"""A retiring device may still send and receives nothing more; a revoked one is told to lock."""

from __future__ import annotations

from typing import Any

import pytest

from backend.cases.services import allocation_add, case_create
from backend.keys.models import KeyEnvelope
from backend.records.services import document_create, document_read
from tests.conftest import actor

from .tablet import Tablet

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit_id(practitioner: Any, case_id: str, visit_content: dict[str, Any]) -> str:
    return document_create(
        actor=actor(practitioner), case_id=case_id, doc_type="visit", content=visit_content
    ).id


def _pk(tablet: Tablet) -> int:
    return int(tablet.device_id.removeprefix("d:"))


def test_a_retiring_device_sends_its_edits_and_receives_nothing(
    practitioner: Any,
    supervisor: Any,
    admin_user: Any,
    api: Any,
    case_id: str,
    visit_id: str,
    case_content: Any,
) -> None:
    tablet = Tablet(practitioner)
    tablet.pull()
    checkpoint = tablet.since
    edited = tablet.edit(visit_id, {"observations": "Written offline before the retirement."})
    assert api(admin_user).post(f"/api/devices/{_pk(tablet)}/retire/").json()["status"] == "retiring"
    # New work on the server after the order, and a newly allocated case.
    note = document_create(
        actor=actor(supervisor),
        case_id=case_id,
        doc_type="note",
        content={"category": "general", "text": "x"},
    )
    new_case = case_create(actor=actor(supervisor), team=supervisor.managed_teams.get(), content=case_content)
    allocation_add(actor=actor(supervisor), case_id=new_case.id, user=practitioner, role="lead")

    # Sending works as for an active device.
    assert tablet.get("/").status_code == 200
    missing = tablet.post("/_revs_diff", {visit_id: [edited["_rev"]]})
    assert missing.json()[visit_id]["missing"] == [edited["_rev"]]
    assert tablet.push([edited]) == []
    assert document_read(actor=actor(practitioner), doc_id=visit_id).rev == edited["_rev"]
    assert tablet.put("/_local/push-checkpoint", {"last_seq": 1}).status_code == 201

    # Nothing is delivered: no changes, no documents, no new key envelopes.
    for since in ("0", checkpoint):
        changes = tablet.get("/_changes", since=since, include_docs="true")
        assert changes.status_code == 200 and changes.json()["results"] == []
    assert tablet.get(f"/{visit_id}").status_code == 404
    assert tablet.get(f"/{note.id}").status_code == 404
    assert tablet.get("/_all_docs", include_docs="true").json()["rows"] == []
    bulk = tablet.post("/_bulk_get", {"docs": [{"id": visit_id}, {"id": note.id}, {"id": case_id}]}).json()
    assert all("error" in d for r in bulk["results"] for d in r["docs"])
    kid = next(iter(tablet.keys))
    assert (
        "error"
        in tablet.post("/_bulk_get", {"docs": [{"id": f"keyenv:{kid}"}]}).json()["results"][0]["docs"][0]
    )
    assert not KeyEnvelope.objects.filter(device_id=_pk(tablet), case_id=new_case.id).exists()


def test_a_revoked_device_is_told_to_lock_not_to_wipe(
    practitioner: Any, admin_user: Any, api: Any, case_id: str
) -> None:
    tablet = Tablet(practitioner)
    api(admin_user).post(f"/api/devices/{_pk(tablet)}/revoke/")
    for refused in (tablet.get("/_changes"), tablet.get("/"), tablet.post("/_bulk_docs", {"docs": []})):
        assert refused.status_code == 401
        assert refused.json() == {"error": "unauthorized", "reason": "device revoked", "lock": True}
    # Re-admitted, the tablet's user signs in again and it syncs as before.
    api(admin_user).post(f"/api/devices/{_pk(tablet)}/readmit/")
    renewed = api(practitioner).post(f"/api/devices/{_pk(tablet)}/token/")
    tablet.token = renewed.json()["token"]
    tablet.pull()
    assert case_id in tablet.docs
