"""Relational projections of documents, updated in the write's transaction (no signals)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.db.models import F, Max
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from backend.cases.models import Case
from backend.common import rows

from .models import Document, VisitRecord


def _dt(value: object) -> datetime | None:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is not None and parsed.tzinfo is not None:
        # RFC 3339 allows UTC offsets PostgreSQL refuses (beyond ±15:59): keep the instant, in UTC.
        return parsed.astimezone(UTC)
    return parsed


def _d(value: object) -> date | None:
    return parse_date(value) if isinstance(value, str) else None


def _user_id(ref: object) -> int | None:
    if isinstance(ref, str) and ref.startswith("u:") and ref[2:].isdigit():
        return int(ref[2:])
    return None


def count_delta(*, is_new: bool, was_deleted: bool, deleted: bool) -> tuple[int, int]:
    """(live, deleted) change of a case's document counts for one write."""
    before = (0, 0) if is_new else ((0, 1) if was_deleted else (1, 0))
    after = (0, 1) if deleted else (1, 0)
    return after[0] - before[0], after[1] - before[1]


def apply_count_deltas(deltas: dict[str, tuple[int, int]]) -> None:
    for case_id, (live, dead) in deltas.items():
        if live or dead:
            Case.objects.filter(pk=case_id).update(
                doc_count=F("doc_count") + live, deleted_doc_count=F("deleted_doc_count") + dead
            )


def project(
    document: Document,
    *,
    is_new: bool = False,
    previous_meta: dict[str, Any] | None = None,
    previous_deleted: bool = False,
) -> None:
    """Bring the projection of ``document`` in line with its winning revision's meta.

    A visit counts towards a case's statutory timescale once it is submitted (a draft may
    still be a plan) and only if its date is not in the future.
    """
    if document.doc_type == "case":
        _project_case(document)
    elif document.doc_type == "visit":
        _project_visit(
            document, is_new=is_new, previous_meta=previous_meta or {}, previous_deleted=previous_deleted
        )


def _project_case(document: Document) -> None:
    meta = document.meta
    if document.deleted:
        return
    fields = {
        "case_type": meta.get("case_type"),
        "status": meta.get("status"),
        "visit_frequency_days": meta.get("visit_frequency_days"),
        "opened_on": _d(meta.get("opened_on")),
        "closed_on": _d(meta.get("closed_on")),
        "updated_at": document.updated_at,
    }
    Case.objects.filter(pk=document.case_id).update(
        **{k: v for k, v in fields.items() if v is not None or k == "closed_on"}
    )


def counts(meta: dict[str, Any], deleted: bool) -> bool:
    """Whether a visit with this meta counts towards its case's statutory timescale."""
    return not deleted and meta.get("status") not in (None, "draft")


VISIT_FIELDS = (
    "case_id",
    "status",
    "visit_date",
    "author_id",
    "submitted_at",
    "signed_off_at",
    "deleted",
    "needs_decision",
)


def visit_fields_of(meta: dict[str, Any], deleted: bool, case_id: str) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "status": meta.get("status", "draft") if not deleted else "deleted",
        "visit_date": _dt(meta.get("visit_date")),
        "author_id": _user_id(meta.get("author")),
        "submitted_at": _dt(meta.get("submitted_at")),
        "signed_off_at": _dt(meta.get("signed_off_at")),
        "deleted": deleted,
        "needs_decision": bool(meta.get("decisions_pending")),
    }


def visit_fields(document: Document) -> dict[str, Any]:
    return visit_fields_of(document.meta, document.deleted, document.case_id)


def needs_recount(
    old_meta: dict[str, Any], old_deleted: bool, new_meta: dict[str, Any], new_deleted: bool
) -> bool:
    """Whether a visit's change can move its case's last visit date."""
    before, after = counts(old_meta, old_deleted), counts(new_meta, new_deleted)
    return before != after or (after and old_meta.get("visit_date") != new_meta.get("visit_date"))


def _project_visit(
    document: Document, *, is_new: bool, previous_meta: dict[str, Any], previous_deleted: bool
) -> None:
    fields = visit_fields(document)
    if is_new:
        VisitRecord.objects.bulk_create([VisitRecord(document=document, **fields)])
    elif fields != visit_fields_of(previous_meta, previous_deleted, document.case_id):
        VisitRecord.objects.filter(document=document).update(**fields)
    if needs_recount({} if is_new else previous_meta, previous_deleted, document.meta, document.deleted):
        recount_last_visit(document.case_id)


def recount_last_visit(case_id: str) -> None:
    latest = (
        VisitRecord.objects.filter(case_id=case_id, deleted=False, visit_date__lte=timezone.now())
        .exclude(status="draft")
        .aggregate(latest=Max("visit_date"))["latest"]
    )
    Case.objects.filter(pk=case_id).update(last_visit_on=latest.date() if latest else None)


def project_many(
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
            project(
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
        fields = visit_fields(document)
        old_meta, old_deleted = previous_meta[document.id], was_deleted.get(document.id, False)
        if is_new[document.id]:
            changed.append(VisitRecord(document=document, **fields))
        elif fields != visit_fields_of(old_meta, old_deleted, document.case_id):
            changed.append(VisitRecord(document=document, **fields))
            replace.append(document.id)
        if needs_recount(old_meta, old_deleted, document.meta, document.deleted):
            recount.add(document.case_id)
    if replace:  # a projection: replacing the rows is two queries, whatever their number
        VisitRecord.objects.filter(document_id__in=replace).delete()
    if changed:
        rows.insert_rows(VisitRecord, changed)
    for case_id in recount:
        recount_last_visit(case_id)
