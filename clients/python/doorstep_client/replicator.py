"""The CouchDB replication protocol, one direction at a time, between any two peers."""

# The steps are those of CouchDB's "Replication Protocol": verify both peers; compute the
# replication id; read the ``_local/<id>`` checkpoint on both sides and agree a start sequence
# ("Compare Replication Logs": the same ``session_id`` on both sides, else the newest session
# both histories share, else 0); then, batch by batch, read ``_changes`` (``style=all_docs``),
# ask the target ``_revs_diff``, fetch what it lacks with ``_bulk_get?revs=true&latest=true``,
# store it with ``_bulk_docs`` ``new_edits=false``, ``_ensure_full_commit``, and write the
# checkpoint to both sides. A checkpoint only ever names changes already committed on the
# target, so a replication cut off anywhere resumes from its last checkpoint and loses nothing;
# re-sending a batch is harmless because replicated writes are idempotent.

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tqdm import tqdm

from .errors import RemoteError
from .peer import ChangesBatch, DocFailure, Peer, Seq

#: Version of the replication id recipe (part of the hashed description).
REPLICATION_ID_VERSION = 1
#: How many sessions a checkpoint's history keeps, as CouchDB.
HISTORY_LIMIT = 50
DEFAULT_BATCH_SIZE = 100


def replication_id(source_id: str, target_id: str, *, filter_name: str | None = None) -> str:
    """md5 (hex) of a stable description of a replication: the two peers' ids (a replica's
    uuid, a URL without credentials) in their direction, and the filter's name."""
    description = {
        "version": REPLICATION_ID_VERSION,
        "source": source_id,
        "target": target_id,
        "filter": filter_name or "",
    }
    text = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _history(log: Mapping[str, Any]) -> list[dict[str, Any]]:
    history = log.get("history")
    return [dict(entry) for entry in history if isinstance(entry, dict)] if isinstance(history, list) else []


def _has_session(session_id: Any, history: Sequence[Mapping[str, Any]]) -> bool:
    return session_id is not None and any(entry.get("session_id") == session_id for entry in history)


def compare_histories(
    source: Sequence[Mapping[str, Any]], target: Sequence[Mapping[str, Any]]
) -> tuple[Seq, list[dict[str, Any]]]:
    """couch_replicator's compare_rep_history: the ``recorded_seq`` of the newest session
    both histories hold, with the history older than it; ``(0, [])`` if they share none."""
    src, tgt = list(source), list(target)
    while src and tgt:
        if _has_session(src[0].get("session_id"), tgt):
            return src[0].get("recorded_seq", 0), [dict(entry) for entry in src[1:]]
        if _has_session(tgt[0].get("session_id"), src[1:]):
            return tgt[0].get("recorded_seq", 0), [dict(entry) for entry in tgt[1:]]
        src, tgt = src[1:], tgt[1:]
    return 0, []


def find_start(
    source_log: Mapping[str, Any] | None, target_log: Mapping[str, Any] | None
) -> tuple[Seq, list[dict[str, Any]]]:
    """Where to start and the history to keep, from both sides' checkpoints ("Compare
    Replication Logs"): the same last session on both sides → its ``source_last_seq``; else
    the newest session both histories share; else from the beginning."""
    if not source_log or not target_log:
        return 0, []
    session = source_log.get("session_id")
    if session is not None and session == target_log.get("session_id"):
        return source_log.get("source_last_seq", 0), _history(source_log)
    return compare_histories(_history(source_log), _history(target_log))


@dataclass
class ReplicationResult:
    """What one replication run did. Updated as it goes, so it is meaningful after a failure."""

    replication_id: str
    session_id: str
    source: str
    target: str
    start_seq: Seq
    end_seq: Seq
    batches: int = 0
    changes_read: int = 0
    missing_checked: int = 0
    missing_found: int = 0
    docs_read: int = 0
    docs_written: int = 0
    read_failures: list[DocFailure] = field(default_factory=list)
    write_failures: list[DocFailure] = field(default_factory=list)
    completed: bool = False

    @property
    def failures(self) -> list[DocFailure]:
        """Every document not replicated, read and write failures alike."""
        return [*self.read_failures, *self.write_failures]

    def as_json(self) -> dict[str, Any]:
        return {
            "replication_id": self.replication_id,
            "session_id": self.session_id,
            "start_seq": self.start_seq,
            "end_seq": self.end_seq,
            "batches": self.batches,
            "changes_read": self.changes_read,
            "missing_checked": self.missing_checked,
            "missing_found": self.missing_found,
            "docs_read": self.docs_read,
            "docs_written": self.docs_written,
            "doc_read_failures": len(self.read_failures),
            "doc_write_failures": len(self.write_failures),
            "failures": [failure.as_json() for failure in self.failures],
            "completed": self.completed,
        }


