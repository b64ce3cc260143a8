"""Document services: REST reads and writes of case documents, checked, audited and stored
through ``records.store`` in one transaction."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.cases.models import Case
from backend.common.errors import (
    ApplicationError,
    ErrorCode,
    Forbidden,
    NotFound,
    OutOfScope,
    StaleRevision,
)
from backend.common.ids import doc_type_of, new_id
from sync import InvalidDocument, revtree, workflow

from .codec import open_body, refusal_reason, schema_for
from .models import Document, Revision
from .permissions import can_read, case_permissions
from .selectors import DocumentForRead, document_for_read
from .store import PendingRevision, edit_of, seal_body, store_edit


@dataclass(frozen=True)
class DocumentView:
    """A document as the REST API shows it: decrypted content of the winning revision."""

    id: str
    rev: str
    doc_type: str
    case_id: str
    schema: int
    deleted: bool
    content: dict[str, Any]
    conflicts: tuple[str, ...] = ()
    decisions_pending: tuple[str, ...] = field(default=())


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def view_from(document: Document | DocumentForRead, content: dict[str, Any]) -> DocumentView:
    """The view of a document whose winning content the caller already holds in clear."""
    tree = revtree.from_json(document.tree)
    return DocumentView(
        id=document.id,
        rev=document.rev,
        doc_type=document.doc_type,
        case_id=document.case_id,
        schema=document.schema_version,
        deleted=document.deleted,
        content=content,
        conflicts=tuple(revtree.conflicts(tree)),
        decisions_pending=tuple(document.meta.get("decisions_pending") or ()),
    )


def view_of(document: Document | DocumentForRead, body: dict[str, Any] | None = None) -> DocumentView:
    """Decrypt ``document``'s winning revision (``body`` if the caller already has it)."""
    if body is None:
        body = Revision.objects.values_list("body", flat=True).get(document_id=document.id, rev=document.rev)
    content = (
        {}
        if document.deleted
        else open_body(doc_id=document.id, doc_type=document.doc_type, case_id=document.case_id, body=body)
    )
    return view_from(document, content)


# --- REST-facing services ---------------------------------------------------------------------


def _check_server_fields(doc_type: str, content: dict[str, Any], current: dict[str, Any]) -> None:
    for name in workflow.server_fields(doc_type):
        if name in content and content[name] != current.get(name):
            raise ApplicationError(
                ErrorCode.INVALID_FIELD,
                f"{name} is set by the server and cannot be changed here",
                field=name,
            )


def _check_immutable(doc_type: str, content: dict[str, Any], current: dict[str, Any]) -> None:
    rules = schema_for(doc_type).rules
    for name, rule in rules.items():
        if rule.rule == "immutable" and name in current and content.get(name) != current[name]:
            raise ApplicationError(ErrorCode.INVALID_FIELD, f"{name} cannot be changed once set", field=name)


def _validate(doc_type: str, content: dict[str, Any]) -> None:
    try:
        schema_for(doc_type).validate(content)
    except InvalidDocument as exc:
        raise InvalidDocument(refusal_reason(exc), field=exc.field, rule=exc.rule) from None


def _get_case_for_write(actor: Actor, case_id: str, doc_type: str) -> Case:
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        raise NotFound("case")
    readable, writable = case_permissions(actor.user, case, doc_type)
    if not readable:
        raise OutOfScope("case", object_type="case", object_id=case_id, case_id=case_id)
    if not writable:
        raise Forbidden(f"you may not write {doc_type} records on this case")
    return case


