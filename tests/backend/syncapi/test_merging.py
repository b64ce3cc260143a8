"""Concurrent offline edits converge on the server: merged by the schema rules, undecided
fields to review, signed-off visits protected by addenda (in-process tablets)."""

from __future__ import annotations

import pytest

from backend.audit.models import AuditAction, AuditEvent
from backend.records.models import Document, Revision
from backend.records.services import document_create, lock_document, view_of
from backend.review.models import ConflictItem
from sync import revtree
from tests.conftest import actor

from .tablet import Tablet

pytestmark = pytest.mark.django_db

OBSERVATIONS = "Kitchen was clean.\n\nAmy showed me her room.\n\nMum was tired but engaged."


@pytest.fixture
def visit_id(practitioner, colleague, supervisor, case_id, visit_content) -> str:
    from backend.cases.services import allocation_add

    allocation_add(actor=actor(supervisor), case_id=case_id, user=colleague, role="co_worker")
    content = {**visit_content, "observations": OBSERVATIONS}
    return document_create(actor=actor(practitioner), case_id=case_id, doc_type="visit", content=content).id


def test_two_devices_edit_the_same_visit_offline_and_converge(practitioner, colleague, visit_id):
    a, b = Tablet(practitioner, "a"), Tablet(colleague, "b")
    a.pull()
    b.pull()
    base = a.read(visit_id)
    edit_a = a.edit(
        visit_id,
        {
            "observations": OBSERVATIONS.replace("Kitchen was clean.", "Kitchen was clean and stocked."),
            "actions": [
                *base["actions"],
                {"id": "a-amy", "text": "Ring the school", "owner": "social worker"},
            ],
            "risk_level": "low",
        },
    )
    edit_b = b.edit(
        visit_id,
        {
            "observations": OBSERVATIONS.replace(
                "Mum was tired but engaged.", "Mum was tired but engaged; dad was out."
            ),
            "actions": [*base["actions"], {"id": "a-ben", "text": "Book a GP visit", "owner": "parent"}],
            "risk_level": "high",
        },
    )
    assert a.push([edit_a]) == []
    assert b.push([edit_b]) == []
    a.pull()
    b.pull()
    assert a.docs[visit_id]["_rev"] == b.docs[visit_id]["_rev"]
    merged = a.read(visit_id)
    assert b.read(visit_id) == merged
    assert "Kitchen was clean and stocked." in merged["observations"]
    assert "dad was out" in merged["observations"]
    assert {x["id"] for x in merged["actions"]} >= {"a1", "a-amy", "a-ben"}
    assert merged["risk_level"] == "high"  # the safe value until a supervisor decides
    assert merged["decisions_pending"] == ["risk_level"]
    document = Document.objects.get(pk=visit_id)
    tree = revtree.from_json(document.tree)
    assert len([leaf for leaf in revtree.leaves(tree) if not leaf.deleted]) == 1
    item = ConflictItem.objects.get(document=document)
    assert item.field == "risk_level"
    assert {c["rev"] for c in item.candidates} == {edit_a["_rev"], edit_b["_rev"]}
    assert "high" not in str(item.values_enc)  # values are stored encrypted
    # Both edits' bodies are kept.
    assert Revision.objects.filter(document=document, rev__in=[edit_a["_rev"], edit_b["_rev"]]).count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.MERGE, object_id=visit_id).exists()


def test_edit_beats_a_concurrent_deletion(practitioner, colleague, visit_id):
    a, b = Tablet(practitioner, "a"), Tablet(colleague, "b")
    a.pull()
    b.pull()
    doc = a.docs[visit_id]
    pos, _ = revtree.parse_rev(doc["_rev"])
    tombstone_hash = revtree.new_rev_hash(parent=doc["_rev"], deleted=True, body={})
    tombstone = {
        "_id": visit_id,
        "_rev": f"{pos + 1}-{tombstone_hash}",
        "_deleted": True,
        "_revisions": {"start": pos + 1, "ids": [tombstone_hash, *doc["_revisions"]["ids"]]},
    }
    assert a.push([tombstone]) == []
    assert Document.objects.get(pk=visit_id).deleted
    edit = b.edit(visit_id, {"analysis": "Still worried."})
    assert b.push([edit]) == []
    document = Document.objects.get(pk=visit_id)
    assert not document.deleted and document.rev == edit["_rev"]
    assert view_of(document).content["analysis"] == "Still worried."
    assert AuditEvent.objects.filter(
        action=AuditAction.MERGE, object_id=visit_id, detail__outcome="edit_kept_over_deletion"
    ).exists()