@dataclass(frozen=True)
class BatchReport:
    """Handed to ``on_batch`` after each checkpoint."""

    number: int
    checkpoint: Seq
    result: ReplicationResult


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Replicator:
    """One-shot replication of ``source`` into ``target``.

    ``doc_filter`` (with a ``filter_name``, which enters the replication id) skips changes by
    document id. ``progress``: a tqdm bar on stderr (default: only when stderr is a TTY).
    ``on_batch`` is called after each checkpoint; an exception it raises stops the run, as
    any peer error does, leaving the last checkpoint in place.
    """

    def __init__(
        self,
        source: Peer,
        target: Peer,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        doc_filter: Callable[[str], bool] | None = None,
        filter_name: str | None = None,
        progress: bool | None = None,
        label: str = "sync",
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if doc_filter is not None and not filter_name:
            raise ValueError("a doc_filter needs a filter_name (it is part of the replication id)")
        self._source = source
        self._target = target
        self._batch_size = batch_size
        self._doc_filter = doc_filter
        self._filter_name = filter_name
        self._progress = sys.stderr.isatty() if progress is None else progress
        self._label = label
        self._on_batch = on_batch
        self.replication_id = replication_id(source.peer_id, target.peer_id, filter_name=filter_name)
        self.result: ReplicationResult | None = None

    def run(self) -> ReplicationResult:
        """Replicate until the source's feed is exhausted; returns the result.

        Raises whatever a peer raises (``ServerUnreachable``, ``DeviceRevoked`` …); the last
        checkpoint stays, so running again resumes. Per-document failures do not stop it:
        they are counted in the result, and the checkpoint moves past them.
        """
        self._source.info()
        self._target.info()
        rep_id = self.replication_id
        start_seq, history = find_start(self._source.get_local(rep_id), self._target.get_local(rep_id))
        result = ReplicationResult(
            replication_id=rep_id,
            session_id=uuid.uuid4().hex,
            source=self._source.peer_id,
            target=self._target.peer_id,
            start_seq=start_seq,
            end_seq=start_seq,
        )
        self.result = result
        started_at = _now()
        seq = start_seq
        with tqdm(
            desc=self._label, unit="change", disable=not self._progress, leave=False, file=sys.stderr
        ) as bar:
            while True:
                batch = self._source.changes_since(seq, self._batch_size)
                if not batch.changes:
                    break
                if batch.changes[-1].seq == seq:
                    raise RemoteError(200, "bad_feed", "the source's changes feed does not advance")
                self._replicate(batch, result)
                seq = batch.changes[-1].seq
                self._checkpoint(result, seq, history, started_at)
                bar.update(len(batch.changes))
                if batch.pending is not None:
                    bar.total = bar.n + batch.pending
                    bar.refresh()
                if self._on_batch is not None:
                    self._on_batch(BatchReport(result.batches, seq, result))
                if batch.pending == 0:
                    break
        result.completed = True
        return result

    def _replicate(self, batch: ChangesBatch, result: ReplicationResult) -> None:
        result.batches += 1
        result.changes_read += len(batch.changes)
        revs: dict[str, list[str]] = {}
        for change in batch.changes:
            if self._doc_filter is not None and not self._doc_filter(change.id):
                continue
            known = revs.setdefault(change.id, [])
            known.extend(rev for rev in change.revs if rev not in known)
        revs = {doc_id: asked for doc_id, asked in revs.items() if asked}
        if not revs:
            return
        missing = self._target.revs_diff(revs)
        result.missing_checked += sum(len(asked) for asked in revs.values())
        result.missing_found += sum(len(lacking) for lacking in missing.values())
        if not missing:
            return
        docs, read_failures = self._source.bulk_get(list(missing.items()))
        result.read_failures.extend(read_failures)
        result.docs_read += len(docs)
        if docs:
            write_failures = self._target.bulk_store_replicated(docs)
            result.write_failures.extend(write_failures)
            result.docs_written += len(docs) - len(write_failures)
        self._target.ensure_full_commit()

    def _checkpoint(
        self, result: ReplicationResult, seq: Seq, history: list[dict[str, Any]], started_at: str
    ) -> None:
        entry = {
            "session_id": result.session_id,
            "start_time": started_at,
            "end_time": _now(),
            "start_last_seq": result.start_seq,
            "end_last_seq": seq,
            "recorded_seq": seq,
            "missing_checked": result.missing_checked,
            "missing_found": result.missing_found,
            "docs_read": result.docs_read,
            "docs_written": result.docs_written,
            "doc_write_failures": len(result.write_failures),
        }
        log = {
            "session_id": result.session_id,
            "source_last_seq": seq,
            "replication_id_version": REPLICATION_ID_VERSION,
            "history": [entry, *history][:HISTORY_LIMIT],
        }
        self._source.put_local(self.replication_id, log)
        self._target.put_local(self.replication_id, log)
        result.end_seq = seq


def replicate(source: Peer, target: Peer, **options: Any) -> ReplicationResult:
    """``Replicator(source, target, **options).run()``."""
    return Replicator(source, target, **options).run()
