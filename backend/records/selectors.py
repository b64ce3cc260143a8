"""Reads of stored revisions."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from .models import Revision


def revisions_by_pair(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Revision]:
    """Stored revisions for exact ``(document id, rev)`` pairs, one indexed lookup each.

    ``document_id IN (…) AND rev IN (…)`` makes PostgreSQL scan far more of the (large)
    revision table than the pairs asked for; joining a VALUES list on the unique
    ``(document_id, rev)`` index does not.
    """
    wanted = list(dict.fromkeys(pairs))
    found: dict[tuple[str, str], Revision] = {}
    table = Revision._meta.db_table
    cast = "CAST(%s AS TEXT)" if connection.vendor == "postgresql" else "%s"
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        values = ", ".join([f"({cast}, {cast})"] * len(chunk))
        params = [value for pair in chunk for value in pair]
        sql = (
            f"WITH wanted(document_id, rev) AS (VALUES {values}) "
            f"SELECT r.* FROM {table} r JOIN wanted w ON r.document_id = w.document_id AND r.rev = w.rev"
        )
        for revision in Revision.objects.raw(sql, params):
            found[(revision.document_id, revision.rev)] = revision
    return found
