"""Overlapping text edits: the merged text a worker reads names people and local times, never
raw ids or ISO times; the supervisor keeps either version, both, or writes a reconciled text,
with a reason kept (encrypted) with the decision."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from backend.audit.models import AuditEvent
from backend.cases.services import allocation_add
from backend.review.models import ConflictItem
from tests.backend.syncapi.tablet import Tablet
from tests.conftest import actor

pytestmark = pytest.mark.django_db

RAW = re.compile(r"u:\d+|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture
def clash(
    api: Any, practitioner: Any, colleague: Any, supervisor: Any, case_id: str, visit_content: Any
) -> dict:
    """Amy and Jamie rewrite the same sentence of one visit's observations offline."""
    for user, first, last in ((practitioner, "Amy", "Worker"), (colleague, "Jamie", "Hussain")):
        user.first_name, user.last_name = first, last
        user.save()
    visit = (
        api(practitioner)
        .post(f"/api/cases/{case_id}/visits/", {"content": visit_content}, format="json")
        .json()
    )
    allocation_add(actor=actor(supervisor), case_id=case_id, user=colleague, role="co_worker")
    a, b = Tablet(practitioner, "a"), Tablet(colleague, "b")
    a.pull()
    b.pull()
    text = visit_content["observations"]
    a.push(
        [a.edit(visit["id"], {"observations": text.replace("Kitchen was clean.", "Kitchen was spotless.")})]
    )
    b.push([b.edit(visit["id"], {"observations": text.replace("Kitchen was clean.", "Kitchen was untidy.")})])
    [conflict] = api(supervisor).get("/api/review/queue/").json()["conflicts"]
    return {"visit": visit["id"], "conflict": conflict["id"]}


def test_the_merged_text_names_people_and_local_times_not_ids(
    api: Any, practitioner: Any, clash: dict
) -> None:
    shown = api(practitioner).get(f"/api/visits/{clash['visit']}/").json()["content"]["observations"]
    assert "Kitchen was spotless." in shown and "Kitchen was untidy." in shown
    assert "[Conflicting edit — Amy Worker, " in shown and "[Conflicting edit — Jamie Hussain, " in shown
    assert not RAW.search(shown), shown


def test_keeping_both_versions_needs_a_reason_and_writes_no_markers(
    api: Any, practitioner: Any, supervisor: Any, clash: dict
) -> None:
    url = f"/api/review/conflicts/{clash['conflict']}/decide/"
    missing = api(supervisor).post(url, {"both": True}, format="json")
    assert missing.status_code == 400 and missing.json()["field"] == "reason"
    two = api(supervisor).post(url, {"both": True, "choice": 0, "reason": "x"}, format="json")
    assert two.status_code == 400
    reason = "Both observations were true at different times of the visit."
    decided = api(supervisor).post(url, {"both": True, "reason": reason}, format="json")
    assert decided.status_code == 200, decided.json()
    text = decided.json()["content"]["observations"]
    assert text.startswith("Kitchen was spotless.\nKitchen was untidy.") and "[" not in text
    assert decided.json()["content"]["transitions"][-1]["comment"] == reason
    detail = api(supervisor).get(f"/api/review/conflicts/{clash['conflict']}/").json()
    assert detail["decision"] == "both" and detail["reason"] == reason
    assert detail["decided_by"]["role"] == "supervisor"
    assert {c["by"]["name"] for c in detail["candidates"]} == {"Amy Worker", "Jamie Hussain"}
    # The reason is case data: encrypted at rest, never in the audit trail.
    stored = ConflictItem.objects.get(pk=clash["conflict"])
    assert "Both observations" not in json.dumps(stored.reason_enc)
    assert not AuditEvent.objects.filter(detail__icontains="Both observations").exists()
    [item] = [
        i for i in api(practitioner).get("/api/attention/").json()["results"] if i["kind"] == "decision"
    ]
    assert item["title"].endswith("kept both versions of Observations") and item["comment"] == reason


def test_a_reconciled_text_or_one_version(
    api: Any, practitioner: Any, colleague: Any, supervisor: Any, clash: dict
) -> None:
    url = f"/api/review/conflicts/{clash['conflict']}/decide/"
    detail = api(supervisor).get(f"/api/review/conflicts/{clash['conflict']}/").json()
    own = api(supervisor).post(url, {"value": "Kitchen was tidy enough.", "reason": ""}, format="json")
    assert own.status_code == 400 and own.json()["field"] == "reason"
    reconciled = api(supervisor).post(
        url, {"value": "Kitchen was tidy enough.", "reason": "Spoke to both workers."}, format="json"
    )
    assert reconciled.status_code == 200
    assert reconciled.json()["content"]["observations"] == "Kitchen was tidy enough."
    [item] = [i for i in api(colleague).get("/api/attention/").json()["results"] if i["kind"] == "decision"]
    assert item["title"].endswith("wrote a reconciled text for Observations")
    assert item["comment"] == "Spoke to both workers."
    assert detail["candidates"][0]["value"] != detail["candidates"][1]["value"]


def test_both_is_for_text_fields_only(
    api: Any, practitioner: Any, colleague: Any, supervisor: Any, case_id: str, visit_content: Any
) -> None:
    visit = (
        api(practitioner)
        .post(f"/api/cases/{case_id}/visits/", {"content": visit_content}, format="json")
        .json()
    )
    allocation_add(actor=actor(supervisor), case_id=case_id, user=colleague, role="co_worker")
    a, b = Tablet(practitioner, "a"), Tablet(colleague, "b")
    a.pull()
    b.pull()
    a.push([a.edit(visit["id"], {"risk_level": "low"})])
    b.push([b.edit(visit["id"], {"risk_level": "critical"})])
    [conflict] = api(supervisor).get("/api/review/queue/").json()["conflicts"]
    refused = api(supervisor).post(
        f"/api/review/conflicts/{conflict['id']}/decide/", {"both": True, "reason": "x"}, format="json"
    )
    assert refused.status_code == 400 and refused.json()["field"] == "both"
    kept = api(supervisor).post(
        f"/api/review/conflicts/{conflict['id']}/decide/", {"choice": 0}, format="json"
    )
    assert kept.status_code == 200  # keeping one version needs no reason
