"""A person's records for a subject access request (information governance, admins only).

Everything Doorstep holds about one person on their case, decrypted: the person record, the
case (family, address), every visit that lists them as present or as a child seen, every note
about them (its subject names them) or about one of those visits, and the addenda to those
visits. Each record says why it is included. The export is audited (who, whom, how many
records — never content).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from backend.accounts.models import Role
from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.common.errors import Forbidden, NotFound

from .models import Document
from .services import DocumentView, view_of


def _mentions(view: DocumentView, person_id: str, full_name: str, visits: set[str]) -> list[str]:
    """Why ``view`` is about the person (empty if it is not)."""
    content = view.content
    reasons = []
    if view.doc_type == "visit":
        if any(p.get("id") == person_id for p in content.get("people_present") or []):
            reasons.append("listed as present at the visit")
        if any(c.get("person_id") == person_id for c in content.get("children_seen") or []):
            reasons.append("listed among the children seen")
    elif view.doc_type == "note":
        subject = (content.get("subject") or "").strip()
        if subject and subject in {person_id, full_name}:
            reasons.append("the note's subject")
        if content.get("visit_id") in visits:
            reasons.append("about a visit they were part of")
    elif view.doc_type == "addendum" and content.get("visit_id") in visits:
        reasons.append("corrects a visit they were part of")
    return reasons


def person_export(*, actor: Actor, person_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The export of ``person_id``; Forbidden unless the actor is an admin, NotFound if there is
    no such (live) person."""
    if actor.user.role != Role.ADMIN:
        raise Forbidden("only an admin (information governance) can export a person's records")
    person_doc = Document.objects.filter(pk=person_id, doc_type="person", deleted=False).first()
    if person_doc is None:
        raise NotFound("person")
    person = view_of(person_doc)
    full_name = str(person.content.get("full_name") or "").strip()
    case = view_of(Document.objects.get(pk=person_doc.case_id))
    views = [
        view_of(document)
        for document in Document.objects.filter(
            case_id=person_doc.case_id, doc_type__in=["visit", "note", "addendum"], deleted=False
        ).order_by("created_at", "id")
    ]
    visits = {v.id for v in views if v.doc_type == "visit" and _mentions(v, person_id, full_name, set())}
    records = []
    for view in views:
        reasons = _mentions(view, person_id, full_name, visits)
        if reasons:
            records.append((view, reasons))
    audit_record(
        actor=actor,
        action=AuditAction.EXPORT,
        object_type="person",
        object_id=person_id,
        case_id=person_doc.case_id,
        detail={"records": len(records) + 2},
    )
    return {
        "exported_at": now or timezone.now(),
        "exported_by": actor.user.username,
        "person": person,
        "case": case,
        "records": records,
    }
