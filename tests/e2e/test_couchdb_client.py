"""The ``couchdb`` Python package (1.2), a stock CouchDB client, against /sync/caseload: reads
with HTTP Basic (URL user-info, and a ``Session`` with ``Resource.credentials``), gets its case
key as an enrolled device (a ``Token`` header on the resource), and writes a properly encrypted
edit that the REST API then shows. No compatibility shims were needed on Python 3.11."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import couchdb
import couchdb.http
import pytest

from sync import decrypt_body, encrypt_body, parse_kid, unwrap_key_for_device
from tests.e2e.conftest import Snapshot
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def basic_database(server: LiveServer, username: str, password: str) -> couchdb.Database:
    """Via ``couchdb.Server`` with the credentials in the URL."""
    host = server.url.replace("http://", f"http://{username}:{password}@")
    return couchdb.Server(f"{host}/sync/")["caseload"]


def session_database(server: LiveServer, username: str, password: str) -> couchdb.Database:
    """Via ``couchdb.Database`` on an explicit Session, credentials on the resource."""
    db = couchdb.Database(server.sync_url, session=couchdb.http.Session(timeout=30))
    db.resource.credentials = (username, password)
    return db


def device_database(server: LiveServer, token: str) -> couchdb.Database:
    db = couchdb.Database(server.sync_url, session=couchdb.http.Session(timeout=30))
    db.resource.headers["Authorization"] = f"Token {token}"
    return db


@pytest.fixture
def practitioner(server: LiveServer, seeded: Snapshot, accounts) -> tuple[str, str, str]:
    """(username, case id, editable visit id): the last case with an editable visit."""
    for case_id in sorted(seeded.holders(), reverse=True):
        visits = sorted(
            d["id"]
            for d in seeded.documents
            if d["case_id"] == case_id and d["type"] == "visit" and d["status"] in {"draft", "returned"}
        )
        if visits:
            return sorted(seeded.holders()[case_id])[0], case_id, visits[0]
    raise AssertionError("no editable visit")


def test_couchdb_package_reads_the_caseload(server: LiveServer, practitioner, accounts) -> None:
    username, _, _ = practitioner
    password = accounts[username].password
    truth = Snapshot.of(server)
    own = {i for i, d in truth.docs_in(truth.cases_of(username)).items()}
    for db in (basic_database(server, username, password), session_database(server, username, password)):
        info = db.info()
        assert info["db_name"] == "caseload" and info["doc_count"] == len(own) == len(db)
        assert set(db) == own  # iterates _all_docs
        for doc_id in sorted(own)[:10]:
            doc = db[doc_id]
            assert doc.id == doc_id and doc.rev == truth.docs_in(truth.cases_of(username))[doc_id]["rev"]
            assert doc["case_id"] in truth.cases_of(username) and set(doc["enc"]) >= {
                "alg",
                "kid",
                "iv",
                "ct",
            }
            assert doc_id in db
        foreign = next(d["id"] for d in truth.documents if d["case_id"] not in truth.cases_of(username))
        assert foreign not in db
        with pytest.raises(couchdb.http.ResourceNotFound):
            db[foreign]
        changes = db.changes(since=0)
        assert {r["id"] for r in changes["results"]} == own  # Basic auth: no device envelopes
        middle = changes["results"][len(changes["results"]) // 2]["seq"]
        later = db.changes(since=middle)
        assert 0 < len(later["results"]) < len(changes["results"])
        assert later["last_seq"] == changes["last_seq"]
        idle = db.changes(feed="longpoll", since=changes["last_seq"], timeout=500)
        assert idle["results"] == []
        rows = list(db.view("_all_docs", keys=sorted(own)[:3]))
        assert [r.id for r in rows] == sorted(own)[:3]
        [revision] = list(db.revisions(sorted(own)[0]))
        assert revision.rev == db[sorted(own)[0]].rev


def test_couchdb_package_refuses_bad_credentials(server: LiveServer, practitioner) -> None:
    username, _, _ = practitioner
    with pytest.raises(couchdb.http.Unauthorized):
        session_database(server, username, "not-the-password").info()


def _case_keys(server: LiveServer, username: str, password: str) -> dict[str, bytes]:
    """The user's case keys, as an enrolled device receives them (Basic auth has no envelopes)."""
    token, _ = server.login(username, password)
    device = server.enrol(token, "couchdb-python")
    db = device_database(server, device.token)
    keys = {}
    for row in db.changes(since=0, include_docs=True)["results"]:
        doc = row["doc"]
        if doc["type"] == "key_envelope" and not doc.get("_deleted"):
            keys[doc["kid"]] = unwrap_key_for_device(
                doc["envelope"], device_private_key=device.private_key, device_id=device.id
            )
    assert keys
    return keys


def _seal(doc: dict[str, Any], secret: dict[str, Any], keys: dict[str, bytes]) -> dict[str, str]:
    kid = max((k for k in keys if parse_kid(k)[0] == doc["case_id"]), key=lambda k: parse_kid(k)[1])
    return encrypt_body(
        secret, key=keys[kid], kid=kid, doc_id=doc["_id"], doc_type=doc["type"], case_id=doc["case_id"]
    )


def test_couchdb_package_writes_an_encrypted_edit(server: LiveServer, practitioner, accounts) -> None:
    username, case_id, visit_id = practitioner
    password = accounts[username].password
    token, user = server.login(username, password)
    keys = _case_keys(server, username, password)
    db = session_database(server, username, password)

    doc = db[visit_id]
    secret = decrypt_body(
        doc["enc"], key=keys[doc["enc"]["kid"]], doc_id=doc.id, doc_type=doc["type"], case_id=doc["case_id"]
    )
    analysis = f"Written with the couchdb package {uuid.uuid4()}"
    doc["meta"] = {**doc["meta"], "updated_at": now_iso(), "updated_by": f"u:{user['id']}"}
    doc["enc"] = _seal(doc, {**secret, "analysis": analysis}, keys)
    stale = dict(doc)  # the same edit, still naming the parent revision after the save
    doc_id, new_rev = db.save(doc)
    assert doc_id == visit_id and new_rev.startswith(f"{int(stale['_rev'].split('-')[0]) + 1}-")

    rest = server.api("GET", f"/api/visits/{visit_id}/", token)
    assert rest["rev"] == new_rev and rest["content"]["analysis"] == analysis
    assert rest["content"]["updated_by"] == f"u:{user['id']}"
    assert db[visit_id].rev == new_rev

    # CouchDB semantics through the stock client: a stale rev is a conflict ...
    with pytest.raises(couchdb.http.ResourceConflict):
        db.save(dict(stale))
    # ... and a write claiming another author is refused per document, storing nothing.
    forged = dict(db[visit_id])
    forged["meta"] = {**forged["meta"], "updated_by": "u:999999", "updated_at": now_iso()}
    forged["enc"] = _seal(forged, {**secret, "analysis": "forged"}, keys)
    with pytest.raises(couchdb.http.Forbidden) as refused:
        db.save(forged)
    assert refused.value.args[0] == ("forbidden", "meta.updated_by must be the writer")
    [(ok, _, error)] = db.update([forged])
    assert not ok and "updated_by" in str(error)
    assert server.api("GET", f"/api/visits/{visit_id}/", token)["rev"] == new_rev
    _ = case_id
