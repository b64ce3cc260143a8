"""Replicated writes (``_bulk_docs``, ``PUT``/``DELETE``): checked per document, stored through
the same document store as REST writes, refused per document with a CouchDB error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from backend.audit.models import AuditAction
from backend.audit.services import audit_record
from backend.cases.models import Case
from backend.common.ids import doc_type_of
from backend.keys.models import CaseKey
from backend.records.codec import open_body, schema_for
from backend.records.merging import Written, resolve_conflicts
from backend.records.models import Document, Revision
from backend.records.permissions import can_write_document
from backend.records.services import new_edit_path, store_revision
from backend.records.workflow import WorkflowRefused, check_replicated_transition
from sync import DecryptionError, InvalidDocument, InvalidRevision, SyncError, field_names, parse_kid, revtree

from .auth import SyncCaller

ALLOWED_FIELDS = frozenset(
    {"_id", "_rev", "_revisions", "_deleted", "type", "case_id", "schema", "meta", "enc"}
)


class DocRefused(Exception):
    """One document refused; becomes ``{"id", "error", "reason"}`` in the response."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


@dataclass(frozen=True)
class WriteResult:
    id: str
    rev: str | None = None
    error: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        if self.error:
            return {"id": self.id, "error": self.error, "reason": self.reason}
        return {"ok": True, "id": self.id, "rev": self.rev}


def _shape(doc: Any) -> tuple[str, str]:
    """Structural checks. Anything wrong with a document's *content* is ``forbidden`` (as
    CouchDB's validate_doc_update answers): PouchDB then reports it and carries on with the
    rest of the batch, whereas any other per-document error aborts its replication."""
    if not isinstance(doc, dict):
        raise DocRefused("bad_request", "each document must be a JSON object")
    doc_id = doc.get("_id")
    if not isinstance(doc_id, str) or not doc_id:
        raise DocRefused("bad_request", "document has no _id")
    if doc_id.startswith("_design/"):
        raise DocRefused("forbidden", "design documents are not accepted")
    if doc_id.startswith("_local/"):
        raise DocRefused("bad_request", "use the _local endpoint for local documents")
    if "_attachments" in doc:
        raise DocRefused("forbidden", "attachments are not supported")
    unknown = sorted(k for k in doc if k not in ALLOWED_FIELDS)
    if unknown:
        raise DocRefused("forbidden", f"unknown field(s) {field_names(unknown)}")
    doc_type = doc_type_of(doc_id)
    if doc_type is None:
        if doc_id.startswith(("purge:", "keyenv:")):
            raise DocRefused("forbidden", "this document is managed by the server")
        raise DocRefused(
            "forbidden", "_id must look like <type>:<ULID> (case, person, visit, note, addendum)"
        )
    return doc_id, doc_type


def _content_of(doc: dict[str, Any], *, doc_id: str, doc_type: str, case_id: str) -> dict[str, Any]:
    """Decrypt and validate a replicated body; DocRefused on any failure, naming no values."""
    meta, enc = doc.get("meta"), doc.get("enc")
    if not isinstance(meta, dict) or not isinstance(enc, dict):
        raise DocRefused("forbidden", "document must carry meta and enc objects")
    if doc.get("schema") != schema_for(doc_type).version:
        raise DocRefused("forbidden", f"schema must be {schema_for(doc_type).version}")
    kid = enc.get("kid")
    try:
        kid_case, version = parse_kid(kid) if isinstance(kid, str) else ("", 0)
    except SyncError:
        kid_case, version = "", 0
    if kid_case != case_id:
        raise DocRefused("forbidden", "body is not encrypted under a key of this document's case")
    if not CaseKey.objects.filter(case_id=case_id, version=version).exists():
        raise DocRefused("forbidden", "body is encrypted under a key version the server never issued")
    try:
        content = open_body(
            doc_id=doc_id, doc_type=doc_type, case_id=case_id, body={"meta": meta, "enc": enc}
        )
    except DecryptionError:
        raise DocRefused("forbidden", "body does not decrypt under the case key for this document") from None
    except InvalidDocument as exc:
        raise DocRefused("forbidden", exc.reason) from None
    try:
        schema_for(doc_type).validate(content)
    except InvalidDocument as exc:
        raise DocRefused(
            "forbidden",
            f"{exc.field}: {exc.reason}" if exc.field and exc.field not in exc.reason else exc.reason,
        ) from None
    return content


def replicated_write(
    *, caller: SyncCaller, access: dict[str, int], doc: Any, new_edits: bool, now: datetime | None = None
) -> WriteResult:
    """Check and store one replicated document in its own transaction."""
    now = now or timezone.now()
    doc_id = doc.get("_id") if isinstance(doc, dict) and isinstance(doc.get("_id"), str) else ""
    try:
        doc_id, doc_type = _shape(doc)
        with transaction.atomic():
            result = _write(
                caller=caller,
                access=access,
                doc=doc,
                doc_id=doc_id,
                doc_type=doc_type,
                new_edits=new_edits,
                now=now,
            )
        return result
    except WorkflowRefused as exc:
        refused = DocRefused("forbidden", exc.reason)
        _audit_refusal(caller, doc_id, refused)
        return WriteResult(id=doc_id, error=refused.error, reason=refused.reason)
    except DocRefused as exc:
        _audit_refusal(caller, doc_id, exc)
        return WriteResult(id=doc_id, error=exc.error, reason=exc.reason)
    except InvalidRevision as exc:
        return WriteResult(id=doc_id, error="bad_request", reason=exc.reason)
    except InvalidDocument as exc:
        return WriteResult(id=doc_id, error="forbidden", reason=exc.reason)


