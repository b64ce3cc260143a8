"""Storing many revisions in one go: what ``store_revision`` does, with one query per kind of
row instead of several per document (a replication batch is up to thousands of documents).

Each ``PendingRevision`` is stored exactly as ``store_revision`` would store it: its path is
merged into the document's tree, it takes the next global sequence number, every body is kept,
the winner and the projections follow. A document may appear several times; they apply in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Model
from django.db.models.fields import AutoFieldMixin

from backend.audit.services import Actor
from backend.cases.models import Case
from sync import revtree

from . import projections
from .models import Document, Revision, VisitRecord
from .sequence import next_seqs
from .services import StoredRevision, leaf_rev
from .trees import set_tree, tree_of


@dataclass
class PendingRevision:
    doc_id: str
    doc_type: str
    case: Case
    path: revtree.RevPath
    body: dict[str, Any]
    deleted: bool
    actor: Actor
    origin: str
    extra: dict[str, Any] = field(default_factory=dict)
    #: ``(tree, merged tree, outcome)`` when the caller already merged ``path`` into ``tree``
    #: (``revtree.merge`` with DOORSTEP_REVS_LIMIT): used if ``tree`` is, as an object, the tree
    #: this revision is stored onto, instead of merging again.
    merged: tuple[revtree.RevTree, revtree.RevTree, str] | None = None


def store_revisions(
    pending: list[PendingRevision], *, documents: dict[str, Document | None], now: datetime
) -> list[StoredRevision]:
    """Store ``pending`` (inside the caller's transaction, documents locked by the caller).

    ``documents`` maps every id to its current row (None for a new document); it is updated in
    place. Returns one StoredRevision per pending revision, in order (``seq`` None = no-op).
    """
    trees: dict[str, revtree.RevTree] = {}
    is_new: dict[str, bool] = {}
    previous_meta: dict[str, dict[str, Any]] = {}
    was_deleted: dict[str, bool] = {}
    planned: list[tuple[int, PendingRevision, revtree.RevTree, str, str]] = []
    results: list[StoredRevision | None] = [None] * len(pending)
    for index, item in enumerate(pending):
        document = documents.get(item.doc_id)
        tree = trees.get(item.doc_id)
        if tree is None:
            tree = tree_of(document) if document is not None else ()
        if item.merged is not None and item.merged[0] is tree:
            new_tree, outcome = item.merged[1], item.merged[2]
        else:
            new_tree, outcome = revtree.merge(tree, item.path, revs_limit=settings.DOORSTEP_REVS_LIMIT)
        rev = leaf_rev(item.path)
        if document is not None and outcome == "internal_node":
            node = revtree.find_node(tree, rev)
            if node is not None and node.available:
                results[index] = StoredRevision(document=document, rev=rev, outcome=str(outcome), seq=None)
                continue
        if document is None:
            document = Document(id=item.doc_id, case=item.case, doc_type=item.doc_type, created_at=now)
            documents[item.doc_id] = document
            is_new.setdefault(item.doc_id, True)
            previous_meta.setdefault(item.doc_id, {})
        else:
            is_new.setdefault(item.doc_id, False)
            previous_meta.setdefault(item.doc_id, dict(document.meta))
            was_deleted.setdefault(item.doc_id, document.deleted)
        trees[item.doc_id] = new_tree
        planned.append((index, item, new_tree, rev, str(outcome)))
    if not planned:
        return [r for r in results if r is not None]

    seqs = next_seqs(len(planned))
    bodies_by_rev: dict[tuple[str, str], dict[str, Any]] = {}
    revisions: list[Revision] = []
    final_trees: dict[str, revtree.RevTree] = {}
    for (index, item, new_tree, rev, outcome), seq in zip(planned, seqs, strict=True):
        document = documents[item.doc_id]
        assert document is not None
        bodies_by_rev[(item.doc_id, rev)] = item.body
        # One walk of the tree gives the winner (CouchDB's order, as ``winning_rev``), whether
        # it is deleted (``is_deleted``) and, for a leaf, its ancestry.
        ranked = revtree.leaves(new_tree)
        winner = ranked[0].rev
        if winner == rev:
            document.meta = item.body.get("meta") or {}
        elif winner != document.rev:
            stored = bodies_by_rev.get((item.doc_id, winner))
            if stored is None:
                stored = (
                    Revision.objects.filter(document_id=item.doc_id, rev=winner)
                    .values_list("body", flat=True)
                    .first()
                    or {}
                )
            document.meta = stored.get("meta", {})
        document.seq = seq
        document.rev = winner
        document.deleted = ranked[0].deleted
        final_trees[item.doc_id] = new_tree
        document.updated_at = now
        lineage = next((leaf.path for leaf in ranked if leaf.rev == rev), None) or revtree.ancestry(
            new_tree, rev
        )
        revisions.append(
            Revision(
                document_id=item.doc_id,
                rev=rev,
                generation=revtree.parse_rev(rev)[0],
                parent_rev=lineage[1] if len(lineage) > 1 else "",
                deleted=item.deleted,
                body=item.body,
                seq=seq,
                created_at=now,
                author=item.actor.user,
                device=item.actor.device,
                origin=item.origin,
            )
        )
        results[index] = StoredRevision(document=document, rev=rev, outcome=outcome, seq=seq)

    for doc_id, final in final_trees.items():  # the stored form of each tree once, at the end
        set_tree(documents[doc_id], final)
    touched = {item.doc_id for _, item, _, _, _ in planned}
    new_docs = [documents[d] for d in touched if is_new[d]]
    old_docs = [documents[d] for d in touched if not is_new[d]]
    Document.objects.bulk_create(new_docs)  # type: ignore[arg-type]
    if old_docs:
        update_rows(Document, old_docs, ["seq", "rev", "deleted", "tree", "meta", "updated_at"])  # type: ignore[arg-type]
    insert_rows(Revision, revisions)
    _project_many(
        [documents[d] for d in touched],  # type: ignore[misc]
        is_new=is_new,
        previous_meta=previous_meta,
        was_deleted=was_deleted,
    )
    deltas: dict[str, tuple[int, int]] = {}
    for doc_id in touched:
        document = documents[doc_id]
        assert document is not None
        live, dead = projections.count_delta(
            is_new=is_new[doc_id], was_deleted=was_deleted.get(doc_id, False), deleted=document.deleted
        )
        total = deltas.get(document.case_id, (0, 0))
        deltas[document.case_id] = (total[0] + live, total[1] + dead)
    projections.apply_count_deltas(deltas)
    return [r for r in results if r is not None]


def _project_many(
    docs: list[Document],
    *,
    is_new: dict[str, bool],
    previous_meta: dict[str, dict[str, Any]],
    was_deleted: dict[str, bool],
) -> None:
    """Projections for a batch: visit records only where a projected field changed (an edit
    of the analysis changes none), one last-visit recount per case whose date can move."""
    for document in docs:
        if document.doc_type == "case":
            projections.project(
                document,
                is_new=is_new[document.id],
                previous_meta=previous_meta[document.id],
                previous_deleted=was_deleted.get(document.id, False),
            )
    changed: list[VisitRecord] = []
    replace: list[str] = []
    recount: set[str] = set()
    for document in docs:
        if document.doc_type != "visit":
            continue
        fields = projections.visit_fields(document)
        old_meta, old_deleted = previous_meta[document.id], was_deleted.get(document.id, False)
        if is_new[document.id]:
            changed.append(VisitRecord(document=document, **fields))
        elif fields != projections.visit_fields_of(old_meta, old_deleted, document.case_id):
            changed.append(VisitRecord(document=document, **fields))
            replace.append(document.id)
        if projections.needs_recount(old_meta, old_deleted, document.meta, document.deleted):
            recount.add(document.case_id)
    if replace:  # a projection: replacing the rows is two queries, whatever their number
        VisitRecord.objects.filter(document_id__in=replace).delete()
    if changed:
        insert_rows(VisitRecord, changed)
    for case_id in recount:
        projections.recount_last_visit(case_id)


def insert_rows(model: type[Model], rows: Sequence[Model]) -> None:
    """``INSERT … VALUES (…), (…)`` of new rows, as many per statement as the database takes.

    What ``bulk_create`` stores (each field prepares its own value), without its per-row
    bookkeeping, which costs more than the insert for a replication batch. Auto primary keys
    are left to the database and not read back.
    """
    if not rows:
        return
    columns = [
        f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, AutoFieldMixin))
    ]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    per_statement = max(1, (connection.features.max_query_params or 10_000) // len(columns))
    prepared: dict[tuple[int, type, Any], Any] = {}

    def prepare(index: int, f: Any, value: Any) -> Any:
        # Many rows share a value (the clock, the author, the device, the origin): prepare each
        # distinct scalar once. Other values (JSON objects and lists) are prepared every time.
        if not isinstance(value, str | int | float | datetime | date | None):
            return f.get_db_prep_save(value, connection)
        key = (index, type(value), value)
        if key not in prepared:
            prepared[key] = f.get_db_prep_save(value, connection)
        return prepared[key]

    attnames = [(index, f, f.attname) for index, f in enumerate(columns)]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                prepare(index, f, getattr(row, attname)) for row in chunk for index, f, attname in attnames
            ]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([row_sql] * len(chunk))}", params
            )


def update_rows(model: type[Model], rows: Sequence[Model], fields: Sequence[str]) -> None:
    """``UPDATE … FROM (VALUES …)`` by primary key, in one statement per 500 rows.

    Django's ``bulk_update`` builds a ``CASE WHEN`` per field and row, which costs more than the
    writes themselves for a replication batch.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    pk = model._meta.pk
    assert pk is not None
    columns = [pk, *(model._meta.get_field(name) for name in fields)]
    postgres = connection.vendor == "postgresql"

    def placeholder(f: Any) -> str:
        return f"CAST(%s AS {f.db_type(connection)})" if postgres else "%s"

    row_sql = "(" + ", ".join(placeholder(f) for f in columns) + ")"
    names = [connection.ops.quote_name(f.column) for f in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            params: list[Any] = []
            for row in chunk:
                for f in columns:
                    params.append(f.get_db_prep_save(getattr(row, f.attname), connection))
            sql = (
                f"WITH v({', '.join(names)}) AS (VALUES {', '.join([row_sql] * len(chunk))}) "
                f"UPDATE {table} SET {assignments} FROM v WHERE {table}.{names[0]} = v.{names[0]}"
            )
            cursor.execute(sql, params)
