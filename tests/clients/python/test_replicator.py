"""The replicator between the SQLite replica and a real pouchdb-server, both directions."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from doorstep_client import Remote, Replica, Replicator, replicate, replication_id
from doorstep_client.replicator import BatchReport, compare_histories, find_start

from .helpers import (
    generic_histories,
    load,
    replica_leaves,
    replica_winners,
    server_leaves,
    server_winners,
)


def _open_revs(remote: Remote, doc_id: str) -> dict[str, dict[str, Any]]:
    data = remote.request_json("GET", doc_id, params={"open_revs": "all", "revs": "true"})
    return {entry["ok"]["_rev"]: entry["ok"] for entry in data if "ok" in entry}


def test_pull_with_conflicts_and_deletions_matches_the_server(couch: Remote, tmp_path: Path) -> None:
    docs = generic_histories(300)
    load(couch, docs)
    replica = Replica(tmp_path / "r.sqlite3")

    result = replicate(couch, replica, batch_size=64, progress=False)

    assert result.completed and not result.failures
    assert result.batches == 5 and result.changes_read == 300
    assert result.docs_written == result.docs_read == len(docs)
    ids = sorted({doc["_id"] for doc in docs})
    assert replica_leaves(replica) == server_leaves(couch)
    assert replica_winners(replica, ids) == server_winners(couch, ids)
    deleted = [doc_id for doc_id, (winner, _) in replica_winners(replica, ids).items() if winner is None]
    conflicted = [doc_id for doc_id, (_, conflicts) in replica_winners(replica, ids).items() if conflicts]
    assert deleted and conflicted  # the data set really has both
    # bodies arrive as the server holds them, with the history behind each leaf
    for doc_id in ids[:20]:
        for rev, server_doc in _open_revs(couch, doc_id).items():
            local = replica.get(doc_id, rev, revs=True)
            assert local == server_doc


def test_push_of_local_edits_keeps_their_revisions(couch: Remote, tmp_path: Path) -> None:
    replica = Replica(tmp_path / "r.sqlite3")
    revs: dict[str, str] = {}
    for index in range(120):
        revs[f"n{index:03d}"] = replica.put_local_edit({"_id": f"n{index:03d}", "n": index})
    for index in range(0, 120, 3):
        doc_id = f"n{index:03d}"
        revs[doc_id] = replica.put_local_edit({"_id": doc_id, "_rev": revs[doc_id], "n": -index})
    for index in range(0, 120, 10):
        doc_id = f"n{index:03d}"
        revs[doc_id] = replica.put_local_edit({"_id": doc_id, "_rev": revs[doc_id], "_deleted": True})

    result = replicate(replica, couch, progress=False)

    assert result.completed and result.docs_written == 120 and not result.failures
    for doc_id, rev in revs.items():
        server = _open_revs(couch, doc_id)
        assert list(server) == [rev]
        assert server[rev]["_revisions"] == replica.get(doc_id, rev, revs=True)["_revisions"]
    assert replica_leaves(replica) == server_leaves(couch)


def _random_edits(replica: Replica, rng: random.Random, ids: list[str], author: str) -> None:
    for doc_id in rng.sample(ids, 8):
        info = replica.doc_info(doc_id)
        if info is None:
            replica.put_local_edit({"_id": doc_id, "by": author})
        elif rng.random() < 0.15:
            replica.put_local_edit({"_id": doc_id, "_rev": info.winner, "_deleted": True})
        else:
            replica.put_local_edit({"_id": doc_id, "_rev": info.winner, "by": author, "x": rng.random()})


def test_two_replicas_and_the_server_converge(couch: Remote, tmp_path: Path) -> None:
    rng = random.Random(11)
    ids = [f"shared-{index:02d}" for index in range(20)]
    tablets = [Replica(tmp_path / "a.sqlite3"), Replica(tmp_path / "b.sqlite3")]
    for round_no in range(4):
        for name, tablet in zip("ab", tablets, strict=True):
            _random_edits(tablet, rng, ids, f"{name}{round_no}")
        for tablet in tablets:
            replicate(tablet, couch, progress=False, batch_size=7)
            replicate(couch, tablet, progress=False, batch_size=7)
    replicate(couch, tablets[0], progress=False)  # a catches up with b's last push

    expected = server_leaves(couch)
    assert set(expected) == set(ids)
    winners = server_winners(couch, ids)
    for tablet in tablets:
        assert replica_leaves(tablet) == expected
        assert replica_winners(tablet, ids) == winners
    assert any(conflicts for _, conflicts in winners.values())  # concurrent edits did conflict
    # nothing left to send: b's next push only re-checks what its last pull brought in ...
    again = replicate(tablets[1], couch, progress=False)
    assert again.missing_found == 0 and again.docs_written == 0
    # ... and the one after that reads nothing at all
    assert replicate(tablets[1], couch, progress=False).changes_read == 0


class Interrupted(Exception):
    pass


def test_an_interrupted_pull_resumes_from_its_checkpoint(couch: Remote, tmp_path: Path) -> None:
    docs = generic_histories(250, seed=5)
    load(couch, docs)
    replica = Replica(tmp_path / "r.sqlite3")

    def stop_after_four(report: BatchReport) -> None:
        if report.number == 4:
            raise Interrupted

    first = Replicator(couch, replica, batch_size=25, progress=False, on_batch=stop_after_four)
    with pytest.raises(Interrupted):
        first.run()
    assert first.result is not None and not first.result.completed
    # the same checkpoint, written on both sides after the fourth batch
    local, remote = replica.get_local(first.replication_id), couch.get_local(first.replication_id)
    assert local is not None and remote is not None
    strip = {"_id", "_rev"}
    checkpoint = {k: v for k, v in local.items() if k not in strip}
    assert checkpoint == {k: v for k, v in remote.items() if k not in strip}
    assert checkpoint["source_last_seq"] == first.result.end_seq
    assert len(replica_leaves(replica)) == 100

    second = replicate(couch, replica, batch_size=25, progress=False)

    assert second.start_seq == first.result.end_seq  # the checkpoint was used
    assert second.changes_read == 150
    assert first.result.docs_read + second.docs_read == len(docs)  # nothing fetched twice
    assert first.result.docs_written + second.docs_written == len(docs)
    assert replica_leaves(replica) == server_leaves(couch)
    ids = sorted({doc["_id"] for doc in docs})
    assert replica_winners(replica, ids) == server_winners(couch, ids)
    # the next run starts where this one ended and has nothing to do
    third = replicate(couch, replica, progress=False)
    assert third.start_seq == second.end_seq and third.changes_read == 0


def test_a_lost_checkpoint_on_one_side_means_a_rescan_that_writes_nothing(
    couch: Remote, tmp_path: Path
) -> None:
    load(couch, generic_histories(60))
    replica = Replica(tmp_path / "r.sqlite3")
    first = replicate(couch, replica, progress=False)
    replica.delete_local(first.replication_id)

    again = replicate(couch, replica, progress=False)

    assert again.start_seq == 0 and again.changes_read == 60
    assert again.missing_found == 0 and again.docs_read == 0


def test_the_server_side_checkpoint_history_is_matched_after_a_new_session_on_one_side(
    couch: Remote, tmp_path: Path
) -> None:
    load(couch, generic_histories(40))
    replica = Replica(tmp_path / "r.sqlite3")
    first = replicate(couch, replica, batch_size=10, progress=False)
    load(couch, generic_histories(50)[-10:])  # ten more (new ids)
    second = replicate(couch, replica, batch_size=10, progress=False)
    # the replica's log is rolled back to the first session's: only the history agrees now
    local = replica.get_local(first.replication_id)
    assert local is not None and local["session_id"] == second.session_id
    replica.put_local(
        first.replication_id, {**local, "session_id": "elsewhere", "history": local["history"][1:]}
    )

    third = replicate(couch, replica, batch_size=10, progress=False)

    assert third.start_seq == first.end_seq  # the newest session both sides know
    assert third.missing_found == 0


def test_replication_ids_are_stable_directional_and_credential_free() -> None:
    remote = Remote("http://amy:secret@127.0.0.1:5984/caseload/")
    assert remote.peer_id == "http://127.0.0.1:5984/caseload"
    push = replication_id("replica:abc", remote.peer_id, filter_name="f")
    assert push == replication_id("replica:abc", "http://127.0.0.1:5984/caseload", filter_name="f")
    assert push != replication_id(remote.peer_id, "replica:abc", filter_name="f")
    assert push != replication_id("replica:abc", remote.peer_id)
    assert len(push) == 32
    remote.close()


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        pytest.param(None, {"session_id": "s1"}, (0, []), id="no-source-log"),
        pytest.param(
            {"session_id": "s2", "source_last_seq": 9, "history": [{"session_id": "s2", "recorded_seq": 9}]},
            {"session_id": "s2", "source_last_seq": 7, "history": [{"session_id": "s2", "recorded_seq": 7}]},
            (9, [{"session_id": "s2", "recorded_seq": 9}]),
            id="same-session",
        ),
        pytest.param(
            {
                "session_id": "s3",
                "history": [
                    {"session_id": "s3", "recorded_seq": 30},
                    {"session_id": "s1", "recorded_seq": 10},
                ],
            },
            {
                "session_id": "x",
                "history": [
                    {"session_id": "x", "recorded_seq": 99},
                    {"session_id": "s1", "recorded_seq": 10},
                ],
            },
            (10, []),
            id="shared-older-session",
        ),
        pytest.param(
            {"session_id": "a", "history": [{"session_id": "a", "recorded_seq": "5-5"}]},
            {"session_id": "b", "history": [{"session_id": "b", "recorded_seq": "6-6"}]},
            (0, []),
            id="nothing-shared",
        ),
    ],
)
def test_compare_replication_logs(
    source: dict[str, Any] | None, target: dict[str, Any] | None, expected: tuple[Any, list[Any]]
) -> None:
    assert find_start(source, target) == expected


def test_compare_histories_finds_the_targets_session_in_the_sources_older_ones() -> None:
    source = [{"session_id": "new", "recorded_seq": 50}, {"session_id": "t", "recorded_seq": 20}]
    target = [{"session_id": "t", "recorded_seq": 20}, {"session_id": "old", "recorded_seq": 5}]
    assert compare_histories(source, target) == (20, [{"session_id": "old", "recorded_seq": 5}])
