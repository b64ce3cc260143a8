"""Replicated writes (``_bulk_docs``, ``PUT``/``DELETE``): checked per document, stored through
the same document store as REST writes, refused per document with a CouchDB error.

A batch is checked document by document against what one round of queries loaded (the
documents, their cases' key versions, the parent revisions the workflow rules compare with),
then everything accepted is stored with one query per kind of row (``records.store``), all in
one transaction. A document id that appears twice in a batch is handled in a second round, so
the second occurrence sees the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from backend.accounts.models import Role
from backend.audit.models import AuditAction
from backend.audit.services import audit_record_many
from backend.cases.models import Case
from backend.common.ids import doc_type_of
from backend.keys.models import CaseKey
from backend.keys.services import current_keys_cached, remember_current_keys
from backend.records.codec import open_body, refusal_reason, schema_for
from backend.records.models import Document, Revision
from backend.records.replication import ReplicatedWrite, documents_replicate
from backend.records.selectors import RevisionRow, revision_rows_by_pair
from backend.records.store import PendingRevision
from backend.records.trees import tree_of
from sync import (
    DecryptionError,
    InvalidDocument,
    InvalidRevision,
    SyncError,
    WorkflowRefused,
    kid_for,
    parse_kid,
    revtree,
    workflow,
)

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
        # Counted, never named: a key a client sent could be case data.
        raise DocRefused(
            "forbidden",
            f"unknown top-level field(s) ({len(unknown)} field name(s) not shown); a document may "
            "carry only " + ", ".join(sorted(ALLOWED_FIELDS)),
        )
    doc_type = doc_type_of(doc_id)
    if doc_type is None:
        if doc_id.startswith(("purge:", "keyenv:")):
            raise DocRefused("forbidden", "this document is managed by the server")
        raise DocRefused(
            "forbidden", "_id must look like <type>:<ULID> (case, person, visit, note, addendum)"
        )
    return doc_id, doc_type


@dataclass
class Batch:
    """What one round of queries loaded for checking a batch of replicated documents."""

    caller: SyncCaller
    access: dict[str, int]
    documents: dict[str, Document | None]
    cases: dict[str, Case]
    key_versions: dict[str, set[int]]
    parents: dict[tuple[str, str], RevisionRow] = field(default_factory=dict)

    @classmethod
    def load(
        cls, caller: SyncCaller, access: dict[str, int], docs: list[tuple[str, dict[str, Any]]]
    ) -> Batch:
        ids = [doc_id for doc_id, _ in docs]
        found = {d.id: d for d in Document.objects.select_for_update().filter(pk__in=ids)}
        # Outside the subset is the same as absent: a write never tells whether an id exists.
        documents: dict[str, Document | None] = {
            doc_id: (found[doc_id] if doc_id in found and found[doc_id].case_id in access else None)
            for doc_id in ids
        }
        case_ids = {d.case_id for d in documents.values() if d is not None}
        case_ids |= {
            doc["case_id"]
            for _, doc in docs
            if isinstance(doc.get("case_id"), str) and doc["case_id"] in access
        }
        cases = {c.id: c for c in Case.objects.filter(pk__in=case_ids)}
        key_versions: dict[str, set[int]] = {}
        latest: dict[str, tuple[int, str]] = {}
        for case_id, version, wrapped in CaseKey.objects.filter(case_id__in=case_ids).values_list(
            "case_id", "version", "wrapped"
        ):
            key_versions.setdefault(case_id, set()).add(version)
            if case_id not in latest or version > latest[case_id][0]:
                latest[case_id] = (version, wrapped)
        # Merged bodies are sealed under each case's current key: known now, no query per case.
        remember_current_keys({case_id: (kid_for(case_id, v), w) for case_id, (v, w) in latest.items()})
        batch = cls(caller=caller, access=access, documents=documents, cases=cases, key_versions=key_versions)
        batch.hidden = {doc_id for doc_id in ids if doc_id in found and documents[doc_id] is None}
        return batch

    hidden: set[str] = field(default_factory=set)
    #: ``(path, parent rev)`` of each replicated document (new_edits=false) whose ``_revisions``
    #: parsed, by id: worked out once for ``_parent_wanted`` and ``_check``.
    replicated_paths: dict[str, tuple[revtree.RevPath, str | None]] = field(default_factory=dict)

    def replicated_path(self, doc: dict[str, Any], doc_id: str) -> tuple[revtree.RevPath, str | None]:
        """The path a replicated document carries and its parent: its newest ancestor that the
        stored tree knows (None for a new document or an unrelated history). Raises what
        ``revtree.path_from_doc`` raises."""
        found = self.replicated_paths.get(doc_id)
        if found is None:
            document = self.documents.get(doc_id)
            tree = tree_of(document) if document is not None else ()
            path = revtree.path_from_doc(doc)
            parent = next((r for r in revtree.path_ancestors(path) if revtree.contains(tree, r)), None)
            found = self.replicated_paths[doc_id] = (path, parent)
        return found

    def may_write(self, case_id: str, doc_type: str) -> bool:
        """The subset already encodes allocation / team management; cases themselves are the
        supervisors' (and admins') to change."""
        if case_id not in self.access or case_id not in self.cases:
            return False
        return doc_type != "case" or self.caller.user.role in {Role.SUPERVISOR, Role.ADMIN}

    def load_parents(self, wanted: list[tuple[str, str]]) -> None:
        if not wanted:
            return
        self.parents.update(revision_rows_by_pair(wanted))

    def parent_content(self, document: Document | None, parent_rev: str | None) -> dict[str, Any] | None:
        if document is None or parent_rev is None:
            return None
        revision = self.parents.get((document.id, parent_rev))
        if revision is None or revision.deleted or not revision.body:
            return None
        try:
            return open_body(
                doc_id=document.id, doc_type=document.doc_type, case_id=document.case_id, body=revision.body
            )
        except DecryptionError:
            return None


def _content_of(
    doc: dict[str, Any], *, doc_id: str, doc_type: str, case_id: str, batch: Batch
) -> dict[str, Any]:
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
    if version not in batch.key_versions.get(case_id, set()):
        raise DocRefused("forbidden", "body is encrypted under a key version the server never issued")
    try:
        content = open_body(
            doc_id=doc_id, doc_type=doc_type, case_id=case_id, body={"meta": meta, "enc": enc}
        )
    except DecryptionError:
        raise DocRefused("forbidden", "body does not decrypt under the case key for this document") from None
    except InvalidDocument as exc:
        raise DocRefused("forbidden", refusal_reason(exc)) from None
    try:
        schema_for(doc_type).validate(content)
    except InvalidDocument as exc:
        reason = refusal_reason(exc)
        raise DocRefused(
            "forbidden", f"{exc.field}: {reason}" if exc.field and exc.field not in reason else reason
        ) from None
    return content


def _check(batch: Batch, doc: dict[str, Any], doc_id: str, doc_type: str, new_edits: bool) -> ReplicatedWrite:
    """Every check of one replicated document; raises DocRefused / WorkflowRefused / InvalidRevision."""
    caller = batch.caller
    deleted = bool(doc.get("_deleted", False))
    document = batch.documents.get(doc_id)
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
    if case_id not in batch.access:
        raise DocRefused("forbidden", "document is outside your caseload")
    if not batch.may_write(case_id, doc_type):
        raise DocRefused("forbidden", f"you may not write {doc_type} records on this case")
    if document is None and doc_type == "case":
        raise DocRefused("forbidden", "cases are opened through the API, not by replication")

    tree = tree_of(document) if document is not None else ()
    # Conflicts first, as CouchDB does: a stale edit is a 409 whatever its content.
    parent_rev: str | None
    path: revtree.RevPath | None = None
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
    else:
        if "_rev" not in doc:
            raise DocRefused("bad_request", "_rev is required when new_edits is false")
        path, parent_rev = batch.replicated_path(doc, doc_id)

    body: dict[str, Any]
    content: dict[str, Any] | None = None
    if deleted:
        body = {}
    else:
        content = _content_of(doc, doc_id=doc_id, doc_type=doc_type, case_id=case_id, batch=batch)
        if content.get("updated_by") != caller.actor.ref:
            raise DocRefused("forbidden", "meta.updated_by must be the writer")
        body = {"schema": doc["schema"], "meta": doc["meta"], "enc": doc["enc"]}
    if path is None:
        path = revtree.new_edit_path(parent_rev=parent_rev, tree=tree, body=body, deleted=deleted)

    parent_content = batch.parent_content(document, parent_rev)
    if content is not None:
        # The server-set fields are checked against what the server holds: the parent the
        # edit was made on or, for a branch that shares no stored ancestor (or whose parent's
        # body is gone), the document's current winner — never against nothing.
        reference = parent_content
        if reference is None and document is not None and not document.deleted:
            reference = batch.parent_content(document, document.rev)
        workflow.check_replicated_edit(
            writer=caller.actor.ref, doc_type=doc_type, reference=reference, new=content
        )
    if deleted and document is not None and parent_content is not None:
        workflow.check_replicated_edit(
            writer=caller.actor.ref, doc_type=doc_type, reference=parent_content, new=None
        )
    if doc_id in batch.hidden:
        # Only reachable with a valid body for one's own case under someone else's ULID.
        raise DocRefused("forbidden", "this id cannot be used")
    opened: dict[str, dict[str, Any]] = {}
    if parent_content is not None and parent_rev is not None:
        opened[parent_rev] = parent_content
    if content is not None:
        opened[revtree.leaf_rev(path)] = content
    return ReplicatedWrite(
        pending=PendingRevision(
            doc_id=doc_id,
            doc_type=doc_type,
            case=batch.cases[case_id],
            path=path,
            body=body,
            deleted=deleted,
            actor=caller.actor,
            origin=Revision.Origin.SYNC,
        ),
        parent_signed_off=(parent_content or {}).get("status") == workflow.FINAL_STATUS,
        opened=opened,
    )


def _revisions_wanted(batch: Batch, doc: dict[str, Any], doc_id: str, new_edits: bool) -> list[str]:
    """The stored revisions whose bodies the workflow rules may compare with (to load in bulk):
    the parent the edit names and the document's winner (the reference for a branch that
    shares no stored ancestor)."""
    document = batch.documents.get(doc_id)
    if document is None:
        return []
    winner = [] if document.deleted else [document.rev]
    if new_edits:
        parent = doc.get("_rev")
        return [parent if isinstance(parent, str) else document.rev, *winner]
    try:
        parent = batch.replicated_path(doc, doc_id)[1]
    except (InvalidRevision, InvalidDocument):
        return winner
    return [parent, *winner] if parent is not None else winner


def replicated_writes(
    *,
    caller: SyncCaller,
    access: dict[str, int],
    docs: list[Any],
    new_edits: bool,
    late_cases: frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> list[WriteResult]:
    """Check and store a batch of replicated documents; one result per document, in order.

    ``access`` is the caller's write subset; those of its cases in ``late_cases`` are held only
    for late edits (``subset.late_write_access``), and what is stored there is audited so.
    """
    now = now or timezone.now()
    results: list[WriteResult | None] = [None] * len(docs)
    refusals: list[tuple[str, DocRefused]] = []
    shaped: list[tuple[int, str, str, dict[str, Any]]] = []
    for index, doc in enumerate(docs):
        doc_id = doc.get("_id") if isinstance(doc, dict) and isinstance(doc.get("_id"), str) else ""
        try:
            doc_id, doc_type = _shape(doc)
            shaped.append((index, doc_id, doc_type, doc))
        except DocRefused as exc:
            refusals.append((doc_id, exc))
            results[index] = WriteResult(id=doc_id, error=exc.error, reason=exc.reason)
    # Rounds: each document id at most once per round, later occurrences see earlier ones.
    rounds: list[list[tuple[int, str, str, dict[str, Any]]]] = []
    seen_in: dict[str, int] = {}
    for item in shaped:
        number = seen_in.get(item[1], -1) + 1
        seen_in[item[1]] = number
        if number == len(rounds):
            rounds.append([])
        rounds[number].append(item)
    for round_items in rounds:
        try:
            _write_round(caller, access, late_cases, round_items, new_edits, now, results, refusals)
        except DatabaseError:
            if len(round_items) == 1:
                raise
            # Something in the batch upset the database (a race with another writer, say): the
            # round rolled back whole; redo it one document at a time so only that one fails.
            for item in round_items:
                _write_round(caller, access, late_cases, [item], new_edits, now, results, refusals)
    if refusals:
        _audit_refusals(caller, refusals)
    return [
        r if r is not None else WriteResult(id="", error="bad_request", reason="not processed")
        for r in results
    ]


def _write_round(
    caller: SyncCaller,
    access: dict[str, int],
    late_cases: frozenset[str],
    items: list[tuple[int, str, str, dict[str, Any]]],
    new_edits: bool,
    now: datetime,
    results: list[WriteResult | None],
    refusals: list[tuple[str, DocRefused]],
) -> None:
    """Check one round's documents, then store what passed with the one replicated-write
    service (``records.services.documents_replicate``), all in one transaction."""
    with transaction.atomic(), current_keys_cached():
        batch = Batch.load(caller, access, [(doc_id, doc) for _, doc_id, _, doc in items])
        batch.load_parents(
            [
                (doc_id, rev)
                for _, doc_id, _, doc in items
                for rev in _revisions_wanted(batch, doc, doc_id, new_edits)
            ]
        )
        accepted: list[tuple[int, ReplicatedWrite]] = []
        for index, doc_id, doc_type, doc in items:
            try:
                accepted.append((index, _check(batch, doc, doc_id, doc_type, new_edits)))
            except WorkflowRefused as exc:
                refused = DocRefused("forbidden", exc.reason)
                refusals.append((doc_id, refused))
                results[index] = WriteResult(id=doc_id, error=refused.error, reason=refused.reason)
            except DocRefused as exc:
                refusals.append((doc_id, exc))
                results[index] = WriteResult(id=doc_id, error=exc.error, reason=exc.reason)
            except InvalidRevision as exc:
                results[index] = WriteResult(id=doc_id, error="bad_request", reason=exc.reason)
            except InvalidDocument as exc:
                results[index] = WriteResult(id=doc_id, error="forbidden", reason=exc.reason)
        if not accepted:
            return
        stored = documents_replicate(
            actor=caller.actor,
            writes=[write for _, write in accepted],
            documents=batch.documents,
            late_cases=late_cases,
            now=now,
        )
        for (index, write), outcome in zip(accepted, stored, strict=True):
            results[index] = WriteResult(id=write.pending.doc_id, rev=outcome.rev)


def _audit_refusals(caller: SyncCaller, refusals: list[tuple[str, DocRefused]]) -> None:
    forbidden = [(doc_id, exc) for doc_id, exc in refusals if exc.error == "forbidden"]
    if forbidden:
        audit_record_many(
            actor=caller.actor,
            action=AuditAction.SYNC_REFUSED,
            items=[
                (doc_type_of(doc_id) or "", doc_id[:80], "", {"error": exc.error, "reason": exc.reason})
                for doc_id, exc in forbidden
            ],
        )