def test_three_devices_chained_edits_converge_in_any_order(practitioner, colleague, supervisor, visit_id):
    tablets = [Tablet(practitioner, "a"), Tablet(colleague, "b"), Tablet(supervisor, "c")]
    for t in tablets:
        t.pull()
    edits = []
    for i, t in enumerate(tablets):
        first = t.edit(visit_id, {"analysis": f"analysis by {i}"})
        second = t.edit(visit_id, {"child_voice": f"voice {i}"})
        edits.append((t, [first, second]))
    for t, docs in reversed(edits):
        assert t.push(docs) == []
    for t in tablets:
        t.pull()
    revs = {t.docs[visit_id]["_rev"] for t in tablets}
    assert len(revs) == 1
    contents = [t.read(visit_id) for t in tablets]
    assert contents[0] == contents[1] == contents[2]
    document = Document.objects.get(pk=visit_id)
    assert len([leaf for leaf in revtree.leaves(revtree.from_json(document.tree)) if not leaf.deleted]) == 1


def test_offline_edit_of_a_visit_signed_off_meanwhile_becomes_an_addendum(practitioner, supervisor, visit_id):
    tablet = Tablet(practitioner)
    tablet.pull()
    # Meanwhile, on the server: submitted and signed off.
    document = lock_document(visit_id)
    signed_content = {
        **view_of(document).content,
        "status": "signed_off",
        "signed_off_by": supervisor.ref,
        "signed_off_at": "2026-11-21T09:00:00.000Z",
        "submitted_at": "2026-11-20T16:00:00.000Z",
    }
    from django.utils import timezone

    from backend.records.services import document_write_internal

    document_write_internal(
        actor=actor(supervisor),
        document=document,
        content=signed_content,
        origin="workflow",
        action="sign_off",
        now=timezone.now(),
    )
    signed_text = signed_content["observations"]
    edit = tablet.edit(visit_id, {"observations": signed_text + "\n\nForgot: the dog was loose."})
    assert tablet.push([edit]) == []
    document = Document.objects.get(pk=visit_id)
    content = view_of(document).content
    assert content["status"] == "signed_off"
    assert content["observations"] == signed_text
    addendum = Document.objects.get(doc_type="addendum", case_id=document.case_id)
    add_content = view_of(addendum).content
    assert add_content["visit_id"] == visit_id
    assert add_content["source_rev"] == edit["_rev"]
    assert "the dog was loose" in add_content["proposed_changes"]["observations"]
    assert add_content["author"] == practitioner.ref or add_content["updated_by"]
    tablet.pull()
    assert tablet.read(visit_id)["observations"] == signed_text
    assert addendum.id in tablet.docs


def test_merge_that_would_break_the_schema_goes_to_review_whole(
    api, practitioner, colleague, supervisor, visit_id
):
    """Each device adds 60 actions: merged, 121 would exceed maxItems 100, so nothing invalid is
    stored and nobody's edit is dropped — a supervisor picks the version."""
    a, b = Tablet(practitioner, "a"), Tablet(colleague, "b")
    a.pull()
    b.pull()
    base_actions = a.read(visit_id)["actions"]
    many = lambda tag: [*base_actions, *({"id": f"{tag}{i}", "text": f"step {i}"} for i in range(60))]  # noqa: E731
    assert a.push([a.edit(visit_id, {"actions": many("a")})]) == []
    assert b.push([b.edit(visit_id, {"actions": many("b")})]) == []
    document = Document.objects.get(pk=visit_id)
    live = [leaf for leaf in revtree.leaves(revtree.from_json(document.tree)) if not leaf.deleted]
    assert len(live) == 2  # left as a CouchDB conflict
    item = ConflictItem.objects.get(document=document)
    assert item.field == "(document)" and len(item.candidates) == 2
    manager = api(supervisor)
    detail = manager.get(f"/api/review/conflicts/{item.pk}/").json()
    choice = next(
        i for i, c in enumerate(detail["candidates"]) if any(x["id"] == "b0" for x in c["value"]["actions"])
    )
    decided = manager.post(f"/api/review/conflicts/{item.pk}/decide/", {"choice": choice}, format="json")
    assert decided.status_code == 200, decided.json()
    document = Document.objects.get(pk=visit_id)
    live = [leaf for leaf in revtree.leaves(revtree.from_json(document.tree)) if not leaf.deleted]
    assert [leaf.rev for leaf in live] == [document.rev]
    assert {x["id"] for x in view_of(document).content["actions"]} >= {"b0", "b59"}
