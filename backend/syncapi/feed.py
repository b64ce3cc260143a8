"""The caller's changes feed over their subset, ordered by (effective seq, document seq).

One SQL query per batch: the caller's cases and access seqs go in as a VALUES list, the
database computes ``eff = max(doc seq, access seq)`` and returns the next ``limit`` rows in
order. A case the caller has held since before ``since`` only contributes documents with
``seq > since`` (an index range scan on ``(case_id, seq)``), so a sync with nothing new
costs one index probe per case in the subset — not a scan of the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from .params import SeqToken
from .subset import LostCase


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
    values, params = _values_clause(access)
    eff = "CASE WHEN d.seq > a.since_seq THEN d.seq ELSE a.since_seq END"
    id_filter = ""
    id_params: list[Any] = []
    if doc_ids is not None:
        ids = list(doc_ids)
        if not ids:
            return []
        id_filter = f" AND d.id IN ({', '.join(['%s'] * len(ids))})"
        id_params = ids
    sql = f"""
        WITH access(case_id, since_seq) AS (VALUES {values})
        SELECT d.id, d.rev, d.deleted, d.seq, d.case_id, {eff} AS eff{", d.tree" if with_tree else ""}
        FROM records_document d JOIN access a ON a.case_id = d.case_id
        WHERE (d.seq > %s OR a.since_seq >= %s)
          AND ({eff} > %s OR ({eff} = %s AND d.seq > %s)){id_filter}
        ORDER BY eff, d.seq
        LIMIT %s
    """
    params.extend([since.eff, since.eff, since.eff, since.eff, since.doc, *id_params, limit])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = []
    for row in rows:
        tree = row[6] if with_tree else None
        if isinstance(tree, str):  # SQLite returns JSON columns as text
            tree = json.loads(tree)
        result.append(
            FeedRow(
                token=SeqToken(int(row[5]), int(row[3])),
                doc_id=row[0],
                rev=row[1],
                deleted=bool(row[2]),
                case_id=row[4],
                tree=tree,
            )
        )
    return result


def purge_rev(case_id: str, ended_seq: int) -> str:
    return "1-" + hashlib.md5(f"purge\n{case_id}\n{ended_seq}".encode()).hexdigest()


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


def envelope_rows(device: Any, since: SeqToken) -> list[Any]:
    """This device's envelopes issued or withdrawn after ``since`` (index on device, seq)."""
    from backend.keys.models import KeyEnvelope

    rows = KeyEnvelope.objects.filter(device=device, seq__gte=since.eff).select_related("case_key")
    return [e for e in rows if SeqToken(e.seq, e.seq) > since]


def envelope_changes(envelopes: Iterable[Any]) -> list[FeedRow]:
    from backend.keys.envelopes import envelope_rev

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
