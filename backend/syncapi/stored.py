"""Stored documents and revisions as plain rows, for the replication endpoint's hot paths.

A pull batch reads hundreds of document rows and revision bodies per request; building model
instances for them cost more than the queries. These read exactly the columns the wire form
needs, with the same indexed lookups as ``records.selectors``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.db import connection

from backend.records.models import Document, Revision


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


def _json(value: Any) -> Any:
    # SQLite hands JSON columns over as text; psycopg may have decoded jsonb already.
    return json.loads(value) if isinstance(value, str | bytes) else value


def document_rows(doc_ids: Iterable[str]) -> dict[str, DocumentRow]:
    """The documents among ``doc_ids`` by id, one query per 500 ids."""
    ids = list(dict.fromkeys(doc_ids))
    found: dict[str, DocumentRow] = {}
    table = Document._meta.db_table
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        sql = (
            f"SELECT id, case_id, doc_type, rev, deleted, tree, schema_version FROM {table} "
            f"WHERE id IN ({', '.join(['%s'] * len(chunk))})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, chunk)
            for row in cursor.fetchall():
                found[row[0]] = DocumentRow(
                    row[0], row[1], row[2], row[3], bool(row[4]), _json(row[5]), int(row[6])
                )
    return found


def revision_rows_by_pair(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RevisionRow]:
    """Stored revisions for exact ``(document id, rev)`` pairs: the VALUES join on the unique
    ``(document_id, rev)`` index that ``records.selectors.revisions_by_pair`` uses."""
    wanted = list(dict.fromkeys(pairs))
    found: dict[tuple[str, str], RevisionRow] = {}
    table = Revision._meta.db_table
    cast = "CAST(%s AS TEXT)" if connection.vendor == "postgresql" else "%s"
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        values = ", ".join([f"({cast}, {cast})"] * len(chunk))
        params = [value for pair in chunk for value in pair]
        sql = (
            f"WITH wanted(document_id, rev) AS (VALUES {values}) "
            f"SELECT r.document_id, r.rev, r.deleted, r.body FROM {table} r "
            "JOIN wanted w ON r.document_id = w.document_id AND r.rev = w.rev"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for row in cursor.fetchall():
                found[(row[0], row[1])] = RevisionRow(row[0], row[1], bool(row[2]), _json(row[3]))
    return found
