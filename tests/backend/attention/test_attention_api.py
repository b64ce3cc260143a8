""" "For your attention" and the names directory over HTTP: returned visits with the
supervisor's comment, decided conflicts, addenda and their status, late edits, cases removed;
names and dates in every title, never ids; dismissals kept."""

from __future__ import annotations

import re
from typing import Any

import pytest

from backend.audit.models import AuditAction, AuditEvent
from backend.cases.models import Allocation, Case
from backend.cases.services import allocation_add, allocation_end
from tests.backend.syncapi.tablet import Tablet
from tests.conftest import actor

pytestmark = pytest.mark.django_db

RAW_ID = re.compile(r"u:\d|d:\d|visit:|case:|addendum:|\d{4}-\d{2}-\d{2}T")


@pytest.fixture(autouse=True)
def _names(practitioner: Any, colleague: Any, supervisor: Any) -> None:
    for user, first, last in (
        (practitioner, "Amy", "Worker"),
        (colleague, "Jamie", "Hussain"),
        (supervisor, "Lorraine", "Gray"),
    ):
        user.first_name, user.last_name = first, last
        user.save()


@pytest.fixture
def visit(api: Any, practitioner: Any, case_id: str, visit_content: dict[str, Any]) -> dict[str, Any]:
    content = {**visit_content, "visit_date": "2026-12-03T10:00:00Z"}
    response = api(practitioner).post(f"/api/cases/{case_id}/visits/", {"content": content}, format="json")
    assert response.status_code == 201
    return response.json()


def items(client: Any) -> list[dict[str, Any]]:
    response = client.get("/api/attention/")
    assert response.status_code == 200, response.json()
    found = response.json()["results"]
    for item in found:
        assert not RAW_ID.search(item["title"]), item["title"]
    return found


