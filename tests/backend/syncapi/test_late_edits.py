"""Edits made offline before an allocation ended reach the server instead of being lost.

A practitioner records a visit on the tablet without signal; meanwhile the supervisor ends
their allocation. On the next sync the tablet pushes first: the server accepts the edit from
that device (it held the case's keys) within DOORSTEP_LATE_EDIT_DAYS, audits it as a late
edit and lists it in the supervisor's review queue; the pull that follows purges the case.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError
from django.utils import timezone

from backend.audit import services as audit_services
from backend.audit.models import AuditAction, AuditEvent
from backend.cases.models import Allocation
from backend.cases.services import allocation_end
from backend.records import replication
from backend.records.models import Revision
from backend.records.services import document_create, document_read
from tests.conftest import actor

from .tablet import Tablet, now_iso

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit_id(practitioner: Any, case_id: str, visit_content: dict[str, Any]) -> str:
    return document_create(
        actor=actor(practitioner), case_id=case_id, doc_type="visit", content=visit_content
    ).id


def _end_allocation(supervisor: Any, practitioner: Any, case_id: str) -> Allocation:
    allocation = Allocation.objects.get(case_id=case_id, user=practitioner, ended_seq__isnull=True)
    allocation_end(actor=actor(supervisor), allocation_id=allocation.pk)
    allocation.refresh_from_db()
    return allocation


def test_an_offline_edit_pushed_after_the_allocation_ended_is_kept_and_shown_to_the_supervisor(
    practitioner: Any, supervisor: Any, case_id: str, visit_id: str, api: Any
) -> None:
    tablet = Tablet(practitioner)
    tablet.pull()
    edited = tablet.edit(visit_id, {"observations": "Seen at home; kitchen clean; LATE-EDIT-CANARY."})
    _end_allocation(supervisor, practitioner, case_id)

    assert tablet.push([edited]) == []  # accepted: nothing refused
    stored = document_read(actor=actor(supervisor), doc_id=visit_id)
    assert stored.rev == edited["_rev"]
    assert "LATE-EDIT-CANARY" in stored.content["observations"]
    event = AuditEvent.objects.get(action=AuditAction.LATE_EDIT, object_id=visit_id)
    assert event.actor == practitioner and event.case_id == case_id
    assert event.detail == {"rev": edited["_rev"], "reason": "allocation ended"}
    assert "CANARY" not in str(event.detail)

    queue = api(supervisor).get("/api/review/queue/").json()
    assert [(e["id"], e["rev"], e["document_type"], e["case_id"]) for e in queue["late_edits"]] == [
        (visit_id, edited["_rev"], "visit", case_id)
    ]
    # The pull after the push still purges the case from the tablet, and nothing is readable.
    tablet.pull()
    assert case_id in tablet.purged
    assert tablet.get(f"/{visit_id}").status_code == 404


def test_a_new_record_made_offline_is_kept_too(practitioner: Any, supervisor: Any, case_id: str) -> None:
    tablet = Tablet(practitioner)
    tablet.pull()
    note_id = "note:01J0000000000000000000LATE"
    at = now_iso()
    content = {"author": f"u:{practitioner.pk}", "updated_by": f"u:{practitioner.pk}", "created_at": at,
               "updated_at": at, "category": "general",
               "text": "Phoned the school."}  # fmt: skip
    note = tablet.seal(note_id, "note", case_id, content)
    note["_rev"] = "1-" + "a" * 32
    note["_revisions"] = {"start": 1, "ids": ["a" * 32]}
    _end_allocation(supervisor, practitioner, case_id)
    assert tablet.push([note]) == []
    assert document_read(actor=actor(supervisor), doc_id=note_id).content["text"] == "Phoned the school."


def test_late_edits_are_refused_after_the_grace_period(
    practitioner: Any, supervisor: Any, case_id: str, visit_id: str
) -> None:
    tablet = Tablet(practitioner)
    tablet.pull()
    edited = tablet.edit(visit_id, {"observations": "Too late."})
    allocation = _end_allocation(supervisor, practitioner, case_id)
    Allocation.objects.filter(pk=allocation.pk).update(ended_at=timezone.now() - timedelta(days=15))
    assert tablet.push([edited]) == [
        {"id": visit_id, "error": "forbidden", "reason": "document is outside your caseload"}
    ]
    assert not AuditEvent.objects.filter(action=AuditAction.LATE_EDIT).exists()


def test_late_edits_can_be_switched_off(
    practitioner: Any, supervisor: Any, case_id: str, visit_id: str, settings: Any
) -> None:
    settings.DOORSTEP_LATE_EDIT_DAYS = 0
    tablet = Tablet(practitioner)
    tablet.pull()
    edited = tablet.edit(visit_id, {"observations": "Too late."})
    _end_allocation(supervisor, practitioner, case_id)
    assert tablet.push([edited])[0]["error"] == "forbidden"


def test_only_a_device_that_held_the_case_may_push_late(
    practitioner: Any, supervisor: Any, case_id: str, visit_id: str
) -> None:
    holder = Tablet(practitioner, name="holder")
    holder.pull()
    edited = holder.edit(visit_id, {"observations": "From the tablet that held the case."})
    _end_allocation(supervisor, practitioner, case_id)
    # A tablet enrolled afterwards never received the case's keys: no late writes from it,
    # even carrying a body another device sealed.
    newcomer = Tablet(practitioner, name="newcomer")
    newcomer.pull()
    assert newcomer.push([edited])[0]["error"] == "forbidden"
    # Nor can a late edit read anything: the case is gone from the holder's feed and reads.
    assert holder.get(f"/{visit_id}").status_code == 404
    assert holder.push([edited]) == []


def test_a_colleague_never_allocated_gains_nothing(
    practitioner: Any, colleague: Any, supervisor: Any, case_id: str, visit_id: str
) -> None:
    tablet = Tablet(practitioner)
    tablet.pull()
    edited = tablet.edit(visit_id, {"observations": "x"})
    stranger = Tablet(colleague)
    stranger.pull()
    assert stranger.push([edited])[0]["error"] == "forbidden"
    _end_allocation(supervisor, practitioner, case_id)
    assert stranger.push([edited])[0]["error"] == "forbidden"


def test_a_late_edit_and_its_audit_event_are_stored_together_or_not_at_all(
    monkeypatch: Any, practitioner: Any, supervisor: Any, case_id: str, visit_id: str
) -> None:
    """The late-edit audit row is written in the write's own transaction: when writing it fails
    (a full disk, a crash), the edit is not stored either — never a write without its audit."""
    real = audit_services.audit_record_many

    def failing(*, actor: Any, action: str, items: Any) -> None:
        if action == AuditAction.LATE_EDIT:
            raise DatabaseError("could not write the audit row")
        real(actor=actor, action=action, items=items)

    tablet = Tablet(practitioner)
    tablet.pull()
    edited = tablet.edit(visit_id, {"observations": "Seen at home; LATE-EDIT-CANARY."})
    _end_allocation(supervisor, practitioner, case_id)
    monkeypatch.setattr(replication, "audit_record_many", failing)

    with pytest.raises(DatabaseError):
        tablet.push([edited])
    assert not Revision.objects.filter(document_id=visit_id, rev=edited["_rev"]).exists()
    assert not AuditEvent.objects.filter(object_id=visit_id, action=AuditAction.SYNC_PUSH).exists()

    monkeypatch.setattr(replication, "audit_record_many", real)
    assert tablet.push([edited]) == []  # the same push, once the audit row can be written
    assert Revision.objects.filter(document_id=visit_id, rev=edited["_rev"]).exists()
    assert AuditEvent.objects.filter(object_id=visit_id, action=AuditAction.LATE_EDIT).count() == 1
