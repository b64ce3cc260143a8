"""Reading documents of the caller's virtual database (doc GET, ``_bulk_get``, ``_all_docs``,
``_revs_diff``), including the synthetic purge documents. Everything is scoped to the
caller's subset: a document outside it is indistinguishable from one that does not exist."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from backend.audit.models import AuditAction
from backend.audit.services import audit_record_many
from backend.keys.envelopes import envelope_revisions, envelope_wire
from backend.keys.models import KeyEnvelope
from backend.records.models import Document, Revision
from backend.records.selectors import DocumentRow, document_rows, revision_rows_by_pair, revisions_by_pair
from sync import InvalidRevision, LocalSyncError, revtree

from .auth import SyncCaller
from .errors import CouchError, bad_request, not_found
from .subset import LostCase
from .wire import purge_doc, wire_doc


class PullAudit:
    """Counts documents served per case and writes one ``sync_pull`` event per case."""

    def __init__(self) -> None:
        self.by_case: Counter[str] = Counter()

    def add(self, case_id: str) -> None:
        self.by_case[case_id] += 1

    def flush(self, caller: SyncCaller) -> None:
        if self.by_case:
            audit_record_many(
                actor=caller.actor,
                action=AuditAction.SYNC_PULL,
                items=[
                    ("case", case_id, case_id, {"docs": n}) for case_id, n in sorted(self.by_case.items())
                ],
            )
            self.by_case.clear()


def visible_documents(access: dict[str, int], doc_ids: Iterable[str]) -> dict[str, Document]:
    ids = list(set(doc_ids))
    if not ids or not access:
        return {}
    docs = Document.objects.filter(pk__in=ids).only(
        "id", "case_id", "doc_type", "rev", "deleted", "tree", "schema_version"
    )
    return {d.id: d for d in docs if d.case_id in access}


def visible_rows(access: dict[str, int], doc_ids: Iterable[str]) -> dict[str, DocumentRow]:
    """``visible_documents`` as plain rows, for the pull's hot paths."""
    if not access:
        return {}
    return {i: d for i, d in document_rows(doc_ids).items() if d.case_id in access}


def device_envelopes(caller: SyncCaller, doc_ids: Iterable[Any] | None = None) -> dict[str, Any]:
    """The caller's device's key envelopes by document id (none for user tokens); with
    ``doc_ids``, only those among them (``keyenv:<case>#<version>``), so a batch that asks for
    no envelope costs no query."""
    if caller.device is None or not caller.receives:
        return {}
    rows = KeyEnvelope.objects.filter(device=caller.device)
    if doc_ids is not None:
        cases = {
            d[len("keyenv:") :].rpartition("#")[0]
            for d in doc_ids
            if isinstance(d, str) and d.startswith("keyenv:")
        }
        if not cases:
            return {}
        rows = rows.filter(case_id__in=cases)
    return {f"keyenv:{e.case_key.kid}": e for e in rows.select_related("case_key")}


def purge_docs_by_id(lost: list[LostCase]) -> dict[str, LostCase]:
    return {f"purge:{item.case_id}": item for item in lost}


def check_rev(rev: Any) -> str:
    if not isinstance(rev, str):
        raise bad_request("invalid rev")
    try:
        revtree.parse_rev(rev)
    except InvalidRevision:
        raise bad_request("invalid rev format: expected <N>-<hash>") from None
    return rev


def open_doc(
    document: Document,
    *,
    rev: str | None,
    revs: bool,
    revs_info: bool = False,
    conflicts: bool = False,
    deleted_conflicts: bool = False,
    latest: bool = False,
    audit: PullAudit,
) -> dict[str, Any]:
    """One revision of a visible document (the winner if ``rev`` is None)."""
    tree = revtree.from_json(document.tree)
    if rev is None:
        target = document.rev
        if document.deleted:
            raise not_found("deleted")
    else:
        target = rev
        if latest:
            leaves = revtree.latest(tree, rev)
            if leaves:
                target = max(leaves, key=lambda r: revtree.parse_rev(r))
    revision = Revision.objects.filter(document=document, rev=target).first()
    if revision is None:
        raise not_found("missing")
    audit.add(document.case_id)
    return wire_doc(
        document,
        revision,
        tree=tree,
        revs=revs,
        revs_info=revs_info,
        conflicts=conflicts,
        deleted_conflicts=deleted_conflicts,
    )


