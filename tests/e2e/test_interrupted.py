"""A large pull cut off by SIGKILL of the server process, resumed from the checkpoint.

The server gets ~1,500 extra notes on one practitioner's case (written through the document
service into its database before it starts). PouchDB pulls with batches of 100; at the 5th
``_bulk_get`` the test SIGKILLs the server, so the replication fails mid-caseload. The server
is restarted on the same database and port; the same PouchDB replicates again. The final
replica equals the server's set, holds no duplicate or conflicting revision, and the second
run read only what the first had not checkpointed."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Snapshot
from tests.e2e.node import NodeProcess
from tests.live import LiveServer

pytestmark = pytest.mark.e2e

NOTES = 1500
BATCH = 100
HOLD_AT = 5

_BULK_NOTES = """
import json
from django.db import transaction
from backend.accounts.models import Role
from backend.audit.services import Actor
from backend.cases.models import Allocation
from backend.records.services import document_create
allocation = (
    Allocation.objects.filter(ended_seq__isnull=True, user__role=Role.PRACTITIONER)
    .select_related("user").order_by("case_id", "user__username").first()
)
actor = Actor(user=allocation.user)
with transaction.atomic():
    for i in range(%d):
        document_create(actor=actor, case_id=allocation.case_id, doc_type="note",
                        content={"category": "general", "text": f"Bulk note {i}: " + "Visit arranged. " * 20})
print(json.dumps({"username": allocation.user.username, "case_id": allocation.case_id}))
"""

_CHECKPOINTS = """
import json
from backend.syncapi.models import LocalDoc
print(json.dumps([{"id": d.doc_id, "body": d.body} for d in LocalDoc.objects.filter(owner="d:%d")]))
"""


@pytest.fixture
def loaded_server(tmp_path):
    server = LiveServer(tmp_path, name="interrupted")
    try:
        server.prepare()
        loaded = server.shell(_BULK_NOTES % NOTES)
        server.start()
        yield server, loaded["username"]
    finally:
        server.close()


def test_pull_resumes_from_its_checkpoint_after_the_server_is_killed(loaded_server) -> None:
    server, username = loaded_server
    truth = Snapshot.of(server)
    expected = {i: d["rev"] for i, d in truth.docs_in(truth.cases_of(username)).items()}
    assert len(expected) > NOTES
    token, _ = server.login(username)
    device = server.enrol(token, "pouch-interrupted")
    peer = NodeProcess(
        "interrupted_pull.mjs",
        {"url": server.sync_url, "token": device.token, "batch_size": BATCH, "hold_at": HOLD_AT},
    )
    try:
        holding = peer.expect("holding", timeout=120)
        assert holding["bulk_get_docs"] == (HOLD_AT - 1) * BATCH  # four batches served
        server.kill()  # SIGKILL while the replication is under way
        assert not server.running
        peer.send({"server": "killed"})
        interrupted = peer.expect("interrupted", timeout=60)
        first = interrupted["result"]
        assert first["failed"] is not None, "the first run must fail against a dead server"
        assert 0 < interrupted["local_docs"] < len(expected)

        server.start()  # same database, same port
        checkpoints = server.shell(_CHECKPOINTS % device.pk)
        assert checkpoints, "PouchDB's checkpoint must be on the server"
        saved_seq = checkpoints[0]["body"]["last_seq"]
        with server.client(device.token) as client:
            feed = client.get("/sync/caseload/_changes", params={"since": "0", "limit": "10000"}).json()
            after = client.get(
                "/sync/caseload/_changes", params={"since": saved_seq, "limit": "10000"}
            ).json()
        total_changes, changes_after_checkpoint = len(feed["results"]), len(after["results"])
        peer.send({"server": "back"})
        final = peer.expect("final", timeout=120)
        assert peer.finish() == 0
    finally:
        peer.close()

    second = final["second"]
    print(
        f"caseload {total_changes} changes; first run read {first['docs_read']} before the kill, "
        f"checkpoint {saved_seq} ({total_changes - changes_after_checkpoint} changes); "
        f"second run started from {final['second_run_since'][0]} and read {final['second_bulk_get_docs']}"
    )
    assert second["failed"] is None and second["ok"] and second["doc_write_failures"] == 0
    assert 0 < changes_after_checkpoint < total_changes
    # The second run started where the server-side checkpoint was, not from 0 ...
    assert final["second_run_since"][0] == str(saved_seq) != "0"
    # ... and fetched exactly what the replica still lacked: fewer than the whole caseload.
    assert final["second_bulk_get_docs"] == second["docs_read"] == total_changes - interrupted["local_docs"]
    assert final["second_bulk_get_docs"] < total_changes
    assert first["docs_read"] + second["docs_read"] == total_changes
    # The replica is exactly the server's set: same ids, same revs, one each, no conflicts.
    docs = final["docs"]
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)) == final["local_doc_count"]
    case_docs = {d["id"]: d["rev"] for d in docs if not d["id"].startswith("keyenv:")}
    assert case_docs == expected
    assert all(d["conflicts"] == [] for d in docs)
    assert any(d["id"].startswith("keyenv:") for d in docs)
    assert "Traceback" not in server.log_text().split("Application startup complete")[-1]
