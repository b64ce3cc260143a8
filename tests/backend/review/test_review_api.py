"""Supervisor review through the HTTP API: workflow transitions, queue, conflict decisions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from backend.audit.models import AuditAction, AuditEvent
from backend.cases.models import Case
from backend.cases.services import allocation_add
from backend.cases.workdays import add_working_days, working_days_between
from backend.review.models import ConflictItem
from tests.backend.syncapi.tablet import Tablet
from tests.conftest import actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(api, practitioner, case_id, visit_content):
    response = api(practitioner).post(
        f"/api/cases/{case_id}/visits/", {"content": visit_content}, format="json"
    )
    assert response.status_code == 201
    return response.json()


def test_submit_sign_off_and_immutability(api, practitioner, supervisor, visit):
    worker, manager = api(practitioner), api(supervisor)
    submitted = worker.post(f"/api/visits/{visit['id']}/submit/", {"rev": visit["rev"]}, format="json")
    assert submitted.status_code == 200, submitted.json()
    body = submitted.json()
    assert body["content"]["status"] == "submitted" and body["content"]["submitted_at"]
    assert body["content"]["transitions"][-1]["action"] == "submit"
    assert (
        worker.post(f"/api/visits/{visit['id']}/sign-off/", {"rev": body["rev"]}, format="json").status_code
        == 403
    )
    signed = manager.post(
        f"/api/visits/{visit['id']}/sign-off/", {"rev": body["rev"], "comment": "Good work"}, format="json"
    )
    assert signed.status_code == 200, signed.json()
    signed_body = signed.json()
    assert signed_body["content"]["status"] == "signed_off"
    assert signed_body["content"]["signed_off_by"] == supervisor.ref
    assert signed_body["content"]["transitions"][-1] == {
        **signed_body["content"]["transitions"][-1],
        "action": "sign_off",
        "comment": "Good work",
    }
    edit = worker.patch(
        f"/api/visits/{visit['id']}/",
        {"rev": signed_body["rev"], "content": {"analysis": "late"}},
        format="json",
    )
    assert edit.status_code == 409
    assert "addendum" in edit.json()["message"]
    actions = set(AuditEvent.objects.filter(object_id=visit["id"]).values_list("action", flat=True))
    assert {AuditAction.SUBMIT, AuditAction.SIGN_OFF} <= actions


def test_return_needs_a_comment_and_can_be_resubmitted(api, practitioner, supervisor, visit):
    worker, manager = api(practitioner), api(supervisor)
    rev = worker.post(f"/api/visits/{visit['id']}/submit/", {"rev": visit["rev"]}, format="json").json()[
        "rev"
    ]
    no_comment = manager.post(f"/api/visits/{visit['id']}/return/", {"rev": rev}, format="json")
    assert no_comment.status_code == 400 and no_comment.json()["field"] == "comment"
    returned = manager.post(
        f"/api/visits/{visit['id']}/return/", {"rev": rev, "comment": "Add the child's words."}, format="json"
    )
    assert returned.status_code == 200
    assert returned.json()["content"]["status"] == "returned"
    again = worker.post(f"/api/visits/{visit['id']}/submit/", {"rev": returned.json()["rev"]}, format="json")
    assert again.status_code == 200 and again.json()["content"]["status"] == "submitted"
    assert [t["action"] for t in again.json()["content"]["transitions"]] == ["submit", "return", "submit"]


def test_only_the_teams_supervisor_can_sign_off(api, practitioner, other_supervisor, visit):
    rev = (
        api(practitioner)
        .post(f"/api/visits/{visit['id']}/submit/", {"rev": visit["rev"]}, format="json")
        .json()["rev"]
    )
    response = api(other_supervisor).post(f"/api/visits/{visit['id']}/sign-off/", {"rev": rev}, format="json")
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.READ_DENIED, actor=other_supervisor).exists()


def test_queue_lists_awaiting_visits_and_overdue_cases(api, practitioner, supervisor, case_id, visit):
    api(practitioner).post(f"/api/visits/{visit['id']}/submit/", {"rev": visit["rev"]}, format="json")
    # The case opened long ago and has no submitted visit since: overdue.
    Case.objects.filter(pk=case_id).update(
        opened_on=timezone.localdate() - timedelta(days=60), last_visit_on=None
    )
    queue = api(supervisor).get("/api/review/queue/").json()
    assert [v["id"] for v in queue["awaiting_sign_off"]] == [visit["id"]]
    assert [c["case_id"] for c in queue["overdue"]] == [case_id]
    assert queue["overdue"][0]["working_days_overdue"] > 0
    assert api(practitioner).get("/api/review/queue/").status_code == 403


def _conflicting_edits(practitioner, colleague, supervisor, case_id, visit_id):
    """Two devices set the risk level differently while offline, then both sync."""
    allocation_add(actor=actor(supervisor), case_id=case_id, user=colleague, role="co_worker")
    a, b = Tablet(practitioner, "a"), Tablet(colleague, "b")
    a.pull()
    b.pull()
    a.push([a.edit(visit_id, {"risk_level": "low"})])
    b.push([b.edit(visit_id, {"risk_level": "critical"})])


def test_deciding_a_conflict(api, practitioner, colleague, supervisor, case_id, visit):
    _conflicting_edits(practitioner, colleague, supervisor, case_id, visit["id"])
    assert ConflictItem.objects.count() == 1
    manager = api(supervisor)
    queue = manager.get("/api/review/queue/").json()
    assert len(queue["conflicts"]) == 1
    conflict = queue["conflicts"][0]
    assert conflict["field"] == "risk_level" and "value" not in conflict["candidates"][0]
    detail = manager.get(f"/api/review/conflicts/{conflict['id']}/").json()
    assert sorted(c["value"] for c in detail["candidates"]) == ["critical", "low"]
    assert {c["author"] for c in detail["candidates"]} == {practitioner.ref, colleague.ref}
    # Sign-off waits for the decision.
    current = api(practitioner).get(f"/api/visits/{visit['id']}/").json()
    assert current["decisions_pending"] == ["risk_level"] and current["content"]["risk_level"] == "critical"
    submitted = (
        api(practitioner)
        .post(f"/api/visits/{visit['id']}/submit/", {"rev": current["rev"]}, format="json")
        .json()
    )
    refused = manager.post(f"/api/visits/{visit['id']}/sign-off/", {"rev": submitted["rev"]}, format="json")
    assert refused.status_code == 409 and refused.json()["field"] == "decisions_pending"
    assert (
        api(practitioner)
        .post(f"/api/review/conflicts/{conflict['id']}/decide/", {"choice": 0}, format="json")
        .status_code
        == 403
    )
    bad = manager.post(
        f"/api/review/conflicts/{conflict['id']}/decide/", {"value": "apocalyptic"}, format="json"
    )
    assert bad.status_code == 400
    low_index = [c["value"] for c in detail["candidates"]].index("low")
    decided = manager.post(
        f"/api/review/conflicts/{conflict['id']}/decide/", {"choice": low_index}, format="json"
    )
    assert decided.status_code == 200, decided.json()
    assert decided.json()["content"]["risk_level"] == "low"
    assert decided.json()["decisions_pending"] == []
    assert decided.json()["content"]["updated_by"] == supervisor.ref
    assert manager.get("/api/review/queue/").json()["conflicts"] == []
    again = manager.post(f"/api/review/conflicts/{conflict['id']}/decide/", {"choice": 0}, format="json")
    assert again.status_code == 409
    assert AuditEvent.objects.filter(action=AuditAction.CONFLICT_DECIDED, object_id=visit["id"]).exists()


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 11, 20), 1, date(2026, 11, 23)),  # Friday + 1 → Monday
        (date(2026, 11, 23), 10, date(2026, 12, 7)),  # child protection: two working weeks
        (date(2026, 11, 21), 1, date(2026, 11, 23)),  # from a Saturday
        (date(2026, 11, 23), 0, date(2026, 11, 23)),
    ],
    ids=["friday-plus-one", "ten-working-days", "from-saturday", "zero"],
)
def test_working_days(start, days, expected):
    assert add_working_days(start, days) == expected
    assert working_days_between(start, expected) == days or start.weekday() >= 5
