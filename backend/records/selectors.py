"""Reads of stored documents and revisions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from django.db import connection

from backend.cases.models import Case
from backend.common import rows

from .models import Document, Revision


def pair_chunks(pairs: Iterable[tuple[str, str]], *, size: int = 500) -> Iterator[tuple[str, list[str]]]:
    """``(CTE, params)`` per chunk of distinct ``(document id, rev)`` pairs: ``WITH wanted(…) AS
    (VALUES …)`` to join on the unique ``(document_id, rev)`` index.

    ``document_id IN (…) AND rev IN (…)`` makes PostgreSQL scan far more of the (large)
    revision table than the pairs asked for; joining a VALUES list on that index does not.
    """
    wanted = list(dict.fromkeys(pairs))
    cast = "CAST(%s AS TEXT)" if connection.vendor == "postgresql" else "%s"
    for start in range(0, len(wanted), size):
        chunk = wanted[start : start + size]
        values = ", ".join([f"({cast}, {cast})"] * len(chunk))
        yield f"WITH wanted(document_id, rev) AS (VALUES {values}) ", [v for pair in chunk for v in pair]


def revisions_by_pair(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Revision]:
    """Stored revisions for exact ``(document id, rev)`` pairs, one indexed lookup each."""
    found: dict[tuple[str, str], Revision] = {}
    table = Revision._meta.db_table
    for cte, params in pair_chunks(pairs):
        sql = (
            f"{cte}SELECT r.* FROM {table} r JOIN wanted w ON r.document_id = w.document_id AND r.rev = w.rev"
        )
        for revision in Revision.objects.raw(sql, params):
            found[(revision.document_id, revision.rev)] = revision
    return found


_DOCUMENT = Document._meta.db_table
_REVISION = Revision._meta.db_table


def winning_bodies(*, doc_ids: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{document id: (winning rev, its stored body)}`` for the documents of ``doc_ids``, in one
    query: each document by primary key, joined to its body on the unique ``(document_id, rev)``
    index. Ids with no document are absent."""
    wanted = list(dict.fromkeys(doc_ids))
    if not wanted:
        return {}
    columns = [*rows.fields(Document, "id", "rev"), *rows.fields(Revision, "body")]
    sql = (
        f"SELECT d.id, d.rev, r.body FROM {_DOCUMENT} d "
        f"JOIN {_REVISION} r ON r.document_id = d.id AND r.rev = d.rev "
        f"WHERE d.id IN ({rows.placeholders(len(wanted))})"
    )
    return {doc_id: (rev, body) for doc_id, rev, body in rows.fetch_rows(sql, wanted, columns)}


class DocumentForRead(NamedTuple):
    """A document as a read needs it: its row, its case's team and its winning body."""

    id: str
    case_id: str
    doc_type: str
    rev: str
    deleted: bool
    tree: Any
    meta: dict[str, Any]
    schema_version: int
    team_id: int
    body: dict[str, Any] | None  # None only if the winning revision's row is missing


def document_for_read(doc_id: str) -> DocumentForRead | None:
    """The document ``doc_id`` with its case's team and winning body, in one query; None if
    there is no such document."""
    document = rows.fields(Document, *DocumentForRead._fields[:8])
    columns = [*document, *rows.fields(Case, "team"), *rows.fields(Revision, "body")]
    sql = (
        f"SELECT {rows.select_list('d', document)}, c.team_id, r.body FROM {_DOCUMENT} d "
        f"JOIN {Case._meta.db_table} c ON c.id = d.case_id "
        f"LEFT JOIN {_REVISION} r ON r.document_id = d.id AND r.rev = d.rev "
        "WHERE d.id = %s"
    )
    found = rows.fetch_rows(sql, [doc_id], columns)
    return DocumentForRead(*found[0]) if found else None


# --- plain rows for the replication endpoint's hot paths ---------------------------------------
# A pull batch reads hundreds of document rows and revision bodies per request; building model
# instances for them cost more than the queries. These read exactly the columns the wire form
# needs, with the same indexed lookups as above.


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
    """Stored revisions for exact ``(document id, rev)`` pairs (``pair_chunks``, as
    ``revisions_by_pair``), as plain rows."""
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