@transaction.atomic
def document_create(
    *,
    actor: Actor,
    case_id: str,
    doc_type: str,
    content: dict[str, Any],
    doc_id: str | None = None,
    origin: str = Revision.Origin.REST,
    now: datetime | None = None,
    server_content: dict[str, Any] | None = None,
    check_permission: bool = True,
) -> DocumentView:
    """Create a document of ``doc_type`` on ``case_id`` with ``content``.

    The server sets author, times and workflow fields (``server_content`` overrides them for
    internal callers). Raises InvalidDocument (schema), Forbidden, NotFound.
    """
    now = now or timezone.now()
    if check_permission:
        case = _get_case_for_write(actor, case_id, doc_type)
        _check_server_fields(doc_type, content, {})
    else:  # internal callers (the merge) that act on the system's behalf
        case = Case.objects.get(pk=case_id)
    content = dict(content)
    stamp = _iso(now)
    full = {
        **content,
        "author": actor.ref,
        "created_at": stamp,
        "updated_at": stamp,
        "updated_by": actor.ref,
        **workflow.initial_fields(doc_type),
        **(server_content or {}),
    }
    _validate(doc_type, full)
    if doc_id is None:
        doc_id = new_id(doc_type)  # a fresh ULID: no need to look for a clash
    elif doc_type_of(doc_id) != doc_type:
        raise InvalidDocument(f"id must look like {doc_type}:<ULID>", field="id")
    elif Document.objects.filter(pk=doc_id).exists():
        raise ApplicationError(ErrorCode.CONFLICT, "a document with this id already exists", field="id")
    body = seal_body(doc_id=doc_id, doc_type=doc_type, case_id=case.id, content=full)
    path = revtree.new_edit_path(parent_rev=None, tree=(), body=body, deleted=False)
    # Audit first: storing takes the global sequence lock, which is held until commit.
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        object_type=doc_type,
        object_id=doc_id,
        case_id=case.id,
        detail={"rev": revtree.leaf_rev(path), "via": origin},
    )
    pending = PendingRevision(
        doc_id=doc_id,
        doc_type=doc_type,
        case=case,
        path=path,
        body=body,
        deleted=False,
        actor=actor,
        origin=origin,
    )
    stored = store_edit(pending, document=None, now=now)
    return view_from(stored.document, full)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (``null`` removes a member)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def lock_document(doc_id: str) -> Document:
    """The document row, locked for this transaction; NotFound if absent.

    Only the document's row (``of=self``): a plain FOR UPDATE over the join would lock the case
    row too, and a writer holding the sequence lock that inserts anything referring to that
    case (a key version, an allocation) would then wait for us while we wait for the sequence
    lock — a deadlock PostgreSQL resolves by failing one of the two.
    """
    document = (
        Document.objects.select_for_update(of=("self",)).select_related("case").filter(pk=doc_id).first()
    )
    if document is None:
        raise NotFound("document")
    return document


@transaction.atomic
def document_update(
    *,
    actor: Actor,
    doc_id: str,
    rev: str,
    content: dict[str, Any],
    partial: bool,
    doc_type: str | None = None,
    now: datetime | None = None,
) -> DocumentView:
    """Replace (or merge-patch, ``partial``) the content of ``doc_id`` edited at ``rev``.

    Optimistic concurrency: ``rev`` must be the current winning revision, else StaleRevision
    (409, with the current rev). Raises InvalidDocument, Forbidden, NotFound.
    """
    now = now or timezone.now()
    revtree.parse_rev(rev)
    # Every refusal before the write check says "document not found", as lock_document does
    # for a missing id: another type's id or a document outside scope must answer like an
    # absent one (the latter audited).
    document = lock_document(doc_id)
    if doc_type is not None and document.doc_type != doc_type:
        raise NotFound("document")
    if not can_read(actor.user, case_id=document.case_id, team_id=document.case.team_id):
        raise OutOfScope(
            "document", object_type=document.doc_type, object_id=doc_id, case_id=document.case_id
        )
    case = _get_case_for_write(actor, document.case_id, document.doc_type)
    if document.deleted:
        raise NotFound("document")
    if rev != document.rev:
        raise StaleRevision(document.rev)
    current = view_of(document).content
    if document.doc_type == "visit" and current.get("status") == workflow.FINAL_STATUS:
        raise ApplicationError(
            ErrorCode.CONFLICT,
            "this visit is signed off and cannot change; add an addendum instead",
            field="status",
        )
    _check_server_fields(document.doc_type, content, current)
    new_content = (
        merge_patch(current, content)
        if partial
        else {
            **content,
            **{k: current[k] for k in workflow.server_fields(document.doc_type) if k in current},
        }
    )
    _check_immutable(document.doc_type, new_content, current)
    _stamp_edit(new_content, sent=content, actor=actor, now=now)
    _validate(document.doc_type, new_content)
    return _write_edit(
        actor=actor,
        document=document,
        case=case,
        content=new_content,
        origin=Revision.Origin.REST,
        now=now,
        action=AuditAction.UPDATE,
        changed=sorted(k for k in new_content if new_content.get(k) != current.get(k)),
    )


