"""The HTTP peer: error mapping, retries, 413 halving and the ``_bulk_get`` fallback.

Replication goes to a real pouchdb-server; ``FakeDoorstep`` sits in front of it only to play
what pouchdb-server cannot: a body-size limit, a missing ``_bulk_get``, 503s, a revoked device.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from doorstep_client import Remote, Replica, replicate
from doorstep_client.errors import DeviceRevoked, NotFound, ServerError, ServerUnreachable

from .doubles import FakeDoorstep
from .helpers import generic_histories, load, replica_leaves, server_leaves


def _remote(double: FakeDoorstep, **options: object) -> Remote:
    return Remote(f"{double.url}/sync/caseload", retries=3, sleep=lambda _: None, **options)  # type: ignore[arg-type]


def test_couchdb_errors_become_typed_exceptions(couch: Remote) -> None:
    with pytest.raises(NotFound) as caught:
        couch.get("no-such-doc")
    assert caught.value.status == 404 and caught.value.error == "not_found"
    assert "not_found" in str(caught.value) and "\n" not in str(caught.value)


def test_a_revoked_device_is_told_apart_from_a_bad_token(fake_doorstep: FakeDoorstep) -> None:
    fake_doorstep.revoked = True
    with _remote(fake_doorstep) as remote, pytest.raises(DeviceRevoked) as caught:
        remote.info()
    assert caught.value.reason == "device revoked"
    assert len(fake_doorstep.requests) == 1  # a 401 is not retried


def test_413_halves_the_batch_until_it_fits(
    fake_doorstep: FakeDoorstep, couch: Remote, tmp_path: Path
) -> None:
    replica = Replica(tmp_path / "r.sqlite3")
    for index in range(64):
        replica.put_local_edit({"_id": f"big-{index:02d}", "text": "x" * 400})
    fake_doorstep.max_body = 8000  # about 15 documents a request

    with _remote(fake_doorstep) as remote:
        result = replicate(replica, remote, batch_size=64, progress=False)
        assert result.completed and result.docs_written == 64 and not result.failures
        assert server_leaves(couch) == replica_leaves(replica)
        posts = fake_doorstep.seen("/_bulk_docs")
        assert [p.status for p in posts][:3] == [413, 413, 413]  # 64 → 32 → 16 → 8 fits
        assert all(p.size <= 8000 for p in posts if p.status == 201)
        assert remote.batch_cap("_bulk_docs") == 8

        # the smaller size is remembered: the next push sends batches of 8 straight away
        for index in range(64):
            doc_id = f"big-{index:02d}"
            replica.put_local_edit({"_id": doc_id, "_rev": replica.get(doc_id)["_rev"], "text": "y" * 400})
        fake_doorstep.requests.clear()
        again = replicate(replica, remote, batch_size=64, progress=False)

    assert again.docs_written == 64
    assert [p.status for p in fake_doorstep.seen("/_bulk_docs")] == [201] * 8
    assert server_leaves(couch) == replica_leaves(replica)


def test_a_single_document_over_the_limit_is_reported_not_dropped(
    fake_doorstep: FakeDoorstep, couch: Remote, tmp_path: Path
) -> None:
    replica = Replica(tmp_path / "r.sqlite3")
    replica.put_local_edit({"_id": "huge", "text": "x" * 20000})
    for index in range(5):
        replica.put_local_edit({"_id": f"small-{index}", "text": "ok"})
    fake_doorstep.max_body = 10000

    with _remote(fake_doorstep) as remote:
        result = replicate(replica, remote, progress=False)

    assert [(f.id, f.error) for f in result.write_failures] == [("huge", "too_large")]
    assert result.docs_written == 5
    assert set(server_leaves(couch)) == {f"small-{index}" for index in range(5)}
    assert replica.get("huge")["text"] == "x" * 20000  # still here, to be reported


def test_no_bulk_get_falls_back_to_open_revs(
    fake_doorstep: FakeDoorstep, couch: Remote, tmp_path: Path
) -> None:
    load(couch, generic_histories(40))
    fake_doorstep.refuse_bulk_get = True
    replica = Replica(tmp_path / "r.sqlite3")

    with _remote(fake_doorstep) as remote:
        result = replicate(remote, replica, progress=False)

    assert result.completed and not result.failures
    assert replica_leaves(replica) == server_leaves(couch)
    assert len(fake_doorstep.seen("/_bulk_get")) == 1  # asked once, then remembered
    assert len(fake_doorstep.seen("open_revs=")) == 40


def test_transient_server_errors_are_retried(
    fake_doorstep: FakeDoorstep, couch: Remote, tmp_path: Path
) -> None:
    load(couch, generic_histories(10))
    fake_doorstep.fail_next = 2
    pauses: list[float] = []
    replica = Replica(tmp_path / "r.sqlite3")
    with Remote(f"{fake_doorstep.url}/sync/caseload", retries=3, backoff=0.5, sleep=pauses.append) as remote:
        result = replicate(remote, replica, progress=False)
    assert result.completed and replica_leaves(replica) == server_leaves(couch)
    assert len(pauses) == 2 and pauses[1] > pauses[0] / 2  # backoff grows (with jitter)


def test_a_pull_cut_off_by_the_server_resumes_where_it_stopped(
    fake_doorstep: FakeDoorstep, couch: Remote, tmp_path: Path
) -> None:
    docs = generic_histories(120, seed=9)
    load(couch, docs)
    replica = Replica(tmp_path / "r.sqlite3")
    fake_doorstep.down_after = 12  # the server goes down part-way through the pull
    with _remote(fake_doorstep) as remote, pytest.raises(ServerError):
        replicate(remote, replica, batch_size=20, progress=False)
    held = replica_leaves(replica)
    assert 0 < len(held) < 120

    fake_doorstep.down_after = None
    with _remote(fake_doorstep) as remote:
        resumed = replicate(remote, replica, batch_size=20, progress=False)

    assert resumed.start_seq != 0 and resumed.changes_read == 120 - len(held)
    assert replica_leaves(replica) == server_leaves(couch)


def test_an_unreachable_server_gives_up_after_the_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pauses: list[float] = []
    remote = Remote(f"http://user:pw@127.0.0.1:{port}/db", retries=2, sleep=pauses.append)
    with remote, pytest.raises(ServerUnreachable) as caught:
        remote.info()
    assert len(pauses) == 2
    assert str(caught.value) == f"cannot reach http://127.0.0.1:{port}/db (connection failed)"  # no password


def test_basic_auth_from_the_url_and_tokens_are_sent(fake_doorstep: FakeDoorstep) -> None:
    url = fake_doorstep.url.replace("http://", "http://amy:correct%20horse@") + "/sync/caseload"
    with Remote(url) as remote:
        remote.info()
    with Remote(f"{fake_doorstep.url}/sync/caseload", token="abc", token_scheme="Bearer") as remote:
        remote.info()
    basic, bearer = (seen.authorization for seen in fake_doorstep.requests)
    assert basic is not None and basic.startswith("Basic ")
    assert bearer == "Bearer abc"


def test_ids_with_reserved_characters_round_trip(couch: Remote) -> None:
    doc_id = "keyenv:case:01JC#2/x?y"
    rev = couch.put({"_id": doc_id, "n": 1})
    assert couch.get(doc_id)["_rev"] == rev
    docs, failures = couch.bulk_get([(doc_id, [rev])])
    assert [d["_id"] for d in docs] == [doc_id] and not failures
