"""The server-set fields of a replicated revision (author, creation time, workflow) are checked
against the document's stored history, whatever the shape of the pushed branch: a branch that
shares no ancestor with the stored tree has no parent to inherit them from, and must not be a
way to set them (issue 10, item 2)."""

from __future__ import annotations

from typing import Any

import pytest

from backend.audit.models import AuditAction, AuditEvent
from backend.records.models import Document, Revision
from backend.records.services import document_create, document_read
from tests.conftest import actor

from .tablet import Tablet, now_iso

pytestmark = pytest.mark.django_db

UNRELATED = "e" * 32


@pytest.fixture
def visit_id(practitioner: Any, case_id: str, visit_content: dict[str, Any]) -> str:
    return document_create(
        actor=actor(practitioner), case_id=case_id, doc_type="visit", content=visit_content
    ).id


def _unrelated_branch(tablet: Tablet, doc_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """An edit sealed correctly under the case key, pushed as generation 900 of a history that
    shares nothing with the stored tree."""
    doc = tablet.edit(doc_id, changes)
    doc["_rev"] = f"900-{UNRELATED}"
    doc["_revisions"] = {"start": 900, "ids": [UNRELATED]}
    return doc


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param(
            {"author": "ADMIN", "created_at": "2000-01-01T00:00:00.000Z"}, "author cannot change", id="author"
        ),
        pytest.param({"created_at": "2000-01-01T00:00:00.000Z"}, "created at cannot change", id="created_at"),
        pytest.param(
            {"status": "signed_off", "signed_off_by": "ADMIN", "signed_off_at": "2000-01-02T00:00:00.000Z"},
            "signed_off_at is set by the server",
            id="sign_off",
        ),
    ],
)
def test_an_unrelated_branch_cannot_set_server_fields(
    practitioner: Any,
    admin_user: Any,
    case_id: str,
    visit_id: str,
    changes: dict[str, Any],
    reason: str,
) -> None:
    changes = {k: (admin_user.ref if v == "ADMIN" else v) for k, v in changes.items()}
    tablet = Tablet(practitioner)
    tablet.pull()
    before = Document.objects.get(pk=visit_id).rev
    forged = _unrelated_branch(tablet, visit_id, changes)

    assert tablet.push([forged]) == [{"id": visit_id, "error": "forbidden", "reason": reason}]
    view = document_read(actor=actor(practitioner), doc_id=visit_id)
    assert view.rev == before
    assert view.content["author"] == practitioner.ref
    assert not Revision.objects.filter(document_id=visit_id, rev=forged["_rev"]).exists()
    refused = AuditEvent.objects.get(action=AuditAction.SYNC_REFUSED, object_id=visit_id)
    assert refused.detail == {"error": "forbidden", "reason": reason}


def test_an_unrelated_branch_that_keeps_the_stored_fields_is_accepted(
    practitioner: Any, case_id: str, visit_id: str
) -> None:
    """The control: the same unrelated branch, honest about who wrote the record, is stored."""
    tablet = Tablet(practitioner)
    tablet.pull()
    honest = _unrelated_branch(tablet, visit_id, {"analysis": "Written on a restored tablet."})

    assert tablet.push([honest]) == []
    assert Revision.objects.filter(document_id=visit_id, rev=honest["_rev"]).exists()
    view = document_read(actor=actor(practitioner), doc_id=visit_id)
    assert view.content["author"] == practitioner.ref
    assert view.content["analysis"] == "Written on a restored tablet."


def test_a_related_branch_still_cannot_change_the_author(
    practitioner: Any, admin_user: Any, case_id: str, visit_id: str
) -> None:
    tablet = Tablet(practitioner)
    tablet.pull()
    forged = tablet.edit(visit_id, {"author": admin_user.ref, "updated_at": now_iso()})

    assert tablet.push([forged]) == [{"id": visit_id, "error": "forbidden", "reason": "author cannot change"}]
