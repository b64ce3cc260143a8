"""The replication endpoint over HTTP (in-process): subsets, envelopes, writes, refusals."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from backend.audit.models import AuditAction, AuditEvent
from backend.cases.services import allocation_add, allocation_end, case_create
from backend.common.sequence import current_seq
from backend.records.models import Document, Revision
from backend.records.services import document_create
from tests.conftest import actor

from .tablet import Tablet, now_iso

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit_id(practitioner, case_id, visit_content) -> str:
    return document_create(
        actor=actor(practitioner), case_id=case_id, doc_type="visit", content=visit_content
    ).id


@pytest.fixture
def other_case(supervisor, colleague, case_content) -> str:
    view = case_create(
        actor=actor(supervisor),
        team=supervisor.managed_teams.get(),
        content={**case_content, "family_name": "Hidden family"},
    )
    allocation_add(actor=actor(supervisor), case_id=view.id, user=colleague, role="lead")
    document_create(
        actor=actor(colleague),
        case_id=view.id,
        doc_type="note",
        content={"category": "general", "text": "hidden note"},
    )
    return view.id


def store_snapshot() -> tuple[int, int, int]:
    return Document.objects.count(), Revision.objects.count(), current_seq()


def test_database_info_and_auth(practitioner, case_id):
    tablet = Tablet(practitioner)
    info = tablet.get("/")
    assert info.status_code == 200
    body = info.json()
    assert body["db_name"] == "caseload" and body["instance_start_time"] == "0"
    assert body["doc_count"] == 1  # the case document
    assert Client().get("/sync/caseload/").status_code == 401
    basic = base64.b64encode(b"amy.worker:doorstep-demo-2026").decode()
    assert Client().get("/sync/caseload/", HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 200
    wrong = base64.b64encode(b"amy.worker:nope").decode()
    refused = Client().get("/sync/caseload/", HTTP_AUTHORIZATION=f"Basic {wrong}")
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"


def test_pull_delivers_the_caseload_and_its_key_and_nothing_else(practitioner, case_id, visit_id, other_case):
    tablet = Tablet(practitioner)
    tablet.pull()
    assert set(tablet.docs) == {case_id, visit_id}
    assert all(doc["case_id"] == case_id for doc in tablet.docs.values())
    assert tablet.read(visit_id)["observations"].startswith("Kitchen was clean")
    assert tablet.keys and all(kid.startswith(case_id) for kid in tablet.keys)
    # The other caseload is invisible everywhere.
    hidden_note = Document.objects.get(case_id=other_case, doc_type="note")
    for path in (f"/{other_case}", f"/{hidden_note.id}"):
        assert tablet.get(path).status_code == 404
    all_docs = tablet.get("/_all_docs").json()
    assert {r["id"] for r in all_docs["rows"]} == {case_id, visit_id} and all_docs["total_rows"] == 2
    bulk = tablet.post("/_bulk_get", {"docs": [{"id": other_case}, {"id": hidden_note.id}]}).json()
    assert all("error" in d for r in bulk["results"] for d in r["docs"])
    diff = tablet.post("/_revs_diff", {other_case: [Document.objects.get(pk=other_case).rev]}).json()
    assert diff == {other_case: {"missing": [Document.objects.get(pk=other_case).rev]}}
    changes = tablet.get("/_changes", doc_ids=json.dumps([other_case]), filter="_doc_ids").json()
    assert changes["results"] == []
    assert AuditEvent.objects.filter(action=AuditAction.SYNC_PULL, case_id=case_id).exists()
    assert AuditEvent.objects.filter(action=AuditAction.KEY_ISSUE, case_id=case_id).exists()


def test_no_change_sync_returns_nothing_and_keeps_position(practitioner, case_id, visit_id):
    tablet = Tablet(practitioner)
    tablet.pull()
    again = tablet.get("/_changes", since=tablet.since).json()
    assert again["results"] == [] and again["last_seq"] == tablet.since


def test_offline_edit_pushed_and_visible_through_rest(practitioner, case_id, visit_id, api):
    tablet = Tablet(practitioner)
    tablet.pull()
    edited = tablet.edit(visit_id, {"analysis": "Pushed from a tablet."})
    assert tablet.push([edited]) == []
    read = api(practitioner).get(f"/api/visits/{visit_id}/").json()
    assert read["rev"] == edited["_rev"]
    assert read["content"]["analysis"] == "Pushed from a tablet."
    # Pushing the same revision again is a no-op.
    before = store_snapshot()
    assert tablet.push([edited]) == []
    assert store_snapshot() == before


def test_new_edits_true_put_and_conflict(practitioner, case_id, visit_id):
    tablet = Tablet(practitioner)
    tablet.pull()
    doc = tablet.docs[visit_id]
    content = {
        **tablet.read(visit_id),
        "analysis": "v2",
        "updated_at": now_iso(),
        "updated_by": practitioner.ref,
    }
    sealed = {**tablet.seal(visit_id, "visit", case_id, content), "_rev": doc["_rev"]}
    ok = tablet.put(f"/{visit_id}", sealed)
    assert ok.status_code == 201, ok.content
    assert ok.json()["rev"].startswith("2-")
    stale = tablet.put(f"/{visit_id}", sealed)
    assert stale.status_code == 409 and stale.json()["error"] == "conflict"


def _refusal(tablet, doc):
    before = store_snapshot()
    answer = tablet.push([doc])
    assert store_snapshot() == before, "a refused document must store nothing"
    assert len(answer) == 1 and answer[0]["id"] == doc.get("_id")
    return answer[0]


def test_refusals_are_per_document_and_store_nothing(practitioner, case_id, visit_id, other_case):
    tablet = Tablet(practitioner)
    tablet.pull()
    good = tablet.edit(visit_id, {"analysis": "fine"})
    # Moved to another case.
    moved = {**good, "case_id": other_case}
    assert _refusal(tablet, moved)["error"] == "forbidden"
    # Tampered ciphertext.
    tampered = json.loads(json.dumps(good))
    ct = bytearray(base64.b64decode(tampered["enc"]["ct"]))
    ct[0] ^= 1
    tampered["enc"]["ct"] = base64.b64encode(bytes(ct)).decode()
    assert _refusal(tablet, tampered)["error"] == "forbidden"
    # Body copied onto another document id (AAD binds the id).
    stolen = {**good, "_id": "visit:01JD0000000000000000000000"}
    assert _refusal(tablet, stolen)["error"] == "forbidden"
    # Written as someone else.
    forged = tablet.edit(visit_id, {"updated_by": "u:999999"})
    assert _refusal(tablet, forged)["error"] == "forbidden"
    # Schema violation (inside the ciphertext).
    invalid = tablet.edit(visit_id, {"risk_level": "apocalyptic"})
    refused = _refusal(tablet, invalid)
    assert refused["error"] == "forbidden" and "risk_level" in refused["reason"]
    # Secret field smuggled into clear meta.
    leaky = tablet.edit(visit_id, {"analysis": "x"})
    leaky["meta"]["observations"] = "in clear!"
    assert _refusal(tablet, leaky)["error"] == "forbidden"
    # A document in a case outside the caseload.
    foreign = {**good, "_id": "note:01JD0000000000000000000001", "type": "note", "case_id": other_case}
    foreign.update(_rev="1-abc", _revisions={"start": 1, "ids": ["abc"]})
    assert _refusal(tablet, foreign)["error"] == "forbidden"
    # Design documents, attachments, unknown fields, bad revisions.
    assert _refusal(tablet, {"_id": "_design/x", "_rev": "1-a"})["error"] == "forbidden"
    assert _refusal(tablet, {**good, "_attachments": {}})["error"] == "forbidden"
    assert _refusal(tablet, {**good, "colour": "blue"})["error"] == "forbidden"
    assert _refusal(tablet, {**good, "_revisions": {"start": 9, "ids": ["aa"]}})["error"] == "bad_request"
    # …and the good one still goes through in the same batch as a bad one.
    answer = tablet.push([moved, good])
    assert [a["id"] for a in answer] == [visit_id]  # only the failure is listed
    assert Document.objects.get(pk=visit_id).rev == good["_rev"]
    assert AuditEvent.objects.filter(action=AuditAction.SYNC_REFUSED).exists()


def test_tablets_cannot_sign_off(practitioner, case_id, visit_id):
    tablet = Tablet(practitioner)
    tablet.pull()
    original = tablet.docs[visit_id]
    signed = tablet.edit(
        visit_id, {"status": "signed_off", "signed_off_by": practitioner.ref, "signed_off_at": now_iso()}
    )
    refused = _refusal(tablet, signed)
    assert refused["error"] == "forbidden"
    tablet.docs[visit_id] = original
    from backend.cases.models import Case

    assert Case.objects.get(pk=case_id).last_visit_on is None  # a draft does not count
    submitted = tablet.edit(visit_id, {"status": "submitted", "submitted_at": now_iso()})
    assert tablet.push([submitted]) == []
    assert str(Case.objects.get(pk=case_id).last_visit_on) == "2026-11-20"  # the projection follows


def test_case_allocated_after_checkpoint_delivers_older_documents(
    practitioner, supervisor, case_id, other_case
):
    tablet = Tablet(practitioner)
    tablet.pull()
    assert other_case not in {d["case_id"] for d in tablet.docs.values()}
    old_docs = set(Document.objects.filter(case_id=other_case).values_list("id", flat=True))
    allocation_add(actor=actor(supervisor), case_id=other_case, user=practitioner, role="co_worker")
    tablet.pull(batch=1)  # a batch boundary inside the group must lose nothing
    assert old_docs <= set(tablet.docs)
    note = next(d for d in old_docs if d.startswith("note:"))
    assert tablet.read(note)["text"] == "hidden note"


def test_losing_a_case_purges_it_and_shreds_its_keys(practitioner, supervisor, case_id, visit_id, api):
    tablet = Tablet(practitioner)
    tablet.pull()
    old_kids = set(tablet.keys)
    allocation = practitioner.allocations.get(case_id=case_id)
    allocation_end(actor=actor(supervisor), allocation_id=allocation.pk)
    tablet.pull()
    assert case_id in tablet.purged
    assert not any(d.get("case_id") == case_id for d in tablet.docs.values())
    assert not (old_kids & set(tablet.keys)), "withdrawn envelopes must be dropped"
    # Written after the removal: under a new key version the device never receives.
    later = document_create(
        actor=actor(supervisor),
        case_id=case_id,
        doc_type="note",
        content={"category": "general", "text": "after"},
    )
    body = Revision.objects.get(document_id=later.id).body
    assert body["enc"]["kid"] not in old_kids
    assert tablet.get(f"/{later.id}").status_code == 404
    assert tablet.get("/_changes", since=tablet.since).json()["results"] == []


def test_revoked_device_is_told_to_wipe(practitioner, admin_user, api, case_id):
    tablet = Tablet(practitioner)
    device_pk = int(tablet.device_id.split(":")[1])
    response = api(admin_user).post(f"/api/devices/{device_pk}/wipe/")
    assert response.status_code == 200 and response.json()["status"] == "wipe_pending"
    refused = tablet.get("/_changes")
    assert refused.status_code == 401
    assert refused.json() == {"error": "unauthorized", "reason": "device revoked", "wipe": True}
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_WIPE).exists()


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/_changes", {"since": "banana"}),
        ("/_changes", {"limit": "-1"}),
        ("/_changes", {"limit": "99999999999"}),
        ("/_changes", {"since": "99999999999999999999999"}),
        ("/_changes", {"feed": "continuous"}),
        ("/_changes", {"style": "weird"}),
        ("/_all_docs", {"startkey": "not json"}),
        (f"/{'visit:01JD0000000000000000000000'}", {"rev": "garbage"}),
        (f"/{'visit:01JD0000000000000000000000'}", {"open_revs": "[1,2]"}),
    ],
)
def test_bad_parameters_are_clear_400s(practitioner, case_id, path, params):
    response = Tablet(practitioner).get(path, **params)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "bad_request"
    assert response.json()["reason"]


def test_malformed_bodies(practitioner, case_id):
    tablet = Tablet(practitioner)
    headers = tablet.headers()
    for endpoint in ("/_bulk_docs", "/_bulk_get", "/_revs_diff"):
        response = tablet.client.post(
            "/sync/caseload" + endpoint, "{nope", content_type="application/json", **headers
        )
        assert response.status_code == 400 and response.json()["error"] == "bad_request"
    assert tablet.post("/_bulk_docs", {"docs": "x"}).status_code == 400
    assert tablet.post("/_revs_diff", {"a": ["not-a-rev"]}).status_code == 400


def test_oversize_batch_is_413(practitioner, case_id, settings):
    settings.DOORSTEP_MAX_SYNC_BODY = 1000
    response = Tablet(practitioner).post("/_bulk_docs", {"docs": [{"_id": "x" * 2000}]})
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_local_checkpoints_are_per_device(practitioner, case_id):
    first, second = Tablet(practitioner, "one"), Tablet(practitioner, "two")
    created = first.put("/_local/checkpoint", {"last_seq": "5-5"})
    assert created.status_code == 201
    assert first.get("/_local/checkpoint").json()["last_seq"] == "5-5"
    assert second.get("/_local/checkpoint").status_code == 404
    conflict = first.put("/_local/checkpoint", {"_rev": "0-9", "last_seq": "6-6"})
    assert conflict.status_code == 409


def test_database_info_counts_follow_writes_and_deletions(practitioner, case_id, visit_id):
    from backend.records.models import Document

    tablet = Tablet(practitioner)
    tablet.pull()
    document_create(
        actor=actor(practitioner),
        case_id=case_id,
        doc_type="note",
        content={"category": "general", "text": "x"},
    )
    doc = tablet.docs[visit_id]
    deleted = tablet.client.delete(f"/sync/caseload/{visit_id}?rev={doc['_rev']}", **tablet.headers())
    assert deleted.status_code == 200, deleted.content
    info = tablet.get("/").json()
    live = Document.objects.filter(case_id=case_id, deleted=False).count()
    dead = Document.objects.filter(case_id=case_id, deleted=True).count()
    assert (info["doc_count"], info["doc_del_count"]) == (live, dead) == (2, 1)
