"""The only writer of ``Document`` and ``Revision`` rows: a batch of revisions stored in one go.

Every write to a case document — REST create and edit, workflow moves, decisions, replicated
``_bulk_docs``, server merges — becomes ``PendingRevision``s stored by ``store_revisions``; a
single write is a batch of one (PouchDB's ``put`` is ``bulkDocs([doc])``). For each revision,
in order: its path is merged into the document's revision tree, every body is kept forever,
it takes the next global sequence number, and the document's winner, meta, projections and
its case's counters follow — with one query per kind of row, whatever the batch size.

``store_revisions(batch, *, documents, now)`` is the stable entry point (the benchmark loaders
call it too); ``seal_body`` is the one way to turn content into a stored body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from backend.audit.services import Actor
from backend.cases.models import Case
from backend.common.rows import insert_rows, update_rows
from backend.common.sequence import next_seqs
from sync import revtree

from . import projections
from .codec import schema_for, seal
from .models import Document, Revision
from .trees import set_tree, tree_of


@dataclass
class PendingRevision:
    """One revision to store: ``path`` ends in the new leaf, whose stored body is ``body``."""

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


@dataclass(frozen=True)
class StoredRevision:
    """What storing one pending revision did; ``seq`` is None when it was already stored."""

    document: Document
    rev: str
    outcome: str
    seq: int | None


def seal_body(*, doc_id: str, doc_type: str, case_id: str, content: dict[str, Any]) -> dict[str, Any]:
    """The stored body of ``content``: clear meta, the rest sealed under the case's current key,
    stamped with the schema version it was written against."""
    body = seal(doc_id=doc_id, doc_type=doc_type, case_id=case_id, content=content)
    body["schema"] = schema_for(doc_type).version
    return body


def edit_of(
    document: Document,
    *,
    parent: str,
    content: dict[str, Any] | None,
    actor: Actor,
    origin: str,
    tree: revtree.RevTree | None = None,
) -> PendingRevision:
    """A new revision of ``document`` on top of ``parent``: ``content`` sealed, or a tombstone
    (``content`` None). ``tree`` is the tree the edit is made on (default: the stored one)."""
    body = (
        {}
        if content is None
        else seal_body(
            doc_id=document.id, doc_type=document.doc_type, case_id=document.case_id, content=content
        )
    )
    path = revtree.new_edit_path(
        parent_rev=parent,
        tree=tree_of(document) if tree is None else tree,
        body=body,
        deleted=content is None,
    )
    return PendingRevision(
        doc_id=document.id,
        doc_type=document.doc_type,
        case=document.case,
        path=path,
        body=body,
        deleted=content is None,
        actor=actor,
        origin=origin,
    )


def store_revisions(
    batch: list[PendingRevision], *, documents: dict[str, Document | None], now: datetime
) -> list[StoredRevision]:
    """Store ``batch`` in order, inside the caller's transaction, documents locked by the caller.

    ``documents`` maps every id of the batch to its current row (None for a new document); it
    is updated in place (new documents are added). A document may appear several times: each
    revision is stored onto the tree the previous one left. Idempotent: a revision already
    stored changes nothing and takes no sequence number. Returns one ``StoredRevision`` per
    pending revision, in order. Takes the global sequence lock, held until commit: callers
    write what they can (audit rows) before calling.
    """
    trees: dict[str, revtree.RevTree] = {}
    is_new: dict[str, bool] = {}
    previous_meta: dict[str, dict[str, Any]] = {}
    was_deleted: dict[str, bool] = {}
    planned: list[tuple[int, PendingRevision, revtree.RevTree, str, str]] = []
    results: list[StoredRevision | None] = [None] * len(batch)
    for index, item in enumerate(batch):
        document = documents.get(item.doc_id)
        tree = trees.get(item.doc_id)
        if tree is None:
            tree = tree_of(document) if document is not None else ()
        if item.merged is not None and item.merged[0] is tree:
            new_tree, outcome = item.merged[1], item.merged[2]
        else:
            new_tree, outcome = revtree.merge(tree, item.path, revs_limit=settings.DOORSTEP_REVS_LIMIT)
        rev = revtree.leaf_rev(item.path)
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
    touched = list(dict.fromkeys(item.doc_id for _, item, _, _, _ in planned))
    new_docs = [documents[d] for d in touched if is_new[d]]
    old_docs = [documents[d] for d in touched if not is_new[d]]
    if new_docs:
        Document.objects.bulk_create(new_docs)  # type: ignore[arg-type]
    if old_docs:
        update_rows(Document, old_docs, ["seq", "rev", "deleted", "tree", "meta", "updated_at"])  # type: ignore[arg-type]
    insert_rows(Revision, revisions)
    projections.project_many(
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


def store_edit(pending: PendingRevision, *, document: Document | None, now: datetime) -> StoredRevision:
    """``store_revisions`` for a batch of one whose document (None: new) the caller holds."""
    return store_revisions([pending], documents={pending.doc_id: document}, now=now)[0]


def store_child(
    document: Document,
    *,
    parent: str,
    content: dict[str, Any] | None,
    actor: Actor,
    origin: str,
    now: datetime,
) -> str:
    """Store ``content`` (None: a tombstone) as a new revision on ``parent``; its rev."""
    pending = edit_of(document, parent=parent, content=content, actor=actor, origin=origin)
    return store_edit(pending, document=document, now=now).rev


def close_leaves(document: Document, revs: list[str], *, actor: Actor, now: datetime) -> list[str]:
    """A server tombstone on each of the live leaves ``revs``: the revs of the tombstones."""
    return [
        store_child(document, parent=rev, content=None, actor=actor, origin=Revision.Origin.MERGE, now=now)
        for rev in revs
    ]