def _submit(api: Any, user: Any, visit_id: str, rev: str) -> str:
    response = api(user).post(f"/api/visits/{visit_id}/submit/", {"rev": rev}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["rev"]


def test_a_returned_visit_is_listed_with_the_supervisors_comment_until_dismissed(
    api: Any, practitioner: Any, supervisor: Any, colleague: Any, visit: dict[str, Any]
) -> None:
    rev = _submit(api, practitioner, visit["id"], visit["rev"])
    api(supervisor).post(
        f"/api/visits/{visit['id']}/return/",
        {"rev": rev, "comment": "Add the child's own words."},
        format="json",
    )
    [item] = items(api(practitioner))
    assert item["kind"] == "returned" and item["record_id"] == visit["id"] and item["record_type"] == "visit"
    assert item["title"] == "Lorraine Gray (supervisor) returned your visit of 3 December"
    assert item["comment"] == "Add the child's own words."
    assert item["by"] == {"id": supervisor.ref, "name": "Lorraine Gray", "role": "supervisor"}
    assert item["case_number"] == Case.objects.get(pk=item["case_id"]).case_number
    assert item["status"] == "returned"
    assert items(api(colleague)) == []  # their own items only
    read = AuditEvent.objects.filter(action=AuditAction.READ, actor=practitioner, detail__via="attention")
    assert read.count() == 1  # the comment is case content: its reading is audited

    assert api(colleague).post(f"/api/attention/{item['id']}/dismiss/").status_code == 404
    assert api(practitioner).post(f"/api/attention/{item['id']}/dismiss/").status_code == 204
    assert api(practitioner).post(f"/api/attention/{item['id']}/dismiss/").status_code == 204
    assert items(api(practitioner)) == []
    assert api(practitioner).post("/api/attention/returned:999999/dismiss/").status_code == 404


def test_a_coworkers_edit_after_sign_off_is_listed_to_its_author_with_the_addendums_status(
    api: Any, practitioner: Any, colleague: Any, supervisor: Any, case_id: str, visit: dict[str, Any]
) -> None:
    allocation_add(actor=actor(supervisor), case_id=case_id, user=colleague, role="co_worker")
    tablet = Tablet(colleague)
    tablet.pull()
    edited = tablet.edit(visit["id"], {"analysis": "Written offline by the co-worker."})
    rev = _submit(api, practitioner, visit["id"], visit["rev"])
    signed = api(supervisor).post(f"/api/visits/{visit['id']}/sign-off/", {"rev": rev}, format="json")
    assert signed.status_code == 200
    assert tablet.push([edited]) == []

    [item] = items(api(colleague))
    assert item["kind"] == "addendum" and item["status"] == "awaiting supervisor"
    assert item["title"] == (
        "Your edit to the visit of 3 December arrived after it was signed off: "
        "it was kept as an addendum, awaiting the supervisor"
    )
    assert items(api(practitioner)) == []  # the visit's author did not write the addendum
    addendum_text = api(supervisor).get(f"/api/addenda/{item['record_id']}/").json()["content"]["text"]
    assert addendum_text.startswith("Jamie Hussain edited this visit offline on ")
    assert "Analysis" in addendum_text and not RAW_ID.search(addendum_text)
    addendum = api(supervisor).get(f"/api/addenda/{item['record_id']}/").json()
    api(supervisor).post(
        f"/api/addenda/{item['record_id']}/acknowledge/", {"rev": addendum["rev"]}, format="json"
    )

    [acknowledged] = items(api(colleague))
    assert acknowledged["status"] == "acknowledged" and acknowledged["id"] != item["id"]
    assert acknowledged["title"] == "Lorraine Gray acknowledged your addendum to the visit of 3 December"
    assert acknowledged["by"]["name"] == "Lorraine Gray"


def test_a_decided_conflict_says_whose_version_was_kept(
    api: Any, practitioner: Any, colleague: Any, supervisor: Any, case_id: str, visit: dict[str, Any]
) -> None:
    allocation_add(actor=actor(supervisor), case_id=case_id, user=colleague, role="co_worker")
    a, b = Tablet(practitioner, "a"), Tablet(colleague, "b")
    a.pull()
    b.pull()
    a.push([a.edit(visit["id"], {"risk_level": "low"})])
    b.push([b.edit(visit["id"], {"risk_level": "critical"})])
    [conflict] = api(supervisor).get("/api/review/queue/").json()["conflicts"]
    detail = api(supervisor).get(f"/api/review/conflicts/{conflict['id']}/").json()
    jamie = [c["author"] for c in detail["candidates"]].index(colleague.ref)
    decided = api(supervisor).post(
        f"/api/review/conflicts/{conflict['id']}/decide/", {"choice": jamie}, format="json"
    )
    assert decided.status_code == 200

    [mine] = [i for i in items(api(practitioner)) if i["kind"] == "decision"]
    assert mine["title"] == (
        "Lorraine Gray decided the conflict in your visit of 3 December: kept Jamie Hussain's version of Risk level"
    )
    [theirs] = [i for i in items(api(colleague)) if i["kind"] == "decision"]
    assert theirs["title"].endswith("kept your version of Risk level")


def test_late_edits_and_removed_cases_are_listed(
    api: Any, practitioner: Any, supervisor: Any, case_id: str, visit: dict[str, Any]
) -> None:
    tablet = Tablet(practitioner)
    tablet.pull()
    edited = tablet.edit(visit["id"], {"analysis": "Written offline."})
    allocation = Allocation.objects.get(case_id=case_id, user=practitioner)
    allocation_end(actor=actor(supervisor), allocation_id=allocation.pk)
    assert tablet.push([edited]) == []

    found = {i["kind"]: i for i in items(api(practitioner))}
    number = Case.objects.get(pk=case_id).case_number
    assert found["late_edit"]["title"] == (
        f"Your edit to the visit of 3 December on case {number} reached the server after your "
        "allocation ended: it was kept and shown to the supervisor"
    )
    removed = found["case_removed"]
    assert re.fullmatch(
        rf"Case {number} was removed from this tablet on \d{{1,2}} [A-Z][a-z]+: allocation ended",
        removed["title"],
    )
    assert removed["by"]["name"] == "Lorraine Gray" and removed["record_id"] is None


def test_the_directory_names_the_people_and_devices_of_my_teams(
    api: Any, practitioner: Any, colleague: Any, supervisor: Any, other_supervisor: Any, admin_user: Any
) -> None:
    tablet = Tablet(colleague, "Jamie's iPad")
    body = api(practitioner).get("/api/directory/").json()
    assert {u["id"]: u["name"] for u in body["users"]} == {
        practitioner.ref: "Amy Worker",
        colleague.ref: "Jamie Hussain",
        supervisor.ref: "Lorraine Gray",
    }
    assert {"id": supervisor.ref, "name": "Lorraine Gray", "role": "supervisor"} in body["users"]
    assert body["devices"] == [{"id": tablet.device_id, "name": "Jamie's iPad", "user": colleague.ref}]
    everyone = {u["id"] for u in api(admin_user).get("/api/directory/").json()["users"]}
    assert {other_supervisor.ref, admin_user.ref, practitioner.ref} <= everyone


@pytest.mark.parametrize("item_id", ["a%00b", "returned:%ED%A0%80", "x" * 300, "decision:1%00"])
def test_a_hostile_item_id_is_a_clear_4xx(api: Any, practitioner: Any, item_id: str) -> None:
    response = api(practitioner).post(f"/api/attention/{item_id}/dismiss/")
    assert 400 <= response.status_code < 500 and "code" in response.json()
