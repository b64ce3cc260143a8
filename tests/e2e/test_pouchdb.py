"""PouchDB 9 (Node, memory adapter) as the tablet: pulls a caseload through a device token,
decrypts with envelope.js, edits offline, pushes; a co-worker's tablet and the REST API see the
edit; live replication follows server changes; refusals reach the client per document."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Snapshot
from tests.e2e.node import NodeProcess, run_node
from tests.live import LiveServer

pytestmark = pytest.mark.e2e

EDITABLE = {"draft", "submitted", "returned"}


def shared_visit(snapshot: Snapshot, *, avoid: set[str] = frozenset()) -> tuple[str, str, list[str]]:
    """(case id, editable visit id, practitioners allocated) for a case held by two workers."""
    holders = snapshot.holders()
    for case_id in sorted(holders):
        if len(holders[case_id]) < 2 or case_id in avoid:
            continue
        visits = [
            d["id"]
            for d in snapshot.documents
            if d["case_id"] == case_id and d["type"] == "visit" and d["status"] in EDITABLE
        ]
        if visits:
            return case_id, sorted(visits)[0], sorted(holders[case_id])
    raise AssertionError("the demo council has no shared case with an editable visit")


def test_pull_decrypt_edit_push_and_a_coworker_sees_it(server: LiveServer, seeded: Snapshot) -> None:
    _, visit_id, (lead, coworker) = shared_visit(seeded)
    lead_token, lead_user = server.login(lead)
    device = server.enrol(lead_token, "pouch-a")
    now = Snapshot.of(server)
    expected_ids = set(now.docs_in(now.cases_of(lead)))
    analysis = f"Edited offline in PouchDB {uuid.uuid4()}"

    result = run_node(
        "pull_edit_push.mjs",
        {
            "url": server.sync_url,
            "token": device.token,
            "device_id": device.id,
            "private_key": device.private_b64,
            "visit_id": visit_id,
            "user_ref": f"u:{lead_user['id']}",
            "analysis": analysis,
        },
    )
    # The pull: exactly the lead's caseload, plus one key envelope per case key version.
    case_docs = {d["id"] for d in result["docs"] if d["type"] != "key_envelope"}
    envelopes = {d["id"] for d in result["docs"] if d["type"] == "key_envelope"}
    assert case_docs == expected_ids
    assert {d["case_id"] for d in result["docs"]} == now.cases_of(lead)
    assert envelopes == {f"keyenv:{kid}" for kid in result["kids"]} and envelopes
    assert result["decrypted"] == len(expected_ids), "every body must open with the device's keys"
    assert result["pull"]["doc_write_failures"] == 0 and result["pull"]["ok"]
    assert result["visit_before"]["status"] in EDITABLE and result["visit_before"]["observations"]
    # The push: one document, accepted, a child of the pulled revision.
    push = result["push"]
    assert push["failed"] is None and push["ok"], push
    assert push["docs_written"] == 1 and push["doc_write_failures"] == 0 and push["denied"] == []
    new_rev = result["edit"]["rev"]
    assert int(new_rev.split("-")[0]) == int(result["visit_before"]["rev"].split("-")[0]) + 1

    # The REST API shows the edit, attributed to the lead.
    rest = server.api("GET", f"/api/visits/{visit_id}/", lead_token)
    assert rest["rev"] == new_rev
    assert rest["content"]["analysis"] == analysis
    assert rest["content"]["updated_by"] == f"u:{lead_user['id']}"
    # What envelope.js decrypted is what the server decrypts; the rest of the body is intact.
    assert rest["content"]["observations"] == result["visit_before"]["observations"]

    # A co-worker's tablet (a new device, keys generated and enrolled by envelope.js) pulls it.
    coworker_token, _ = server.login(coworker)
    second = run_node(
        "pull_read.mjs",
        {"url": server.url, "sync_url": server.sync_url, "user_token": coworker_token, "read": [visit_id]},
    )
    seen = second["read"][visit_id]
    assert seen is not None and seen["rev"] == new_rev and seen["conflicts"] == []
    assert seen["secret"]["analysis"] == analysis
    assert seen["meta"]["updated_by"] == f"u:{lead_user['id']}"
    assert {d["case_id"] for d in second["docs"]} == Snapshot.of(server).cases_of(coworker)


def test_same_users_second_device_pulls_the_edit(server: LiveServer, seeded: Snapshot) -> None:
    case_id, visit_id, (lead, _) = shared_visit(seeded)
    token, user = server.login(lead)
    first, second = server.enrol(token, "pouch-1"), server.enrol(token, "pouch-2")
    analysis = f"second device {uuid.uuid4()}"
    result = run_node(
        "pull_edit_push.mjs",
        {
            "url": server.sync_url,
            "token": first.token,
            "device_id": first.id,
            "private_key": first.private_b64,
            "visit_id": visit_id,
            "user_ref": first.user_ref,
            "analysis": analysis,
        },
    )
    assert result["push"]["docs_written"] == 1
    other = run_node(
        "pull_read.mjs",
        {
            "url": server.url,
            "sync_url": server.sync_url,
            "token": second.token,
            "device_id": second.id,
            "private_key": second.private_b64,
            "read": [visit_id],
        },
    )
    assert other["read"][visit_id]["rev"] == result["edit"]["rev"]
    assert other["read"][visit_id]["secret"]["analysis"] == analysis
    # Each device got its own envelopes (same kids, wrapped for a different key).
    assert other["kids"] == result["kids"]
    assert other["device_id"] == second.id != first.id
    _ = user, case_id


def test_live_replication_picks_up_a_rest_change(server: LiveServer, seeded: Snapshot) -> None:
    holders = seeded.holders()
    username = sorted(holders[sorted(holders)[-1]])[0]
    case_id = sorted(seeded.cases_of(username))[0]
    token, _ = server.login(username)
    device = server.enrol(token, "pouch-live")
    peer = NodeProcess(
        "live_pull.mjs",
        {
            "url": server.sync_url,
            "token": device.token,
            "device_id": device.id,
            "private_key": device.private_b64,
        },
    )
    try:
        ready = peer.expect("ready", timeout=60)
        assert ready["docs"] >= len(seeded.docs_in({case_id}))
        text = f"Phone call logged on the web {uuid.uuid4()}"
        started = time.monotonic()
        note = server.api(
            "POST",
            f"/api/cases/{case_id}/notes/",
            token,
            expect=201,
            json={"content": {"category": "phone_call", "text": text}},
        )
        peer.send({"wait_for": note["id"]})
        seen = peer.expect("seen", timeout=30)
        elapsed = time.monotonic() - started
        assert seen["id"] == note["id"] and seen["rev"] == note["rev"]
        assert seen["secret"]["text"] == text
        assert elapsed < 10, f"live replication took {elapsed:.1f}s"
        done = peer.expect("done", timeout=30)
        assert "longpoll" in done["feeds"], done
        assert peer.finish() == 0
    finally:
        peer.close()


def _foreign(snapshot: Snapshot, username: str) -> dict[str, dict[str, Any]]:
    mine = snapshot.cases_of(username)
    return {d["id"]: d for d in snapshot.documents if d["case_id"] not in mine}


def test_refused_documents_are_denied_per_document_and_the_rest_lands(
    server: LiveServer, seeded: Snapshot
) -> None:
    holders = seeded.holders()
    # A practitioner with an editable visit, not the one the other tests edit.
    shared_case, _, _ = shared_visit(seeded)
    for case_id in sorted(holders):
        visits = [
            d
            for d in seeded.documents
            if d["case_id"] == case_id and d["type"] == "visit" and d["status"] in EDITABLE
        ]
        notes = [d for d in seeded.documents if d["case_id"] == case_id and d["type"] == "note"]
        if case_id != shared_case and visits and notes:
            break
    else:
        raise AssertionError("no case with an editable visit and a note")
    username = sorted(holders[case_id])[0]
    token, user = server.login(username)
    device = server.enrol(token, "pouch-refused")
    foreign_case = next(c for c in sorted(holders) if username not in holders[c])
    before = Snapshot.of(server)
    result = run_node(
        "push_refused.mjs",
        {
            "url": server.sync_url,
            "token": device.token,
            "device_id": device.id,
            "private_key": device.private_b64,
            "user_ref": device.user_ref,
            "good_visit_id": visits[0]["id"],
            "tamper_note_id": notes[0]["id"],
            "own_case_id": case_id,
            "foreign_case_id": foreign_case,
        },
    )
    push = result["push"]
    refused = {result["ids"]["tampered"], result["ids"]["foreign"]}
    assert push["failed"] is None, push  # the replication itself completes
    assert push["docs_written"] == 1 and push["doc_write_failures"] == 2, push
    assert {d["id"] for d in push["denied"]} == refused
    assert all(d["name"] == "forbidden" and d["reason"] for d in push["denied"])
    # The good edit landed; the refused ones stored nothing.
    rest = server.api("GET", f"/api/visits/{visits[0]['id']}/", token)
    assert rest["rev"] == result["ids"]["good_rev"] and rest["content"]["analysis"] == result["analysis"]
    after = Snapshot.of(server)
    rev_of = {d["id"]: d["rev"] for d in after.documents}
    assert rev_of[notes[0]["id"]] == {d["id"]: d["rev"] for d in before.documents}[notes[0]["id"]]
    assert result["ids"]["foreign"] not in rev_of
    assert len(after.documents) == len(before.documents)
    _ = user


def test_schema_invalid_document_is_denied_not_fatal(server: LiveServer, seeded: Snapshot) -> None:
    """A document the server refuses for its content must be a per-document refusal the
    replicator can carry on from (DESIGN §4: ``{"id", "error": "forbidden", "reason"}``).
    PouchDB treats any other per-document error in a replicated ``_bulk_docs`` as fatal."""
    holders = seeded.holders()
    case_id = sorted(holders)[1]
    username = sorted(holders[case_id])[0]
    token, _ = server.login(username)
    device = server.enrol(token, "pouch-invalid")
    result = run_node(
        "push_invalid.mjs",
        {
            "url": server.sync_url,
            "token": device.token,
            "device_id": device.id,
            "private_key": device.private_b64,
            "user_ref": device.user_ref,
            "case_id": case_id,
        },
    )
    push = result["push"]
    # Whatever the verdict, the valid note of the same batch is stored and the invalid one not.
    stored = {d["id"] for d in Snapshot.of(server).documents}
    assert result["ids"]["valid"] in stored and result["ids"]["invalid"] not in stored
    assert push["docs_written"] == 1 and push["doc_write_failures"] == 1, push
    assert push["failed"] is None, f"PouchDB aborted the replication: {push['failed']}"
    assert [d["id"] for d in push["denied"]] == [result["ids"]["invalid"]]


def test_concurrent_offline_edits_converge_on_both_tablets(server: LiveServer, seeded: Snapshot) -> None:
    """Lead and co-worker edit the same visit offline, different fields; after pushing and
    pulling again both PouchDBs hold the same merged revision with no open conflict."""
    holders = seeded.holders()
    shared = [c for c in sorted(holders) if len(holders[c]) >= 2]
    case_id = shared[-1]
    visit_id = sorted(
        d["id"]
        for d in seeded.documents
        if d["case_id"] == case_id and d["type"] == "visit" and d["status"] in EDITABLE
    )[-1]
    devices = []
    fields = {"analysis": f"Lead's analysis {uuid.uuid4()}", "child_voice": f"Co-worker heard {uuid.uuid4()}"}
    for username, (field, value) in zip(sorted(holders[case_id])[:2], fields.items(), strict=True):
        token, _ = server.login(username)
        device = server.enrol(token, f"pouch-{field}")
        devices.append(
            {
                "token": device.token,
                "device_id": device.id,
                "private_key": device.private_b64,
                "user_ref": device.user_ref,
                "field": field,
                "value": value,
            }
        )
    result = run_node(
        "concurrent_edits.mjs", {"url": server.sync_url, "visit_id": visit_id, "devices": devices}
    )
    assert [p["docs_written"] for p in result["pushes"]] == [1, 1]
    assert all(p["failed"] is None for p in result["pushes"])
    first, second = result["finals"]
    assert first["rev"] == second["rev"], "both tablets must converge on one winner"
    assert first["conflicts"] == [] and second["conflicts"] == []
    for final in (first, second):
        for field, value in fields.items():
            assert final["secret"][field] == value, (field, final["secret"].get(field))
    assert int(first["rev"].split("-")[0]) > int(result["base"].split("-")[0]) + 1
    token, _ = server.login(sorted(holders[case_id])[0])
    rest = server.api("GET", f"/api/visits/{visit_id}/", token)
    assert rest["rev"] == first["rev"] and rest["conflicts"] == []