def _stamp_edit(content: dict[str, Any], *, sent: dict[str, Any], actor: Actor, now: datetime) -> None:
    """Stamp an edit made on the server with the server's time and its author. A tablet's own
    clock reading (``updated_at_device``, docs/sync-protocol.md "Edit times") belongs to the
    edit that sent it: an edit that does not send one must not carry the last tablet's
    reading beside its own, newer time."""
    content["updated_at"] = _iso(now)
    content["updated_by"] = actor.ref
    if "updated_at_device" not in sent:
        content.pop("updated_at_device", None)


def _write_edit(
    *,
    actor: Actor,
    document: Document,
    case: Case,
    content: dict[str, Any],
    origin: str,
    now: datetime,
    action: str,
    changed: list[str],
    detail: dict[str, Any] | None = None,
) -> DocumentView:
    """Store ``content`` as a new revision on the document's winning leaf, and audit it."""
    pending = edit_of(document, parent=document.rev, content=content, actor=actor, origin=origin)
    # Audit first: storing takes the global sequence lock, which is held until commit.
    audit_record(
        actor=actor,
        action=action,
        object_type=document.doc_type,
        object_id=document.id,
        case_id=case.id,
        detail={"rev": revtree.leaf_rev(pending.path), "via": origin, "fields": changed, **(detail or {})},
    )
    stored = store_edit(pending, document=document, now=now)
    return view_from(stored.document, content)


def document_write_internal(
    *,
    actor: Actor,
    document: Document,
    content: dict[str, Any],
    origin: str,
    action: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> DocumentView:
    """For other services (workflow, decisions) that already checked permissions and hold the lock."""
    current = view_of(document).content
    content = dict(content)
    _stamp_edit(content, sent={}, actor=actor, now=now)
    _validate(document.doc_type, content)
    return _write_edit(
        actor=actor,
        document=document,
        case=document.case,
        content=content,
        origin=origin,
        now=now,
        action=action,
        changed=sorted(k for k in content if content.get(k) != current.get(k)),
        detail=detail,
    )


def document_read(*, actor: Actor, doc_id: str, doc_type: str | None = None) -> DocumentView:
    """Read one document for ``actor``; audited. Out of scope or absent → NotFound (and audited).

    Deliberately not one transaction: the read takes no lock, and the audit event is a single
    short insert (on SQLite a transaction here would hold the database write lock for the read).
    """
    document = document_for_read(doc_id)
    if document is None or (doc_type is not None and document.doc_type != doc_type):
        raise NotFound(doc_type or "document")
    if not can_read(actor.user, case_id=document.case_id, team_id=document.team_id):
        raise OutOfScope(
            doc_type or "document",
            object_type=document.doc_type,
            object_id=doc_id,
            case_id=document.case_id,
        )
    if document.deleted:
        raise NotFound(doc_type or "document")
    view = view_of(document, document.body)
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=document.doc_type,
        object_id=doc_id,
        case_id=document.case_id,
        detail={"rev": document.rev},
    )
    return view
