"""A subject access request: an admin exports everything held about one person."""

from __future__ import annotations

from typing import Any

import pytest

from backend.audit.models import AuditAction, AuditEvent
from backend.records.services import document_create
from tests.conftest import actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(practitioner: Any, case_id: str, visit_content: dict[str, Any]) -> dict[str, str]:
    def create(doc_type: str, content: dict[str, Any]) -> str:
        return document_create(
            actor=actor(practitioner), case_id=case_id, doc_type=doc_type, content=content
        ).id

    amy = create("person", {"role": "child", "full_name": "Amy Okafor", "date_of_birth": "2016-04-02"})
    ben = create("person", {"role": "sibling", "full_name": "Ben Okafor"})
    with_amy = create(
        "visit",
        {
            **visit_content,
            "people_present": [{"id": amy, "name": "Amy Okafor"}],
            "children_seen": [{"person_id": amy, "seen": True, "seen_alone": True}],
        },
    )
    with_ben = create("visit", {**visit_content, "children_seen": [{"person_id": ben, "seen": True}]})
    note_on_amy = create("note", {"category": "general", "subject": "Amy Okafor", "text": "Called school."})
    note_on_visit = create("note", {"category": "general", "visit_id": with_amy, "text": "Follow-up."})
    note_on_ben = create("note", {"category": "general", "subject": "Ben Okafor", "text": "Dentist."})
    return {"amy": amy, "ben": ben, "with_amy": with_amy, "with_ben": with_ben, "note_on_amy": note_on_amy,
            "note_on_visit": note_on_visit, "note_on_ben": note_on_ben}  # fmt: skip


def test_admin_exports_what_is_held_about_one_person(
    api: Any, admin_user: Any, case_id: str, family: dict[str, str]
) -> None:
    response = api(admin_user).get(f"/api/people/{family['amy']}/export/")
    assert response.status_code == 200, response.json()
    assert "attachment" in response["Content-Disposition"]
    body = response.json()
    assert body["person"]["id"] == family["amy"]
    assert body["person"]["content"]["full_name"] == "Amy Okafor"  # decrypted
    assert body["case"]["id"] == case_id and body["case"]["content"]["family_name"] == "Okafor family"
    why = {record["id"]: record["why"] for record in body["records"]}
    assert why == {
        family["with_amy"]: ["listed as present at the visit", "listed among the children seen"],
        family["note_on_amy"]: ["the note's subject"],
        family["note_on_visit"]: ["about a visit they were part of"],
    }
    assert body["exported_by"] == admin_user.username
    event = AuditEvent.objects.get(action=AuditAction.EXPORT, object_id=family["amy"])
    assert event.actor == admin_user and event.case_id == case_id
    assert event.detail == {"records": 5}  # person, case and three records; never content


def test_only_admins_export_and_unknown_people_are_404(
    api: Any, practitioner: Any, supervisor: Any, admin_user: Any, family: dict[str, str]
) -> None:
    for user in (practitioner, supervisor):
        response = api(user).get(f"/api/people/{family['amy']}/export/")
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert api(admin_user).get("/api/people/person:01J00000000000000000000000/export/").status_code == 404
    assert api(admin_user).get(f"/api/people/{family['with_amy']}/export/").status_code == 404  # a visit
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()
