"""Stored documents and revisions as plain rows, for the replication endpoint's hot paths.

A pull batch reads hundreds of document rows and revision bodies per request; building model
instances for them cost more than the queries. These read exactly the columns the wire form
needs, with the same indexed lookups as ``records.selectors``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from backend.common import rows
from backend.records.models import Document, Revision
from backend.records.selectors import pair_chunks

_DOCUMENT = Document._meta.db_table
_REVISION = Revision._meta.db_table


class DocumentRow(NamedTuple):
    """What serving a document needs of ``records_document``."""

    id: str
    case_id: str
    doc_type: str
    rev: str
    deleted: bool
    tree: Any
    schema_version: int


class RevisionRow(NamedTuple):
    """A stored revision's identity and body."""

    document_id: str
    rev: str
    deleted: bool
    body: Any


_DOCUMENT_COLUMNS = rows.fields(Document, *DocumentRow._fields)
_REVISION_COLUMNS = rows.fields(Revision, *RevisionRow._fields)


def document_rows(doc_ids: Iterable[str]) -> dict[str, DocumentRow]:
    """The documents among ``doc_ids`` by id, one query per 500 ids."""
    ids = list(dict.fromkeys(doc_ids))
    found: dict[str, DocumentRow] = {}
    select = rows.select_list("d", _DOCUMENT_COLUMNS)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        sql = f"SELECT {select} FROM {_DOCUMENT} d WHERE d.id IN ({rows.placeholders(len(chunk))})"
        for row in rows.fetch_rows(sql, chunk, _DOCUMENT_COLUMNS):
            found[row[0]] = DocumentRow(*row)
    return found


def revision_rows_by_pair(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RevisionRow]:
    """Stored revisions for exact ``(document id, rev)`` pairs (``records.selectors.pair_chunks``,
    as ``revisions_by_pair``), as plain rows."""
    found: dict[tuple[str, str], RevisionRow] = {}
    select = rows.select_list("r", _REVISION_COLUMNS)
    for cte, params in pair_chunks(pairs):
        sql = (
            f"{cte}SELECT {select} FROM {_REVISION} r "
            "JOIN wanted w ON r.document_id = w.document_id AND r.rev = w.rev"
        )
        for row in rows.fetch_rows(sql, params, _REVISION_COLUMNS):
            found[(row[0], row[1])] = RevisionRow(*row)
    return found
