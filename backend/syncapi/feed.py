"""The caller's changes feed over their subset, ordered by (effective seq, document seq), one
whole page at a time (``changes_page``).

One SQL query per batch: the caller's cases and access seqs go in as a VALUES list, the
database computes ``eff = max(doc seq, access seq)`` and returns the next ``limit`` rows in
order. A case the caller has held since before ``since`` only contributes documents with
``seq > since`` (an index range scan on ``(case_id, seq)``), so a sync with nothing new
costs one index probe per case in the subset — not a scan of the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from backend.keys.envelopes import envelope_rev, envelope_wire
from backend.keys.models import KeyEnvelope
from backend.records.selectors import document_rows, revision_rows_by_pair
from sync import revtree

from .auth import SyncCaller
from .params import SeqToken
from .reads import PullAudit, visible_rows
from .subset import LostCase, lost_cases
from .wire import purge_doc, purge_rev, wire_doc


@dataclass(frozen=True)
class FeedRow:
    token: SeqToken
    doc_id: str
    rev: str
    deleted: bool
    kind: str = "doc"  # doc | purge | keyenv
    case_id: str = ""
    tree: Any = field(default=None, compare=False)


def _values_clause(access: dict[str, int]) -> tuple[str, list[Any]]:
    rows = ", ".join(["(CAST(%s AS TEXT), CAST(%s AS BIGINT))"] * len(access))
    params: list[Any] = []
    for case_id, since in access.items():
        params.extend([case_id, since])
    return rows, params


def _lower_bound(since_seq: int, since: SeqToken) -> int:
    """A case's documents come after ``since`` in feed order exactly when ``seq > bound``.

    Feed order is ``(max(doc seq, since_seq), doc seq)``; within one case that is plain seq
    order, so each case reduces to an index range scan on ``(case_id, seq)``.
    """
    if since_seq > since.eff:
        return -1  # granted after the checkpoint: every document of the case is new
    if since_seq == since.eff:
        return since.doc  # the checkpoint is inside this case's group
    return since.eff - 1 if since.doc < since.eff else since.eff


def document_changes(
    access: dict[str, int],
    since: SeqToken,
    *,
    limit: int,
    doc_ids: Iterable[str] | None = None,
    with_tree: bool = False,
) -> list[FeedRow]:
    """The next ``limit`` document changes after ``since`` in the caller's subset."""
    if not access:
        return []
    id_filter = ""
    id_params: list[Any] = []
    if doc_ids is not None:
        ids = list(doc_ids)
        if not ids:
            return []
        id_filter = f" AND d.id IN ({', '.join(['%s'] * len(ids))})"
        id_params = ids
    bounds: list[Any] = []
    for case_id, since_seq in access.items():
        bounds.extend([case_id, _lower_bound(since_seq, since), since_seq])
    if connection.vendor == "postgresql":
        # LATERAL makes each case an index range scan that stops after ``limit`` rows, however
        # large the database; only those candidates are sorted.
        values = ", ".join(["(CAST(%s AS TEXT), CAST(%s AS BIGINT), CAST(%s AS BIGINT))"] * len(access))
        sql = f"""
            SELECT x.id, x.rev, x.deleted, x.seq, x.case_id, GREATEST(x.seq, a.since_seq) AS eff
            FROM (VALUES {values}) AS a(case_id, lb, since_seq)
            CROSS JOIN LATERAL (
                SELECT d.id, d.rev, d.deleted, d.seq, d.case_id FROM records_document d
                WHERE d.case_id = a.case_id AND d.seq > a.lb{id_filter}
                ORDER BY d.seq LIMIT %s
            ) x
            ORDER BY eff, x.seq
            LIMIT %s
        """
        params = [*bounds, *id_params, limit, limit]
    else:
        # SQLite loops over the VALUES rows and range-scans the (case_id, seq) index for each.
        values = ", ".join(["(%s, %s, %s)"] * len(access))
        sql = f"""
            WITH a(case_id, lb, since_seq) AS (VALUES {values})
            SELECT d.id, d.rev, d.deleted, d.seq, d.case_id, MAX(d.seq, a.since_seq) AS eff
            FROM a JOIN records_document d ON d.case_id = a.case_id AND d.seq > a.lb
            WHERE 1 = 1{id_filter}
            ORDER BY eff, d.seq
            LIMIT %s
        """
        params = [*bounds, *id_params, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    trees: dict[str, Any] = {}
    if with_tree and rows:
        trees = {doc_id: doc.tree for doc_id, doc in document_rows(row[0] for row in rows).items()}
    return [
        FeedRow(
            token=SeqToken(int(row[5]), int(row[3])),
            doc_id=row[0],
            rev=row[1],
            deleted=bool(row[2]),
            case_id=row[4],
            tree=trees.get(row[0]),
        )
        for row in rows
    ]


def purge_changes(lost: list[LostCase], since: SeqToken) -> list[FeedRow]:
    rows = []
    for item in lost:
        token = SeqToken(item.ended_seq, item.ended_seq)
        if token > since:
            rows.append(
                FeedRow(
                    token=token,
                    doc_id=f"purge:{item.case_id}",
                    rev=purge_rev(item.case_id, item.ended_seq),
                    deleted=False,
                    kind="purge",
                    case_id=item.case_id,
                )
            )
    return rows


def latest_token(access: dict[str, int]) -> SeqToken:
    """The position of the newest change in the caller's subset (``update_seq``): one index
    probe per case for its highest document seq."""
    if not access:
        return SeqToken.zero()
    values, params = _values_clause(access)
    sql = f"""
        WITH access(case_id, since_seq) AS (VALUES {values})
        SELECT a.since_seq, (SELECT MAX(d.seq) FROM records_document d WHERE d.case_id = a.case_id)
        FROM access a
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    best = SeqToken.zero()
    for since_seq, max_seq in rows:
        if max_seq is None:
            continue
        since_seq, max_seq = int(since_seq), int(max_seq)
        token = SeqToken(max_seq, max_seq) if max_seq > since_seq else SeqToken(since_seq, max_seq)
        best = max(best, token)
    return best


def envelope_rows(
    device: Any, since: SeqToken, *, limit: int | None = None, upto: SeqToken | None = None
) -> list[Any]:
    """This device's envelopes issued or withdrawn after ``since`` (index on device, seq), the
    first ``limit`` of them in feed order (a batch of ``limit`` changes can hold no more), none
    after ``upto`` (when the batch is already full of document changes up to there)."""
    rows = KeyEnvelope.objects.filter(device=device, seq__gte=since.eff).select_related("case_key")
    if upto is not None:
        rows = rows.filter(seq__lte=upto.eff)
    found = [
        e
        for e in rows.order_by("seq")[: None if limit is None else limit + 1]
        if SeqToken(e.seq, e.seq) > since
    ]
    return found if limit is None else found[:limit]


def envelope_changes(envelopes: Iterable[Any]) -> list[FeedRow]:
    return [
        FeedRow(
            token=SeqToken(e.seq, e.seq),
            doc_id=f"keyenv:{e.case_key.kid}",
            rev=envelope_rev(e.device_id, e.case_key.kid, e.generation),
            deleted=e.withdrawn,
            kind="keyenv",
            case_id=e.case_id,
        )
        for e in envelopes
    ]


@dataclass(frozen=True)
class ChangesQuery:
    since: SeqToken | None
    limit: int
    style_all: bool
    include_docs: bool
    conflicts: bool
    feed: str
    timeout_ms: int
    heartbeat_ms: int | None
    doc_ids: list[str] | None
    descending: bool


def changes_page(
    caller: SyncCaller, query: ChangesQuery, access: dict[str, int]
) -> tuple[list[dict[str, Any]], str, int]:
    """One page of the caller's ``_changes`` feed: ``(results, last_seq, pending)``. Documents
    of the subset, purge signals for lost cases and this device's key envelopes, merged in feed
    order, cut at ``limit``; with ``include_docs`` each document's winning revision in wire
    form, audited as a pull. Run inside one transaction (one consistent snapshot)."""
    since = query.since if query.since is not None else latest_token(access)
    if not caller.receives:  # a retiring device: no documents, purges or key envelopes
        return [], str(since), 0
    lost: list[LostCase] = lost_cases(caller.user, after_seq=since.eff, access=access)
    fetch = query.limit + 1
    rows = document_changes(access, since, limit=fetch, doc_ids=query.doc_ids, with_tree=query.style_all)
    extra = purge_changes(lost, since)
    envelopes = {}
    if caller.device is not None:
        envelopes = {
            f"keyenv:{e.case_key.kid}": e
            for e in envelope_rows(
                caller.device,
                since,
                limit=fetch if query.doc_ids is None else None,
                # A full batch of documents ends at its last row: no envelope after it fits.
                upto=rows[-1].token if len(rows) >= fetch else None,
            )
        }
        extra.extend(envelope_changes(envelopes.values()))
    if query.doc_ids is not None:
        extra = [r for r in extra if r.doc_id in set(query.doc_ids)]
    merged = sorted([*rows, *extra], key=lambda r: r.token)
    pending = max(0, len(merged) - query.limit)
    merged = merged[: query.limit]
    if query.descending:
        merged.reverse()
    audit = PullAudit()
    docs_by_id: dict[str, Any] = {}
    if query.include_docs:
        documents = visible_rows(access, [r.doc_id for r in merged if r.kind == "doc"])
        bodies = revision_rows_by_pair((d.id, d.rev) for d in documents.values())
        for doc_id, document in documents.items():
            revision = bodies.get((doc_id, document.rev))
            if revision is not None:
                audit.add(document.case_id)
                docs_by_id[doc_id] = wire_doc(document, revision, conflicts=query.conflicts)
    results = []
    lost_by_id = {f"purge:{item.case_id}": item for item in lost}
    for row in merged:
        if row.kind == "doc" and query.style_all and row.tree is not None:
            revs = revtree.stored_leaf_revs(row.tree)
        else:
            revs = [row.rev]
        entry: dict[str, Any] = {
            "seq": str(row.token),
            "id": row.doc_id,
            "changes": [{"rev": r} for r in revs],
        }
        if row.deleted:
            entry["deleted"] = True
        if query.include_docs:
            if row.kind == "purge":
                item = lost_by_id[row.doc_id]
                entry["doc"] = purge_doc(item.case_id, item.ended_seq)
            elif row.kind == "keyenv":
                entry["doc"] = envelope_wire(envelopes[row.doc_id])
            else:
                entry["doc"] = docs_by_id.get(row.doc_id)
        results.append(entry)
    audit.flush(caller)
    if merged:
        last = max(r.token for r in merged)
        last_seq = str(last)
    else:
        last_seq = str(since)
    return results, last_seq, pending