def open_revs(
    document: Document | None, wanted: list[str] | str, *, revs: bool, latest: bool, audit: PullAudit
) -> list[dict[str, Any]]:
    """``open_revs``: ``all`` leaves, or the listed revs (``latest`` follows them to leaves)."""
    if document is None:
        if wanted == "all":
            return []
        return [{"missing": rev} for rev in wanted]
    tree = revtree.from_json(document.tree)
    if wanted == "all":
        targets = [leaf.rev for leaf in revtree.leaves(tree)]
    else:
        targets = []
        for rev in wanted:
            check_rev(rev)
            found = revtree.latest(tree, rev) if latest else ([rev] if revtree.contains(tree, rev) else [])
            targets.extend(found or [f"!{rev}"])
    available = {
        r.rev: r
        for r in Revision.objects.filter(
            document=document, rev__in=[t for t in targets if not t.startswith("!")]
        )
    }
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    for target in targets:
        if target in seen:
            continue
        seen.add(target)
        revision = available.get(target)
        if revision is None:
            results.append({"missing": target.lstrip("!")})
            continue
        audit.add(document.case_id)
        results.append({"ok": wire_doc(document, revision, tree=tree, revs=revs)})
    return results


def bulk_get(
    requests: list[Any],
    *,
    access: dict[str, int],
    lost: list[LostCase],
    envelopes: dict[str, Any],
    revs: bool,
    latest: bool,
    audit: PullAudit,
) -> list[dict[str, Any]]:
    """``_bulk_get``: one result per requested doc, errors inline, nothing outside the subset."""
    ids = [r.get("id") for r in requests if isinstance(r, dict) and isinstance(r.get("id"), str)]
    documents = visible_rows(access, ids)
    purges = purge_docs_by_id(lost)
    # Fetch every wanted body in one query.
    wanted: list[tuple[str, str]] = []
    for item in requests:
        if isinstance(item, dict) and item.get("id") in documents:
            document = documents[item["id"]]
            rev = item.get("rev") if isinstance(item.get("rev"), str) else document.rev
            wanted.append((document.id, rev))
    stored = revision_rows_by_pair(wanted)
    results = []
    for item in requests:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            results.append(
                {
                    "id": None,
                    "docs": [
                        {
                            "error": {
                                "id": None,
                                "rev": None,
                                "error": "bad_request",
                                "reason": "each entry needs an id",
                            }
                        }
                    ],
                }
            )
            continue
        doc_id = item["id"]
        rev = item.get("rev")
        if rev is not None and not isinstance(rev, str):
            results.append(
                {
                    "id": doc_id,
                    "docs": [
                        {
                            "error": {
                                "id": doc_id,
                                "rev": None,
                                "error": "bad_request",
                                "reason": "invalid rev",
                            }
                        }
                    ],
                }
            )
            continue
        if doc_id in purges:
            doc = purge_doc(purges[doc_id].case_id, purges[doc_id].ended_seq, revs=revs)
            if rev is None or rev == doc["_rev"]:
                results.append({"id": doc_id, "docs": [{"ok": doc}]})
                continue
        if doc_id in envelopes:
            doc = envelope_wire(envelopes[doc_id], revs=revs)
            if rev is None or rev == doc["_rev"]:
                results.append({"id": doc_id, "docs": [{"ok": doc}]})
            else:
                results.append(
                    {
                        "id": doc_id,
                        "docs": [
                            {"error": {"id": doc_id, "rev": rev, "error": "not_found", "reason": "missing"}}
                        ],
                    }
                )
            continue
        document = documents.get(doc_id)
        if document is None:
            results.append(
                {
                    "id": doc_id,
                    "docs": [
                        {
                            "error": {
                                "id": doc_id,
                                "rev": rev or "undefined",
                                "error": "not_found",
                                "reason": "missing",
                            }
                        }
                    ],
                }
            )
            continue
        target = rev or document.rev
        if latest and rev is not None:
            leaves = revtree.stored_latest(document.tree, rev)
            if leaves:
                target = max(leaves, key=lambda r: revtree.parse_rev(r))
        revision = stored.get((doc_id, target)) or revision_rows_by_pair([(doc_id, target)]).get(
            (doc_id, target)
        )
        if revision is None:
            results.append(
                {
                    "id": doc_id,
                    "docs": [
                        {"error": {"id": doc_id, "rev": target, "error": "not_found", "reason": "missing"}}
                    ],
                }
            )
            continue
        audit.add(document.case_id)
        results.append({"id": doc_id, "docs": [{"ok": wire_doc(document, revision, revs=revs)}]})
    return results


