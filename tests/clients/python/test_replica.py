"""The SQLite replica on its own: edits, replicated writes, the changes feed, purge and erase."""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path

import pytest
from doorstep_client.errors import LocalConflict, MissingDocument
from doorstep_client.replica import Replica

from sync import revtree

from .helpers import generic_histories, replica_leaves


@pytest.fixture
def replica(tmp_path: Path) -> Replica:
    return Replica(tmp_path / "replica.sqlite3")


def test_new_file_is_private_and_keeps_its_uuid(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    first = Replica(path)
    uuid = first.uuid
    first.close()
    assert os.stat(path).st_mode & 0o777 == 0o600
    with Replica(path) as again:
        assert again.uuid == uuid
        assert again.peer_id == f"replica:{uuid}"
    assert len(uuid) == 32


def test_local_edits_build_a_history(replica: Replica) -> None:
    rev1 = replica.put_local_edit({"_id": "a", "n": 1})
    assert rev1.startswith("1-")
    rev2 = replica.put_local_edit({"_id": "a", "_rev": rev1, "n": 2})
    assert rev2.startswith("2-")
    doc = replica.get("a", revs=True)
    assert doc["n"] == 2
    assert doc["_revisions"] == {"start": 2, "ids": [rev2[2:], rev1[2:]]}
    # only leaf bodies are kept, as in CouchDB after compaction
    with pytest.raises(MissingDocument):
        replica.get("a", rev1)


def test_edit_of_a_non_leaf_or_an_existing_doc_conflicts(replica: Replica) -> None:
    rev1 = replica.put_local_edit({"_id": "a", "n": 1})
    replica.put_local_edit({"_id": "a", "_rev": rev1, "n": 2})
    with pytest.raises(LocalConflict):
        replica.put_local_edit({"_id": "a", "_rev": rev1, "n": 3})
    with pytest.raises(LocalConflict):
        replica.put_local_edit({"_id": "a", "n": 3})


def test_recreating_a_deleted_doc_extends_its_tombstone(replica: Replica) -> None:
    rev1 = replica.put_local_edit({"_id": "a", "n": 1})
    rev2 = replica.put_local_edit({"_id": "a", "_rev": rev1, "_deleted": True})
    with pytest.raises(MissingDocument):
        replica.get("a")
    rev3 = replica.put_local_edit({"_id": "a", "n": 3})
    assert rev3.startswith("3-")
    assert replica.get("a", revs=True)["_revisions"]["ids"][1] == rev2[2:]


def test_replicated_conflicts_pick_the_revtree_winner(replica: Replica) -> None:
    docs = [
        {"_id": "x", "_rev": "1-" + "a" * 32, "v": 0},
        {
            "_id": "x",
            "_rev": "2-" + "b" * 32,
            "_revisions": {"start": 2, "ids": ["b" * 32, "a" * 32]},
            "v": 1,
        },
        {
            "_id": "x",
            "_rev": "2-" + "c" * 32,
            "_revisions": {"start": 2, "ids": ["c" * 32, "a" * 32]},
            "v": 2,
        },
        {
            "_id": "x",
            "_rev": "3-" + "d" * 32,
            "_revisions": {"start": 3, "ids": ["d" * 32, "b" * 32]},
            "_deleted": True,
        },
    ]
    assert replica.bulk_store_replicated(docs) == []
    doc = replica.get("x", conflicts=True)
    # the deleted 3-d loses to the live 2-c; nothing else is live
    assert doc["_rev"] == "2-" + "c" * 32 and doc["v"] == 2
    assert "_conflicts" not in doc
    info = replica.doc_info("x")
    assert info is not None
    assert {leaf.rev for leaf in revtree.leaves(info.tree)} == {"2-" + "c" * 32, "3-" + "d" * 32}
    assert replica.get("x", "3-" + "d" * 32)["_deleted"] is True


def test_storing_a_revision_twice_changes_nothing(replica: Replica) -> None:
    doc = {"_id": "x", "_rev": "1-" + "a" * 32, "v": 0}
    replica.bulk_store_replicated([doc])
    seq = replica.update_seq
    assert replica.bulk_store_replicated([doc]) == []
    assert replica.update_seq == seq


def test_malformed_replicated_docs_are_refused_per_document(replica: Replica) -> None:
    failures = replica.bulk_store_replicated(
        [{"_id": "good", "_rev": "1-" + "a" * 32}, {"_id": "bad", "_rev": "one"}, {"_rev": "1-" + "b" * 32}]
    )
    assert [(f.id, f.error) for f in failures] == [("bad", "bad_request"), ("None", "bad_request")]
    assert replica.get("good")["_rev"] == "1-" + "a" * 32


def test_revs_diff_and_bulk_get(replica: Replica) -> None:
    replica.bulk_store_replicated(generic_histories(30))
    info = replica.doc_info("doc-0000")
    assert info is not None
    known = [leaf.rev for leaf in revtree.leaves(info.tree)]
    unknown = "9-" + "f" * 32
    assert replica.revs_diff({"doc-0000": [*known, unknown], "nope": ["1-" + "0" * 32]}) == {
        "doc-0000": [unknown],
        "nope": ["1-" + "0" * 32],
    }
    docs, failures = replica.bulk_get([("doc-0000", known), ("nope", ["1-" + "0" * 32])])
    assert sorted(d["_rev"] for d in docs) == sorted(known)
    assert all(d["_revisions"]["start"] == int(d["_rev"].split("-")[0]) for d in docs)
    assert [(f.id, f.error) for f in failures] == [("nope", "not_found")]


def test_changes_feed_lists_each_doc_once_in_order(replica: Replica) -> None:
    replica.bulk_store_replicated(generic_histories(40))
    first = replica.changes_since(0, 15)
    assert len(first.changes) == 15 and first.pending == 25
    rest = replica.changes_since(first.last_seq)
    ids = [c.id for c in first.changes + rest.changes]
    assert len(ids) == len(set(ids)) == 40
    seqs = [c.seq for c in first.changes + rest.changes]
    assert seqs == sorted(seqs)
    # an edit moves the document to the end of the feed
    replica.put_local_edit({"_id": "doc-0001", "_rev": replica.get("doc-0001")["_rev"], "v": "new"})
    assert [c.id for c in replica.changes_since(rest.last_seq).changes] == ["doc-0001"]


def test_local_docs_round_trip(replica: Replica) -> None:
    assert replica.get_local("cp") is None
    replica.put_local("cp", {"session_id": "s1", "source_last_seq": 5})
    replica.put_local("cp", {"_rev": "ignored", "session_id": "s2", "source_last_seq": 9})
    assert replica.get_local("cp") == {
        "_id": "_local/cp",
        "_rev": "0-2",
        "session_id": "s2",
        "source_last_seq": 9,
    }
    # _local documents are not in the changes feed
    assert replica.changes_since(0).changes == ()


def _file_bytes(path: Path) -> bytes:
    found = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            found += part.read_bytes()
    return found


def test_purge_case_removes_every_byte_of_the_case(replica: Replica) -> None:
    fragment = base64.b64encode(os.urandom(600)).decode()  # large: lives on overflow pages
    docs = []
    for index in range(20):
        docs.append(
            {
                "_id": f"visit:{index:04d}",
                "_rev": f"1-{index:032x}",
                "type": "visit",
                "case_id": "case:GONE",
                "meta": {},
                "enc": {"alg": "A256GCM", "kid": "case:GONE#1", "iv": "AAAA", "ct": f"{fragment}{index:04d}"},
            }
        )
    docs.append(
        {"_id": "visit:keep", "_rev": "1-" + "e" * 32, "type": "visit", "case_id": "case:KEEP", "enc": {}}
    )
    replica.bulk_store_replicated(docs)
    second = replica.put_local_edit({**docs[0], "_rev": docs[0]["_rev"], "enc": {"ct": fragment + "edited"}})
    assert second.startswith("2-")
    replica.record_refusals([], at="now")
    assert fragment.encode() in _file_bytes(replica.path)

    assert replica.purge_case("case:GONE") == 20

    assert fragment.encode() not in _file_bytes(replica.path)
    assert b"case:GONE" not in _file_bytes(replica.path)
    assert replica.doc_info("visit:0000") is None
    assert [c.id for c in replica.changes_since(0).changes] == ["visit:keep"]
    assert replica.case_ids() == ["case:KEEP"]
    with sqlite3.connect(replica.path) as check:  # still a sound database
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_erase_deletes_the_file_and_its_companions(replica: Replica) -> None:
    replica.bulk_store_replicated(generic_histories(5))
    path = replica.path
    assert Path(f"{path}-wal").exists()
    replica.erase()
    assert not any(Path(f"{path}{suffix}").exists() for suffix in ("", "-wal", "-shm"))


def test_replica_agrees_with_revtree_on_every_generated_history(replica: Replica) -> None:
    docs = generic_histories(60, seed=3)
    replica.bulk_store_replicated(docs)
    by_id: dict[str, revtree.RevTree] = {}
    for doc in docs:
        by_id[doc["_id"]], _ = revtree.merge(
            by_id.get(doc["_id"], ()), revtree.path_from_doc(doc), revs_limit=1000
        )
    leaves = replica_leaves(replica)
    for doc_id, tree in by_id.items():
        info = replica.doc_info(doc_id)
        assert info is not None
        assert info.winner == revtree.winning_rev(tree)
        assert info.deleted == revtree.is_deleted(tree)
        assert leaves[doc_id] == {leaf.rev for leaf in revtree.leaves(tree)}
