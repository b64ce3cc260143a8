"""The local replica: a CouchDB-style database in one SQLite file, documents kept as received."""

# Tables: ``docs`` (one row per document: its revision tree in ``sync.revtree.to_json`` form,
# the winner, whether the winner is deleted, its ``case_id``/``type`` for lookups, the local
# sequence of its last change and of its last *local* edit), ``leaves`` (the body of every leaf
# revision, in CouchDB wire form: for Doorstep documents ``{_id, _rev, type, case_id, schema,
# meta, enc}`` with the ciphertext exactly as received), ``local_docs`` (``_local`` documents:
# replication checkpoints), ``refused`` (revisions a peer refused to store, kept for the user)
# and ``meta`` (the replica's random uuid and its update sequence).
#
# As in CouchDB after compaction only leaf bodies are kept; the tree keeps every revision id
# up to ``revs_limit`` generations. Every tree operation comes from ``sync.revtree``, so this
# replica and the server always agree on winners and conflicts. ``secure_delete`` is on, so a
# purged body is overwritten in the file rather than left in free pages.

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync import InvalidDocument, InvalidRevision, LocalSyncError, revtree

from .errors import LocalConflict, MissingDocument
from .peer import Change, ChangesBatch, DocFailure, Seq

#: CouchDB's default ``_revs_limit``: how many generations of ids a tree keeps.
REVS_LIMIT = 1000