def _audit_refusal(caller: SyncCaller, doc_id: str, exc: DocRefused) -> None:
    if exc.error == "forbidden":
        audit_record(
            actor=caller.actor,
            action=AuditAction.SYNC_REFUSED,
            object_type=doc_type_of(doc_id) or "",
            object_id=doc_id[:80],
            detail={"error": exc.error, "reason": exc.reason},
        )


def _write(
    *,
    caller: SyncCaller,
    access: dict[str, int],
    doc: dict[str, Any],
    doc_id: str,
    doc_type: str,
    new_edits: bool,
    now: datetime,
) -> WriteResult:
    deleted = bool(doc.get("_deleted", False))
    found = Document.objects.select_for_update().filter(pk=doc_id).first()
    # A document outside the caller's subset is treated exactly like one that does not exist,
    # so a write can never tell whether an id is in use in another caseload.
    hidden = found is not None and found.case_id not in access
    document = None if hidden else found
    claimed_case = doc.get("case_id")
    if claimed_case is not None and not isinstance(claimed_case, str):
        raise DocRefused("forbidden", "case_id must be a string")
    if document is not None:
        if claimed_case is not None and claimed_case != document.case_id:
            raise DocRefused("forbidden", "a document cannot move to another case")
        case_id = document.case_id
    else:
        if claimed_case is None:
            raise DocRefused("forbidden", "unknown document and no case_id")
        case_id = claimed_case
    if doc.get("type", doc_type) != doc_type:
        raise DocRefused("forbidden", "type does not match the _id prefix")
    if doc_type == "case" and doc_id != case_id:
        raise DocRefused("forbidden", "a case document's _id must be its case_id")
    if case_id not in access:
        raise DocRefused("forbidden", "document is outside your caseload")
    case = Case.objects.filter(pk=case_id).first()
    if case is None or not can_write_document(caller.user, case, doc_type):
        raise DocRefused("forbidden", f"you may not write {doc_type} records on this case")
    if document is None and doc_type == "case":
        raise DocRefused("forbidden", "cases are opened through the API, not by replication")

    tree = revtree.from_json(document.tree) if document is not None else ()
    # Conflicts first, as CouchDB does: a stale edit is a 409 whatever its content.
    parent_rev: str | None
    if new_edits:
        parent = doc.get("_rev")
        if parent is not None and not isinstance(parent, str):
            raise DocRefused("bad_request", "_rev must be a string")
        if parent is None:
            if document is not None and not document.deleted:
                raise DocRefused("conflict", "Document update conflict.")
            parent = document.rev if document is not None else None
        elif not revtree.contains(tree, parent) or not revtree.is_leaf(tree, parent):
            raise DocRefused("conflict", "Document update conflict.")
        parent_rev = parent
        path = None
    else:
        if "_rev" not in doc:
            raise DocRefused("bad_request", "_rev is required when new_edits is false")
        path = revtree.path_from_doc(doc)
        parent_rev = next((r for r in path_ancestors(path) if revtree.contains(tree, r)), None)

    body: dict[str, Any]
    content: dict[str, Any] | None = None
    if deleted:
        body = {}
    else:
        content = _content_of(doc, doc_id=doc_id, doc_type=doc_type, case_id=case_id)
        if content.get("updated_by") != caller.actor.ref:
            raise DocRefused("forbidden", "meta.updated_by must be the writer")
        body = {"schema": doc["schema"], "meta": doc["meta"], "enc": doc["enc"]}
    if path is None:
        path = new_edit_path(parent_rev=parent_rev, tree=tree, body=body, deleted=deleted)

    parent_content = _parent_content(document, parent_rev)
    if content is not None:
        check_replicated_transition(
            caller=caller, doc_type=doc_type, parent=parent_content, new=content, is_new=document is None
        )
    if deleted and document is not None and parent_content is not None:
        check_replicated_transition(
            caller=caller, doc_type=doc_type, parent=parent_content, new=None, is_new=False
        )
    if hidden:
        # Only reachable with a valid body for one's own case under someone else's ULID.
        raise DocRefused("forbidden", "this id cannot be used")

    stored = store_revision(
        document=document,
        doc_id=doc_id,
        doc_type=doc_type,
        case=case,
        path=path,
        body=body,
        deleted=deleted,
        actor=caller.actor,
        origin=Revision.Origin.SYNC,
        now=now,
    )
    if stored.seq is not None:
        audit_record(
            actor=caller.actor,
            action=AuditAction.DELETE if deleted else AuditAction.SYNC_PUSH,
            object_type=doc_type,
            object_id=doc_id,
            case_id=case_id,
            detail={"rev": stored.rev, "outcome": str(stored.outcome)},
        )
        resolve_conflicts(
            document=stored.document,
            actor=caller.actor,
            now=now,
            written=Written(
                rev=stored.rev,
                deleted=deleted,
                outcome=str(stored.outcome),
                parent_signed_off=(parent_content or {}).get("status") == "signed_off",
            ),
        )
    return WriteResult(id=doc_id, rev=stored.rev)


def path_ancestors(path: revtree.RevPath) -> list[str]:
    """Revs of a linear path from its leaf towards its root, excluding the leaf."""
    chain: list[str] = []
    node, pos = path.node, path.pos
    while True:
        chain.append(f"{pos}-{node.hash}")
        if not node.children:
            break
        node, pos = node.children[0], pos + 1
    chain.reverse()
    return chain[1:]


def _parent_content(document: Document | None, parent_rev: str | None) -> dict[str, Any] | None:
    if document is None or parent_rev is None:
        return None
    revision = Revision.objects.filter(document=document, rev=parent_rev).first()
    if revision is None or revision.deleted or not revision.body:
        return None
    try:
        return open_body(
            doc_id=document.id, doc_type=document.doc_type, case_id=document.case_id, body=revision.body
        )
    except DecryptionError:
        return None
