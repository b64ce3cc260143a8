"""Documents in their CouchDB wire form, built from stored revisions and trees."""

from __future__ import annotations

import hashlib
from typing import Any

from backend.records.models import Document, Revision
from backend.records.selectors import DocumentRow, RevisionRow
from sync import revtree


def purge_rev(case_id: str, ended_seq: int) -> str:
    """The revision of the purge signal for ``case_id`` lost at ``ended_seq`` (deterministic)."""
    return "1-" + hashlib.md5(f"purge\n{case_id}\n{ended_seq}".encode()).hexdigest()


def load_tree(document: Document | DocumentRow) -> revtree.RevTree:
    return revtree.from_json(document.tree)


def wire_doc(
    document: Document | DocumentRow,
    revision: Revision | RevisionRow,
    *,
    tree: revtree.RevTree | None = None,
    revs: bool = False,
    revs_info: bool = False,
    conflicts: bool = False,
    deleted_conflicts: bool = False,
) -> dict[str, Any]:
    body = revision.body or {}
    doc: dict[str, Any] = {"_id": document.id, "_rev": revision.rev}
    if revision.deleted:
        doc["_deleted"] = True
    doc["type"] = document.doc_type
    doc["case_id"] = document.case_id
    if "meta" in body or "enc" in body:
        doc["schema"] = body.get("schema", document.schema_version)
        doc["meta"] = body.get("meta", {})
        doc["enc"] = body.get("enc", {})
    if revs and tree is None and not (revs_info or conflicts or deleted_conflicts):
        # The common pull case: answered from the stored tree without parsing it.
        doc["_revisions"] = revtree.stored_revisions(document.tree, revision.rev)
    elif revs or revs_info or conflicts or deleted_conflicts:
        tree = tree if tree is not None else load_tree(document)
        if revs:
            doc["_revisions"] = revtree.revisions(tree, revision.rev)
        if revs_info:
            doc["_revs_info"] = revtree.revs_info(tree, revision.rev)
        if conflicts and revision.rev == document.rev:
            found = revtree.conflicts(tree)
            if found:
                doc["_conflicts"] = found
        if deleted_conflicts and revision.rev == document.rev:
            found = revtree.deleted_conflicts(tree)
            if found:
                doc["_deleted_conflicts"] = found
    return doc


def purge_doc(case_id: str, ended_seq: int, *, revs: bool = False) -> dict[str, Any]:
    rev = purge_rev(case_id, ended_seq)
    doc: dict[str, Any] = {
        "_id": f"purge:{case_id}",
        "_rev": rev,
        "type": "purge",
        "case_id": case_id,
        "reason": "access_ended",
    }
    if revs:
        doc["_revisions"] = {"start": 1, "ids": [rev.split("-", 1)[1]]}
    return doc