def revs_diff(
    request: Any, *, access: dict[str, int], lost: list[LostCase], envelopes: dict[str, Any]
) -> dict[str, Any]:
    """``_revs_diff``: which of the given revs we lack (all of them, outside the subset)."""
    if not isinstance(request, dict):
        raise bad_request("request body must be a JSON object of id: [revs]")
    for revs in request.values():
        if not isinstance(revs, list) or not all(isinstance(r, str) for r in revs):
            raise bad_request("each value must be a list of revs")
        for rev in revs:
            check_rev(rev)
    documents = visible_documents(access, request.keys())
    purges = purge_docs_by_id(lost)
    answer: dict[str, Any] = {}
    for doc_id, revs in request.items():
        if doc_id in purges or doc_id in envelopes:
            if doc_id in purges:
                known = {purge_doc(purges[doc_id].case_id, purges[doc_id].ended_seq)["_rev"]}
            else:
                envelope = envelopes[doc_id]
                history = envelope_revisions(envelope.device_id, envelope.case_key.kid, envelope.generation)
                known = {f"{history['start'] - i}-{h}" for i, h in enumerate(history["ids"])}
            missing = [r for r in revs if r not in known]
            if missing:
                answer[doc_id] = {"missing": missing}
            continue
        document = documents.get(doc_id)
        if document is None:
            answer[doc_id] = {"missing": list(dict.fromkeys(revs))}
            continue
        try:
            missing, ancestors = revtree.missing_revs(revtree.from_json(document.tree), revs)
        except (InvalidRevision, LocalSyncError) as exc:
            raise CouchError("bad_request", str(exc)) from None
        if missing:
            entry: dict[str, Any] = {"missing": missing}
            if ancestors:
                entry["possible_ancestors"] = ancestors
            answer[doc_id] = entry
    return answer


def all_docs(
    caller: SyncCaller,
    access: dict[str, int],
    *,
    keys: list[str] | None,
    include_docs: bool,
    limit: int | None,
    skip: int,
    descending: bool,
    start: str | None,
    end: str | None,
    inclusive_end: bool,
    key: Any,
) -> dict[str, Any]:
    """``_all_docs`` over the caller's subset: the documents of ``keys`` (in that order, those
    not visible as ``not_found``) or a range of live documents by id; with ``include_docs``
    each winning revision in wire form, audited as a pull. Run inside one transaction."""
    audit = PullAudit()
    qs = Document.objects.filter(case_id__in=list(access))
    total = qs.filter(deleted=False).count()
    rows: list[dict[str, Any]] = []
    if keys is not None:
        docs = visible_documents(access, keys)
        selected = keys[skip:]
        if limit is not None:
            selected = selected[:limit]
        for wanted in selected:
            document = docs.get(wanted)
            if document is None:
                rows.append({"key": wanted, "error": "not_found"})
                continue
            value: dict[str, Any] = {"rev": document.rev}
            if document.deleted:
                value["deleted"] = True
            rows.append(
                {
                    "id": wanted,
                    "key": wanted,
                    "value": value,
                    **({"doc": None} if include_docs and document.deleted else {}),
                }
            )
        live = [docs[r["id"]] for r in rows if "id" in r and not docs[r["id"]].deleted]
    else:
        qs = qs.filter(deleted=False)
        if descending:
            if start is not None:
                qs = qs.filter(id__lte=start)
            if end is not None:
                qs = qs.filter(id__gte=end) if inclusive_end else qs.filter(id__gt=end)
            qs = qs.order_by("-id")
        else:
            if start is not None:
                qs = qs.filter(id__gte=start)
            if end is not None:
                qs = qs.filter(id__lte=end) if inclusive_end else qs.filter(id__lt=end)
            qs = qs.order_by("id")
        if key is not None:
            qs = qs.filter(id=key if isinstance(key, str) else "")
        qs = qs[skip : skip + limit] if limit is not None else qs[skip:]
        live = list(qs.only("id", "rev", "deleted", "case_id", "doc_type", "schema_version", "tree"))
        rows = [{"id": d.id, "key": d.id, "value": {"rev": d.rev}} for d in live]
    if include_docs and live:
        stored = revisions_by_pair((d.id, d.rev) for d in live)
        by_id = {d.id: d for d in live}
        for row in rows:
            document = by_id.get(row.get("id", ""))
            if document is not None and (document.id, document.rev) in stored:
                audit.add(document.case_id)
                row["doc"] = wire_doc(document, stored[(document.id, document.rev)])
    audit.flush(caller)
    return {"total_rows": total, "offset": skip, "rows": rows}
