"""Write endpoints answer a real object outside the caller's scope exactly as they answer a
missing one — same status, same bytes — and audit the attempt as ``read_denied``
(issue 10 item 6). One table row per endpoint; devices have their own test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from backend.accounts.models import Role
from backend.audit.models import AuditAction, AuditEvent
from backend.cases.models import Allocation
from backend.demo.factories import UserFactory
from backend.records.services import document_create
from tests.backend.syncapi.tablet import Tablet
from tests.conftest import actor

pytestmark = pytest.mark.django_db

MISSING = {
    "case": "case:01JZZZZZZZZZZZZZZZZZZZZZZZ",
    "visit": "visit:01JZZZZZZZZZZZZZZZZZZZZZZZ",
    "addendum": "addendum:01JZZZZZZZZZZZZZZZZZZZZZZZ",
    "person": "person:01JZZZZZZZZZZZZZZZZZZZZZZZ",
    "note": "note:01JZZZZZZZZZZZZZZZZZZZZZZZ",
    "allocation": "999999999",
    "conflict": "999999999",
}


@dataclass(frozen=True)
class Probe:
    """One write endpoint: ``path`` has ``{id}`` for the object; ``kind`` names it in MISSING;
    ``caller`` is who tries it from outside the object's scope."""

    id: str
    method: str
    path: str
    kind: str
    caller: str  # "supervisor" (another team's) or "practitioner" (not allocated)
    body: str = ""  # a key of the world's bodies


PROBES = [
    # cases
    Probe("case-close", "post", "/api/cases/{id}/close/", "case", "supervisor", "case_rev"),
    Probe("case-put", "put", "/api/cases/{id}/", "case", "supervisor", "case_put"),
    Probe("case-patch", "patch", "/api/cases/{id}/", "case", "supervisor", "case_patch"),
    Probe("case-close-practitioner", "post", "/api/cases/{id}/close/", "case", "practitioner", "case_rev"),
    Probe("case-patch-practitioner", "patch", "/api/cases/{id}/", "case", "practitioner", "case_patch"),
    # allocations
    Probe("allocation-add", "post", "/api/cases/{id}/allocations/", "case", "supervisor", "allocation"),
    Probe("allocation-end", "post", "/api/allocations/{id}/end/", "allocation", "supervisor"),
    Probe("allocation-end-practitioner", "post", "/api/allocations/{id}/end/", "allocation", "practitioner"),
    # records on a case (create) and records themselves (update)
    Probe("visit-create", "post", "/api/cases/{id}/visits/", "case", "practitioner", "visit_create"),
    Probe("visit-patch", "patch", "/api/visits/{id}/", "visit", "practitioner", "visit_patch"),
    Probe("person-patch", "patch", "/api/people/{id}/", "person", "practitioner", "person_patch"),
    Probe("note-patch", "patch", "/api/notes/{id}/", "note", "supervisor", "note_patch"),
    # review items
    Probe("visit-submit", "post", "/api/visits/{id}/submit/", "visit", "practitioner", "visit_rev"),
    Probe("visit-sign-off", "post", "/api/visits/{id}/sign-off/", "visit", "supervisor", "visit_rev"),
    Probe("visit-return", "post", "/api/visits/{id}/return/", "visit", "supervisor", "visit_return"),
    Probe("addendum-ack", "post", "/api/addenda/{id}/acknowledge/", "addendum", "supervisor", "addendum_rev"),
    Probe(
        "conflict-decide", "post", "/api/review/conflicts/{id}/decide/", "conflict", "supervisor", "choice"
    ),
]


@pytest.fixture
def world(
    api, practitioner, colleague, supervisor, other_supervisor, case_id, visit_content
) -> dict[str, Any]:
    """A case of ``team`` with a visit (in conflict), an addendum, a person and a note; and the
    outsiders: another team's supervisor and a practitioner not allocated to the case."""
    outsider = UserFactory(username="olly.outsider", role=Role.PRACTITIONER)
    other_supervisor.managed_teams.get().members.add(outsider)
    mine = api(practitioner)
    visit = mine.post(f"/api/cases/{case_id}/visits/", {"content": visit_content}, format="json").json()
    person = mine.post(
        f"/api/cases/{case_id}/people/",
        {"content": {"role": "child", "full_name": "Amy Okafor"}},
        format="json",
    ).json()
    note = mine.post(
        f"/api/cases/{case_id}/notes/",
        {"content": {"category": "general", "text": "Called school."}},
        format="json",
    ).json()
    addendum = document_create(
        actor=actor(practitioner),
        case_id=case_id,
        doc_type="addendum",
        content={"visit_id": visit["id"], "text": "Correction to the visit."},
    )
    Allocation.objects.get(case_id=case_id, user=practitioner)  # the lead allocation exists
    from backend.cases.services import allocation_add

    allocation_add(actor=actor(supervisor), case_id=case_id, user=colleague, role="co_worker")
    a, b = Tablet(practitioner, "a"), Tablet(colleague, "b")
    a.pull()
    b.pull()
    a.push([a.edit(visit["id"], {"risk_level": "low"})])
    b.push([b.edit(visit["id"], {"risk_level": "critical"})])
    conflict = api(supervisor).get("/api/review/queue/").json()["conflicts"][0]
    visit = api(supervisor).get(f"/api/visits/{visit['id']}/").json()
    case = api(supervisor).get(f"/api/cases/{case_id}/").json()
    allocation = Allocation.objects.get(case_id=case_id, user=colleague)
    return {
        "callers": {"supervisor": api(other_supervisor), "practitioner": api(outsider)},
        "ids": {
            "case": case_id,
            "visit": visit["id"],
            "addendum": addendum.id,
            "person": person["id"],
            "note": note["id"],
            "allocation": str(allocation.pk),
            "conflict": str(conflict["id"]),
        },
        "bodies": {
            "": None,
            "case_rev": {"rev": case["rev"]},
            "case_put": {"rev": case["rev"], "content": case["content"]},
            "case_patch": {"rev": case["rev"], "content": {"summary": "Changed."}},
            "allocation": {"user": practitioner.pk, "role": "co_worker"},
            "visit_create": {"content": visit_content},
            "visit_patch": {"rev": visit["rev"], "content": {"risk_level": "high"}},
            "person_patch": {"rev": person["rev"], "content": {"full_name": "Someone Else"}},
            "note_patch": {"rev": note["rev"], "content": {"text": "Changed."}},
            "visit_rev": {"rev": visit["rev"]},
            "visit_return": {"rev": visit["rev"], "comment": "Please add the child's voice."},
            "addendum_rev": {"rev": addendum.rev},
            "choice": {"choice": 0},
        },
    }


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_issue10_item6_outside_scope_answers_like_missing_and_is_audited(world, probe):
    client = world["callers"][probe.caller]
    body = world["bodies"][probe.body]
    real_id = world["ids"][probe.kind]

    def send(object_id: str) -> Any:
        call = getattr(client, probe.method)
        path = probe.path.format(id=object_id)
        return call(path, body, format="json") if body is not None else call(path)

    before = AuditEvent.objects.filter(action=AuditAction.READ_DENIED).count()
    real = send(real_id)
    missing = send(MISSING[probe.kind])
    assert (real.status_code, real.content) == (missing.status_code, missing.content)
    assert real.status_code == 404
    denied = AuditEvent.objects.filter(action=AuditAction.READ_DENIED).order_by("id")[before:]
    assert len(denied) == 1, "the real object's refusal is audited (and the missing one is not)"
    assert real_id in {denied[0].object_id, denied[0].case_id}