# Members of a received document that describe a response rather than the revision.
_TRANSIENT = frozenset({"_revisions", "_conflicts", "_deleted_conflicts", "_revs_info", "_local_seq"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY,
    tree TEXT NOT NULL,
    winner TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    case_id TEXT,
    doc_type TEXT,
    seq INTEGER NOT NULL,
    edit_seq INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS docs_by_seq ON docs (seq);
CREATE INDEX IF NOT EXISTS docs_by_case ON docs (case_id, doc_type);
CREATE TABLE IF NOT EXISTS leaves (
    id TEXT NOT NULL,
    rev TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (id, rev)
);
CREATE TABLE IF NOT EXISTS local_docs (id TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refused (
    id TEXT NOT NULL,
    rev TEXT NOT NULL,
    error TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (id, rev)
);
"""


@dataclass(frozen=True, slots=True)
class DocInfo:
    """What the replica knows of one document without its bodies."""

    id: str
    tree: revtree.RevTree
    winner: str
    deleted: bool
    case_id: str | None
    doc_type: str | None
    seq: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """A revision a peer refused to store, and when we were told."""

    id: str
    rev: str
    error: str
    reason: str
    at: str


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class Replica:
    """A local CouchDB-protocol database in the SQLite file ``path`` (created if missing, mode 0600).

    Usable as a ``Peer`` of the replicator on either side. Not thread-safe: one replica object
    per thread. Raises ``sqlite3.Error`` only for a broken or locked file.
    """

    def __init__(self, path: str | os.PathLike[str], *, revs_limit: int = REVS_LIMIT) -> None:
        self._path = Path(path)
        self._revs_limit = revs_limit
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if not self._path.exists():
            os.close(os.open(self._path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db: sqlite3.Connection | None = sqlite3.connect(self._path, isolation_level=None)
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        with self._tx():
            self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('uuid', ?)", (uuid.uuid4().hex,))
            self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('update_seq', '0')")
        self._uuid = self._meta("uuid")

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def uuid(self) -> str:
        """The replica's random id, fixed when the file was created."""
        return self._uuid

    @property
    def peer_id(self) -> str:
        return f"replica:{self._uuid}"

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Replica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def erase(self) -> None:
        """Close and delete the replica file with its ``-wal``, ``-shm`` and ``-journal`` files."""
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self._path}{suffix}").unlink(missing_ok=True)

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise LocalSyncError("the replica is closed")
        return self._db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _meta(self, key: str) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    def _bump_seq(self) -> int:
        seq = int(self._meta("update_seq")) + 1
        self._conn.execute("UPDATE meta SET value = ? WHERE key = 'update_seq'", (str(seq),))
        return seq

    # -- reading -----------------------------------------------------------------------------

    @property
    def update_seq(self) -> int:
        return int(self._meta("update_seq"))

    def info(self) -> dict[str, Any]:
        """Like ``GET /db``."""
        count = self._conn.execute("SELECT COUNT(*) FROM docs WHERE deleted = 0").fetchone()[0]
        return {
            "db_name": self._path.name,
            "doc_count": count,
            "update_seq": self.update_seq,
            "instance_start_time": "0",
            "uuid": self._uuid,
        }

    def doc_info(self, doc_id: str) -> DocInfo | None:
        """The tree and winner of ``doc_id``, or None if the replica never held it."""
        row = self._conn.execute(
            "SELECT id, tree, winner, deleted, case_id, doc_type, seq FROM docs WHERE id = ?", (doc_id,)
        ).fetchone()
        return None if row is None else self._info(row)

    @staticmethod
    def _info(row: Sequence[Any]) -> DocInfo:
        tree = revtree.from_json(json.loads(row[1]))
        return DocInfo(row[0], tree, row[2], bool(row[3]), row[4], row[5], row[6])

    def _body(self, doc_id: str, rev: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT body FROM leaves WHERE id = ? AND rev = ?", (doc_id, rev)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def get(
        self, doc_id: str, rev: str | None = None, *, revs: bool = False, conflicts: bool = False
    ) -> dict[str, Any]:
        """The winning revision of ``doc_id`` (or leaf ``rev``) as a CouchDB document.

        ``revs`` adds ``_revisions``; ``conflicts`` adds ``_conflicts`` to the winner. Raises
        MissingDocument if the document is unknown, deleted (when no rev is given), or ``rev``
        is not a leaf we hold.
        """
        info = self.doc_info(doc_id)
        if info is None or (rev is None and info.deleted):
            raise MissingDocument(f"no document {doc_id!r} in the local replica")
        rev = info.winner if rev is None else rev
        body = self._body(doc_id, rev)
        if body is None:
            raise MissingDocument(f"revision {rev} of {doc_id!r} is not held locally")
        if revs:
            body["_revisions"] = revtree.revisions(info.tree, rev)
        if conflicts and rev == info.winner:
            found = revtree.conflicts(info.tree)
            if found:
                body["_conflicts"] = found
        return body

    def leaf_docs(self, doc_id: str) -> list[dict[str, Any]]:
        """Every leaf revision of ``doc_id`` (winner first), deleted ones included."""
        info = self.doc_info(doc_id)
        if info is None:
            return []
        found = [self._body(doc_id, leaf.rev) for leaf in revtree.leaves(info.tree)]
        return [body for body in found if body is not None]

    def docs(
        self, *, case_id: str | None = None, doc_type: str | None = None, include_deleted: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Winning revisions ordered by id, optionally of one case and/or one ``type``."""
        sql = "SELECT d.id, l.body FROM docs d JOIN leaves l ON l.id = d.id AND l.rev = d.winner WHERE 1 = 1"
        params: list[Any] = []
        if case_id is not None:
            sql += " AND d.case_id = ?"
            params.append(case_id)
        if doc_type is not None:
            sql += " AND d.doc_type = ?"
            params.append(doc_type)
        if not include_deleted:
            sql += " AND d.deleted = 0"
        for _doc_id, body in self._conn.execute(sql + " ORDER BY d.id", params).fetchall():
            yield dict(json.loads(body))

    def all_docs(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every winning revision, ordered by id."""
        return list(self.docs(include_deleted=include_deleted))

    def changes_since(self, since: Seq = 0, limit: int | None = None) -> ChangesBatch:
        """The replica's own changes feed (``style=all_docs``): one row per document changed
        after ``since``, oldest first, each with every leaf revision. Raises LocalSyncError
        for a ``since`` that is not one of this replica's sequence numbers."""
        try:
            after = int(since)
        except (TypeError, ValueError):
            raise LocalSyncError("a replica sequence is an integer") from None
        sql = "SELECT id, tree, winner, deleted, case_id, doc_type, seq FROM docs WHERE seq > ? ORDER BY seq"
        params: list[Any] = [after]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        changes = []
        for row in self._conn.execute(sql, params).fetchall():
            info = self._info(row)
            revs = tuple(leaf.rev for leaf in revtree.leaves(info.tree))
            changes.append(Change(seq=info.seq, id=info.id, revs=revs, deleted=info.deleted))
        last = changes[-1].seq if changes else after
        pending = self._conn.execute("SELECT COUNT(*) FROM docs WHERE seq > ?", (last,)).fetchone()[0]
        return ChangesBatch(tuple(changes), last, pending)

    def revs_diff(self, revs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        """For each id, which of ``revs`` the replica lacks (``_revs_diff``'s ``missing``).

        A malformed rev counts as missing (the write will then refuse it, per document).
        """
        answer: dict[str, list[str]] = {}
        for doc_id, asked in revs.items():
            info = self.doc_info(doc_id)
            try:
                missing = (
                    list(dict.fromkeys(asked)) if info is None else revtree.missing_revs(info.tree, asked)[0]
                )
            except InvalidRevision:
                missing = list(dict.fromkeys(asked))
            if missing:
                answer[doc_id] = missing
        return answer

    def bulk_get(
        self, wanted: Sequence[tuple[str, Sequence[str]]]
    ) -> tuple[list[dict[str, Any]], list[DocFailure]]:
        """``_bulk_get?revs=true&latest=true``: each asked rev's leaves, with ``_revisions``."""
        docs: list[dict[str, Any]] = []
        failures: list[DocFailure] = []
        for doc_id, revs in wanted:
            info = self.doc_info(doc_id)
            sent: set[str] = set()
            for rev in revs:
                try:
                    targets = [] if info is None else revtree.latest(info.tree, rev)
                except InvalidRevision as exc:
                    failures.append(DocFailure(doc_id, rev, "bad_request", exc.reason))
                    continue
                if info is None or not targets:
                    failures.append(DocFailure(doc_id, rev, "not_found", "missing"))
                    continue
                for leaf in targets:
                    if leaf in sent:
                        continue
                    body = self._body(doc_id, leaf)
                    if body is None:
                        failures.append(DocFailure(doc_id, leaf, "not_found", "missing"))
                        continue
                    body["_revisions"] = revtree.revisions(info.tree, leaf)
                    docs.append(body)
                    sent.add(leaf)
        return docs, failures

    def ensure_full_commit(self) -> None:
        """Every write is already committed (``synchronous=FULL``)."""

    # -- writing -----------------------------------------------------------------------------

    def put_local_edit(self, doc: Mapping[str, Any]) -> str:
        """Store an edit made here (``new_edits=true``) and return its new revision id.

        ``doc["_rev"]`` names the parent; it must be a leaf. Without ``_rev`` the document must
        not exist or its winner must be deleted (the new revision then extends that tombstone,
        as in CouchDB). The new rev is ``sync.revtree.new_rev`` of the body (every member not
        starting with ``_``). Raises LocalConflict, or InvalidDocument/InvalidRevision for a
        malformed document.
        """
        doc_id = doc.get("_id")
        if not isinstance(doc_id, str) or not doc_id or doc_id.startswith("_local/"):
            raise InvalidDocument(
                "a document needs a string _id (use put_local for _local documents)", field="_id"
            )
        deleted = doc.get("_deleted", False)
        if not isinstance(deleted, bool):
            raise InvalidDocument("_deleted must be true or false", field="_deleted")
        body = {key: value for key, value in doc.items() if not key.startswith("_")}
        with self._tx():
            info = self.doc_info(doc_id)
            tree = info.tree if info is not None else ()
            parent = doc.get("_rev")
            if parent is None:
                if info is not None and not info.deleted:
                    raise LocalConflict(f"document update conflict on {doc_id!r}: it already exists")
                parent = info.winner if info is not None else None
            elif not isinstance(parent, str) or not revtree.is_leaf(tree, parent):
                raise LocalConflict(
                    f"document update conflict on {doc_id!r}: {parent} is not a current revision"
                )
            rev = revtree.new_rev(parent=parent, deleted=deleted, body=body)
            pos, rev_hash = revtree.parse_rev(rev)
            ancestors = (
                [] if parent is None else [revtree.parse_rev(r)[1] for r in revtree.ancestry(tree, parent)]
            )
            path = revtree.path_from_revisions(pos, [rev_hash, *ancestors], deleted=deleted)
            tree, _outcome = revtree.merge(tree, path, revs_limit=self._revs_limit)
            stored = {"_id": doc_id, "_rev": rev, **body}
            if deleted:
                stored["_deleted"] = True
            self._write(doc_id, tree, {rev: stored}, local_edit=True)
        return rev

    def bulk_store_replicated(self, docs: Sequence[Mapping[str, Any]]) -> list[DocFailure]:
        """Store replicated revisions as given (``new_edits=false``), in one transaction.

        Each document's ``_rev``/``_revisions`` path is merged into its tree with
        ``sync.revtree.merge``; a revision already held changes nothing. Returns a failure per
        document that could not be stored (malformed id or revisions); the others are stored.
        """
        failures: list[DocFailure] = []
        with self._tx():
            for doc in docs:
                failure = self._store_replicated(doc)
                if failure is not None:
                    failures.append(failure)
        return failures

    def _store_replicated(self, doc: Mapping[str, Any]) -> DocFailure | None:
        doc_id = doc.get("_id")
        rev = doc.get("_rev")
        rev_text = rev if isinstance(rev, str) else None
        if not isinstance(doc_id, str) or not doc_id or doc_id.startswith("_local/"):
            return DocFailure(
                str(doc_id), rev_text, "bad_request", "a replicated document needs a string _id"
            )
        try:
            path = revtree.path_from_doc(doc)
        except (InvalidRevision, InvalidDocument) as exc:
            return DocFailure(doc_id, rev_text, "bad_request", exc.reason)
        assert rev_text is not None  # path_from_doc checked it
        info = self.doc_info(doc_id)
        tree = info.tree if info is not None else ()
        merged, outcome = revtree.merge(tree, path, revs_limit=self._revs_limit)
        if outcome is revtree.MergeOutcome.INTERNAL_NODE and (
            not revtree.is_leaf(merged, rev_text) or self._body(doc_id, rev_text) is not None
        ):
            return None  # nothing new: a revision we hold, or an ancestor of one
        stored = {key: value for key, value in doc.items() if key not in _TRANSIENT}
        self._write(doc_id, merged, {rev_text: stored}, local_edit=False)
        return None

    def _write(
        self, doc_id: str, tree: revtree.RevTree, bodies: Mapping[str, Mapping[str, Any]], *, local_edit: bool
    ) -> None:
        conn = self._conn
        leaves = {leaf.rev for leaf in revtree.leaves(tree)}
        held = [rev for (rev,) in conn.execute("SELECT rev FROM leaves WHERE id = ?", (doc_id,)).fetchall()]
        for rev in held:
            if rev not in leaves:
                conn.execute("DELETE FROM leaves WHERE id = ? AND rev = ?", (doc_id, rev))
        case_id: str | None = None
        doc_type: str | None = None
        for rev, body in bodies.items():
            if rev in leaves:
                conn.execute("INSERT OR REPLACE INTO leaves VALUES (?, ?, ?)", (doc_id, rev, _dumps(body)))
            if isinstance(body.get("case_id"), str):
                case_id = body["case_id"]
            if isinstance(body.get("type"), str):
                doc_type = body["type"]
        seq = self._bump_seq()
        conn.execute(
            """INSERT INTO docs (id, tree, winner, deleted, case_id, doc_type, seq, edit_seq)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET tree = excluded.tree, winner = excluded.winner,
                   deleted = excluded.deleted, case_id = COALESCE(docs.case_id, excluded.case_id),
                   doc_type = COALESCE(docs.doc_type, excluded.doc_type), seq = excluded.seq,
                   edit_seq = COALESCE(excluded.edit_seq, docs.edit_seq)""",
            (
                doc_id,
                _dumps(revtree.to_json(tree)),
                revtree.winning_rev(tree),
                int(revtree.is_deleted(tree)),
                case_id,
                doc_type,
                seq,
                seq if local_edit else None,
            ),
        )

    def remove_leaves(self, doc_id: str, revs: Sequence[str]) -> list[str]:
        """Drop leaf revisions of ``doc_id`` (``sync.revtree.remove_leaves``, CouchDB's purge of
        revisions) with their bodies and refusals; the document goes if nothing is left.
        Returns the revisions removed. The revision a removed leaf was edited from has no body
        here any more: fetch it again (``bulk_store_replicated``) to read the document."""
        with self._tx() as conn:
            info = self.doc_info(doc_id)
            if info is None:
                return []
            tree, removed = revtree.remove_leaves(info.tree, revs)
            for rev in removed:
                conn.execute("DELETE FROM leaves WHERE id = ? AND rev = ?", (doc_id, rev))
                conn.execute("DELETE FROM refused WHERE id = ? AND rev = ?", (doc_id, rev))
            if removed and not tree:
                conn.execute("DELETE FROM leaves WHERE id = ?", (doc_id,))
                conn.execute("DELETE FROM docs WHERE id = ?", (doc_id,))
            elif removed:
                self._write(doc_id, tree, {}, local_edit=False)
        return removed

    def touch(self, doc_ids: Sequence[str]) -> None:
        """Give documents a new sequence number so the next push offers them again."""
        with self._tx():
            for doc_id in doc_ids:
                if self.doc_info(doc_id) is not None:
                    self._conn.execute("UPDATE docs SET seq = ? WHERE id = ?", (self._bump_seq(), doc_id))

    def pending_edits(self, since: Seq) -> list[str]:
        """Ids of documents edited here after sequence ``since`` (e.g. a push checkpoint)."""
        after = int(since) if isinstance(since, int) or (isinstance(since, str) and since.isdigit()) else 0
        rows = self._conn.execute("SELECT id FROM docs WHERE edit_seq > ? ORDER BY edit_seq", (after,))
        return [doc_id for (doc_id,) in rows.fetchall()]

    # -- purge -------------------------------------------------------------------------------

    def purge_case(self, case_id: str) -> int:
        """Remove every document of ``case_id`` (all revisions, tree and refusals) from the file.

        Nothing is left for a push: the documents leave the changes feed too. With
        ``secure_delete`` the freed pages are zeroed, and the write-ahead log is checkpointed
        and truncated so no copy of the old pages stays beside the file. Returns how many
        documents were removed.
        """
        with self._tx() as conn:
            ids = [doc_id for (doc_id,) in conn.execute("SELECT id FROM docs WHERE case_id = ?", (case_id,))]
            conn.execute("DELETE FROM leaves WHERE id IN (SELECT id FROM docs WHERE case_id = ?)", (case_id,))
            conn.execute(
                "DELETE FROM refused WHERE id IN (SELECT id FROM docs WHERE case_id = ?)", (case_id,)
            )
            conn.execute("DELETE FROM docs WHERE case_id = ?", (case_id,))
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(ids)

    def case_ids(self) -> list[str]:
        """Every ``case_id`` some held document names."""
        rows = self._conn.execute(
            "SELECT DISTINCT case_id FROM docs WHERE case_id IS NOT NULL ORDER BY case_id"
        )
        return [case_id for (case_id,) in rows.fetchall()]

    # -- _local documents --------------------------------------------------------------------

    def get_local(self, local_id: str) -> dict[str, Any] | None:
        """``_local/{local_id}`` with ``_id`` and ``_rev`` (``0-N``), or None."""
        row = self._conn.execute("SELECT version, body FROM local_docs WHERE id = ?", (local_id,)).fetchone()
        if row is None:
            return None
        return {**json.loads(row[1]), "_id": f"_local/{local_id}", "_rev": f"0-{row[0]}"}

    def put_local(self, local_id: str, body: Mapping[str, Any]) -> None:
        """Write ``_local/{local_id}`` (``_id``/``_rev`` in ``body`` are ignored: last write wins)."""
        kept = {key: value for key, value in body.items() if key not in {"_id", "_rev"}}
        with self._tx() as conn:
            row = conn.execute("SELECT version FROM local_docs WHERE id = ?", (local_id,)).fetchone()
            version = 1 if row is None else int(row[0]) + 1
            conn.execute(
                "INSERT OR REPLACE INTO local_docs VALUES (?, ?, ?)", (local_id, version, _dumps(kept))
            )

    def delete_local(self, local_id: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM local_docs WHERE id = ?", (local_id,))

    # -- refusals ----------------------------------------------------------------------------

    def record_refusals(self, failures: Sequence[DocFailure], *, at: str, replace: bool = False) -> None:
        """Remember revisions a peer refused (``replace`` forgets the earlier ones first)."""
        with self._tx() as conn:
            if replace:
                conn.execute("DELETE FROM refused")
            for failure in failures:
                conn.execute(
                    "INSERT OR REPLACE INTO refused VALUES (?, ?, ?, ?, ?)",
                    (failure.id, failure.rev or "", failure.error, failure.reason, at),
                )

    def refusals(self) -> list[Refusal]:
        rows = self._conn.execute("SELECT id, rev, error, reason, at FROM refused ORDER BY at, id").fetchall()
        return [Refusal(*row) for row in rows]
