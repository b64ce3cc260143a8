"""Building generic CouchDB histories for the replication tests, and comparing peers."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from doorstep_client import Remote, Replica
from doorstep_client.errors import NotFound

from sync import revtree


def rev_hash(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def generic_histories(count: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` documents as ``new_edits=false`` revisions: linear histories, some with two or
    three conflicting branches, some with a deleted leaf, some deleted outright."""
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = []
    for index in range(count):
        doc_id = f"doc-{index:04d}"
        trunk = [rev_hash(rng) for _ in range(rng.randint(1, 4))]
        branches = 1 + (index % 5 == 0) + (index % 15 == 0)
        for branch in range(branches):
            # each branch of a conflicted document forks off the trunk with revisions of its own
            extra = [rev_hash(rng) for _ in range(rng.randint(1, 3))] if branches > 1 else []
            path = trunk + extra
            doc: dict[str, Any] = {
                "_id": doc_id,
                "_rev": f"{len(path)}-{path[-1]}",
                "_revisions": {"start": len(path), "ids": list(reversed(path))},
                "value": index,
                "branch": branch,
            }
            if (branches > 1 and branch == branches - 1 and index % 2 == 0) or (
                branches == 1 and index % 11 == 0
            ):
                doc = {key: value for key, value in doc.items() if key not in {"value", "branch"}}
                doc["_deleted"] = True
            docs.append(doc)
    return docs


def load(remote: Remote, docs: list[dict[str, Any]]) -> None:
    for start in range(0, len(docs), 250):
        assert remote.bulk_store_replicated(docs[start : start + 250]) == []


def server_leaves(remote: Remote) -> dict[str, set[str]]:
    """Every document's leaf revisions on the server (``_changes?style=all_docs``)."""
    leaves: dict[str, set[str]] = {}
    since: Any = 0
    while True:
        batch = remote.changes_since(since, 500)
        if not batch.changes:
            return leaves
        for change in batch.changes:
            leaves[change.id] = set(change.revs)
        since = batch.changes[-1].seq


def replica_leaves(replica: Replica) -> dict[str, set[str]]:
    leaves: dict[str, set[str]] = {}
    batch = replica.changes_since(0)
    for change in batch.changes:
        leaves[change.id] = set(change.revs)
    return leaves


def server_winners(remote: Remote, ids: Iterable[str]) -> dict[str, tuple[str | None, frozenset[str]]]:
    """``GET /{id}?conflicts=true`` per document: (winning rev, or None if deleted; conflicts)."""
    found: dict[str, tuple[str | None, frozenset[str]]] = {}
    for doc_id in ids:
        try:
            data = remote.get(doc_id, conflicts="true")
        except NotFound:
            found[doc_id] = (None, frozenset())
            continue
        found[doc_id] = (data["_rev"], frozenset(data.get("_conflicts", [])))
    return found


def replica_winners(replica: Replica, ids: Iterable[str]) -> dict[str, tuple[str | None, frozenset[str]]]:
    found: dict[str, tuple[str | None, frozenset[str]]] = {}
    for doc_id in ids:
        info = replica.doc_info(doc_id)
        assert info is not None, doc_id
        if info.deleted:
            found[doc_id] = (None, frozenset())
        else:
            found[doc_id] = (info.winner, frozenset(revtree.conflicts(info.tree)))
    return found
