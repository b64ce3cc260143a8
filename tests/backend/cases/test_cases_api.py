"""Cases through the HTTP API: scoping by role, create/update/close, allocations, 404 + audit."""

from __future__ import annotations

import pytest

from backend.audit.models import AuditAction, AuditEvent
from backend.cases.models import Allocation, Case
from backend.common.sequence import current_seq
from backend.records.models import Document

pytestmark = pytest.mark.django_db


def test_practitioner_lists_only_allocated_cases(
    api, case_id, practitioner, colleague, supervisor, case_content
):
    from backend.cases.services import case_create
    from tests.conftest import actor

    other = case_create(actor=actor(supervisor), team=supervisor.managed_teams.get(), content=case_content)
    mine = api(practitioner).get("/api/cases/").json()
    assert [c["id"] for c in mine["results"]] == [case_id]
    assert mine["results"][0]["family_name"] == "Okafor family"
    assert api(colleague).get("/api/cases/").json()["count"] == 0
    both = api(supervisor).get("/api/cases/").json()
    assert {c["id"] for c in both["results"]} == {case_id, other.id}


def test_supervisor_of_another_team_sees_nothing_and_gets_404(api, case_id, other_supervisor):
    assert api(other_supervisor).get("/api/cases/").json()["count"] == 0
    response = api(other_supervisor).get(f"/api/cases/{case_id}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    denied = AuditEvent.objects.get(action=AuditAction.READ_DENIED, actor=other_supervisor)
    assert denied.object_id == case_id


def test_404_for_missing_and_out_of_scope_look_the_same(api, case_id, colleague):
    missing = api(colleague).get("/api/cases/case:01JD0000000000000000000000/")
    hidden = api(colleague).get(f"/api/cases/{case_id}/")
    assert missing.status_code == hidden.status_code == 404
    assert missing.json() == hidden.json()


def test_admin_sees_all_cases(api, case_id, admin_user):
    assert api(admin_user).get("/api/cases/").json()["count"] == 1


def test_case_detail_is_audited_and_decrypted(api, case_id, practitioner):
    response = api(practitioner).get(f"/api/cases/{case_id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["content"]["address"]["postcode"] == "NB1 2AA"
    assert body["content"]["case_number"].startswith("CIN-")
    assert body["next_visit_due"]
    assert AuditEvent.objects.filter(action=AuditAction.READ, object_id=case_id, actor=practitioner).exists()


def test_supervisor_creates_a_case_practitioner_cannot(api, supervisor, practitioner, team, case_content):
    created = api(supervisor).post("/api/cases/", {"team": team.pk, "content": case_content}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["content"]["status"] == "open"
    assert body["rev"].startswith("1-")
    assert Case.objects.filter(pk=body["id"]).exists()
    refused = api(practitioner).post("/api/cases/", {"team": team.pk, "content": case_content}, format="json")
    assert refused.status_code == 403
    assert Case.objects.count() == 1


def test_case_schema_violation_names_the_field_and_stores_nothing(api, supervisor, team, case_content):
    bad = {**case_content, "address": {"line1": "1 Road", "town": "X"}}  # postcode missing
    before = (Case.objects.count(), Document.objects.count(), current_seq())
    response = api(supervisor).post("/api/cases/", {"team": team.pk, "content": bad}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "address.postcode"
    assert (Case.objects.count(), Document.objects.count()) == before[:2]


def test_update_with_stale_rev_is_409_with_current_rev(api, supervisor, case_id):
    client = api(supervisor)
    rev1 = client.get(f"/api/cases/{case_id}/").json()["rev"]
    ok = client.patch(
        f"/api/cases/{case_id}/", {"rev": rev1, "content": {"phone": "01234 567890"}}, format="json"
    )
    assert ok.status_code == 200
    rev2 = ok.json()["rev"]
    assert rev2.startswith("2-")
    stale = client.patch(f"/api/cases/{case_id}/", {"rev": rev1, "content": {"phone": "0"}}, format="json")
    assert stale.status_code == 409
    assert stale.json()["code"] == "stale_revision"
    assert stale.json()["current_rev"] == rev2


def test_case_number_is_immutable(api, supervisor, case_id):
    client = api(supervisor)
    current = client.get(f"/api/cases/{case_id}/").json()
    response = client.patch(
        f"/api/cases/{case_id}/",
        {"rev": current["rev"], "content": {"case_number": "CP-2026-99999"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "case_number"


def test_close_case(api, supervisor, practitioner, case_id):
    rev = api(supervisor).get(f"/api/cases/{case_id}/").json()["rev"]
    assert (
        api(practitioner).post(f"/api/cases/{case_id}/close/", {"rev": rev}, format="json").status_code == 403
    )
    closed = api(supervisor).post(f"/api/cases/{case_id}/close/", {"rev": rev}, format="json")
    assert closed.status_code == 200
    assert closed.json()["content"]["status"] == "closed"
    assert Case.objects.get(pk=case_id).status == "closed"
    assert AuditEvent.objects.filter(action=AuditAction.CASE_CLOSE, object_id=case_id).exists()


def test_allocation_changes_take_global_sequence_numbers_and_keep_history(
    api, supervisor, colleague, case_id
):
    client = api(supervisor)
    before = current_seq()
    added = client.post(
        f"/api/cases/{case_id}/allocations/",
        {"user": colleague.pk, "role": "co_worker"},
        format="json",
    )
    assert added.status_code == 201, added.json()
    assert added.json()["started_seq"] > before
    assert api(colleague).get("/api/cases/").json()["count"] == 1
    ended = client.post(f"/api/allocations/{added.json()['id']}/end/")
    assert ended.status_code == 200
    assert ended.json()["ended_seq"] > added.json()["started_seq"]
    assert api(colleague).get("/api/cases/").json()["count"] == 0
    history = client.get(f"/api/cases/{case_id}/allocations/?history=true").json()
    assert len(history) == 2
    assert Allocation.objects.filter(case_id=case_id).count() == 2
    actions = list(AuditEvent.objects.filter(case_id=case_id).values_list("action", flat=True))
    assert AuditAction.ALLOCATE in actions and AuditAction.DEALLOCATE in actions


def test_second_lead_is_refused(api, supervisor, colleague, case_id):
    response = api(supervisor).post(
        f"/api/cases/{case_id}/allocations/", {"user": colleague.pk, "role": "lead"}, format="json"
    )
    assert response.status_code == 409


def test_filters_and_pagination(api, supervisor, case_id, case_content):
    from backend.cases.services import case_create
    from tests.conftest import actor

    for _ in range(3):
        case_create(actor=actor(supervisor), team=supervisor.managed_teams.get(), content=case_content)
    page = api(supervisor).get("/api/cases/?page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    assert api(supervisor).get("/api/cases/?case_type=child_protection").json()["count"] == 0
    bad = api(supervisor).get("/api/cases/?case_type=nonsense")
    assert bad.status_code == 400 and bad.json()["field"] == "case_type"


def test_list_shows_each_case_as_its_detail_and_allocations_endpoints_do(api, supervisor, colleague, case_id):
    client = api(supervisor)
    client.post(
        f"/api/cases/{case_id}/allocations/", {"user": colleague.pk, "role": "co_worker"}, format="json"
    )
    (listed,) = client.get("/api/cases/").json()["results"]
    detail = client.get(f"/api/cases/{case_id}/").json()
    assert listed["allocations"] == client.get(f"/api/cases/{case_id}/allocations/").json()
    assert [a["username"] for a in listed["allocations"]] == ["amy.worker", "ben.worker"]  # oldest first
    assert listed["family_name"] == detail["content"]["family_name"] == "Okafor family"
    for name in ("rev", "case_number", "case_type", "status", "team", "visit_frequency_days", "allocations"):
        assert listed[name] == detail[name], name
    for name in ("last_visit_on", "next_visit_due", "overdue"):
        assert listed[name] == detail[name], name


def test_list_counts_without_count_query_unless_the_first_page_is_full(
    api, supervisor, case_id, case_content
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from backend.cases.services import case_create
    from tests.conftest import actor

    case_create(actor=actor(supervisor), team=supervisor.managed_teams.get(), content=case_content)
    client = api(supervisor)

    def counts(path: str) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            body = client.get(path).json()
        return body["count"], sum("COUNT(" in q["sql"].upper() for q in queries.captured_queries)

    assert counts("/api/cases/") == (2, 0)  # room to spare: the page is the whole list
    assert counts("/api/cases/?page_size=2") == (2, 1)  # a full page may have more after it
    assert counts("/api/cases/?page_size=1") == (2, 1)
    assert counts("/api/cases/?page_size=1&page=2") == (2, 1)
    assert client.get("/api/cases/?page=3").status_code == 404


def test_list_filters_by_allocation_and_overdue(
    api, supervisor, practitioner, colleague, case_id, case_content
):
    from backend.cases.services import case_create
    from tests.conftest import actor

    other = case_create(actor=actor(supervisor), team=supervisor.managed_teams.get(), content=case_content)
    client = api(supervisor)
    mine = client.get(f"/api/cases/?allocated_to={practitioner.pk}").json()
    assert [c["id"] for c in mine["results"]] == [case_id]
    assert client.get(f"/api/cases/?allocated_to={colleague.pk}").json()["count"] == 0
    # Just opened, with 20 working days to the first visit: neither case is overdue yet.
    assert {c["id"] for c in client.get("/api/cases/?overdue=false").json()["results"]} == {case_id, other.id}
    assert client.get("/api/cases/?overdue=true").json()["count"] == 0
