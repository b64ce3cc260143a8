"""pouchdb-server 4.2 (in memory, loopback), a CouchDB-protocol server nobody here wrote,
replicating with Doorstep's caseload in both directions: through the Python client
(clients/python: ``Remote``/``Replica``/``Replicator``) and through PouchDB in Node."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from doorstep_client import Remote, Replica, Replicator

from sync import decrypt_body, encrypt_body, parse_kid, unwrap_key_for_device
from tests.e2e.conftest import Snapshot
from tests.e2e.node import PouchServer, run_node
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def couch(tmp_path) -> Iterator[PouchServer]:
    server = PouchServer(tmp_path / "pouchdb-server")
    try:
        yield server
    finally:
        server.stop()


def _pick(seeded: Snapshot, index: int) -> tuple[str, str, str]:
    """(username, case id, editable visit id), the ``index``-th such case."""
    found = []
    for case_id in sorted(seeded.holders()):
        visits = sorted(
            d["id"]
            for d in seeded.documents
            if d["case_id"] == case_id
            and d["type"] == "visit"
            and d["status"] in {"draft", "submitted", "returned"}
        )
        if visits:
            found.append((sorted(seeded.holders()[case_id])[-1], case_id, visits[-1]))
    return found[index % len(found)]


def _all_docs(url: str) -> dict[str, str]:
    rows = httpx.get(f"{url}/_all_docs", timeout=30).json()["rows"]
    return {r["id"]: r["value"]["rev"] for r in rows}


def test_python_client_replicates_with_pouchdb_server_both_ways(
    server: LiveServer, seeded: Snapshot, couch: PouchServer, tmp_path
) -> None:
    username, case_id, visit_id = _pick(seeded, 2)
    token, user = server.login(username)
    device = server.enrol(token, "python-client")
    caseload = Remote(server.sync_url, token=device.token, retries=1)
    third_party = Remote(couch.database("mirror"), retries=1)
    replica = Replica(tmp_path / "replica.sqlite3")
    try:
        # Doorstep → replica → pouchdb-server.
        pulled = Replicator(caseload, replica, progress=False).run()
        assert pulled.completed and not pulled.failures
        pushed = Replicator(replica, third_party, progress=False, batch_size=20).run()
        assert pushed.completed and not pushed.failures and pushed.docs_written == pulled.docs_written
        truth = Snapshot.of(server)
        expected = {i: d["rev"] for i, d in truth.docs_in(truth.cases_of(username)).items()}
        mirrored = _all_docs(third_party.url)
        assert {i: r for i, r in mirrored.items() if not i.startswith("keyenv:")} == expected
        assert any(i.startswith("keyenv:") for i in mirrored)
        # Nothing new: the checkpoint on both sides makes the second run a no-op.
        again = Replicator(replica, third_party, progress=False).run()
        assert again.docs_written == 0 and again.start_seq == pushed.end_seq

        # An edit made on pouchdb-server (new_edits=true: pouchdb-server picks the rev).
        kids = [i.removeprefix("keyenv:") for i in mirrored if i.startswith("keyenv:")]
        kid = max((k for k in kids if parse_kid(k)[0] == case_id), key=lambda k: parse_kid(k)[1])
        envelope = third_party.get(f"keyenv:{kid}")
        key = unwrap_key_for_device(
            envelope["envelope"], device_private_key=device.private_key, device_id=device.id
        )
        doc = third_party.get(visit_id)
        secret = decrypt_body(doc["enc"], key=key, doc_id=visit_id, doc_type="visit", case_id=case_id)
        analysis = f"Edited on pouchdb-server {uuid.uuid4()}"
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        doc["meta"] = {**doc["meta"], "updated_at": now, "updated_by": f"u:{user['id']}"}
        doc["enc"] = encrypt_body(
            {**secret, "analysis": analysis},
            key=key,
            kid=envelope["kid"],
            doc_id=visit_id,
            doc_type="visit",
            case_id=case_id,
        )
        new_rev = third_party.put(doc)

        # pouchdb-server → replica → Doorstep.
        back = Replicator(third_party, replica, progress=False).run()
        assert back.completed and back.docs_written == 1
        up = Replicator(replica, caseload, progress=False).run()
        assert up.completed and not up.failures and up.docs_written == 1
        rest = server.api("GET", f"/api/visits/{visit_id}/", token)
        assert rest["rev"] == new_rev and rest["content"]["analysis"] == analysis
    finally:
        replica.close()
        caseload.close()
        third_party.close()


def test_pouchdb_relays_the_caseload_through_pouchdb_server(
    server: LiveServer, seeded: Snapshot, couch: PouchServer
) -> None:
    username, case_id, visit_id = _pick(seeded, 3)
    token, user = server.login(username)
    device = server.enrol(token, "pouch-relay")
    target = couch.database("relay")
    result = run_node(
        "relay.mjs",
        {
            "sync_url": server.sync_url,
            "token": device.token,
            "couch_url": target,
            "device_id": device.id,
            "private_key": device.private_b64,
            "user_ref": device.user_ref,
            "visit_id": visit_id,
        },
    )
    assert result["down"]["failed"] is None and result["down"]["doc_write_failures"] == 0
    truth = Snapshot.of(server)
    expected = set(truth.docs_in(truth.cases_of(username)))
    assert {i for i in result["couch_ids"] if not i.startswith("keyenv:")} >= expected
    assert result["up"]["failed"] is None and result["up"]["docs_written"] == 1, result["up"]
    rest = server.api("GET", f"/api/visits/{visit_id}/", token)
    assert rest["rev"] == result["edit"]["rev"] and rest["content"]["analysis"] == result["analysis"]
    _ = case_id, user
