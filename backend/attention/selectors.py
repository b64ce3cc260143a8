"""A worker's "For your attention" items, derived at read time from what is already recorded:
audit events (returns, late edits, acknowledgements), decided conflict items, addenda and the
allocation history. Only dismissals are stored (``Dismissal``).

Each item has a stable key, so a dismissal sticks: ``returned:<audit event>``,
``decision:<conflict item>``, ``addendum:<document>:<status>`` (an acknowledgement is news
again), ``late_edit:<audit event>``, ``case_removed:<allocation>`` or
``case_removed:m<management end>``. Titles name people and dates; never ids or ISO times.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.accounts.models import ManagementEnd, Role, User
from backend.accounts.names import day, person, person_name, users_by_ref
from backend.audit.models import AuditAction, AuditEvent
from backend.cases.models import Allocation, Case
from backend.records.codec import open_body, schema_for
from backend.records.models import Document, Revision, VisitRecord
from backend.records.permissions import can_read_case
from backend.review.models import ConflictItem
from backend.review.services import conflict_reason, conflict_values
from sync import SyncError, apply_decision

from .models import Dismissal


@dataclass(frozen=True)
class Item:
    id: str
    kind: str
    at: datetime
    case: Case
    record_id: str | None
    record_type: str | None
    title: str
    comment: str | None = None
    by: User | None = None
    status: str | None = None


def _record_label(document: Document, visit: VisitRecord | None) -> str:
    """``visit of 3 December`` / ``note of 2 December``."""
    when = visit.visit_date if visit is not None and visit.visit_date else document.created_at
    return f"{document.doc_type} of {day(when)}"


def _field_label(field: str) -> str:
    if field == "(document)":
        return "the whole record"
    top = field.split(".")[0].split("[")[0]
    label = top.replace("_", " ").capitalize()
    return label if top == field else f"{label} (one part)"


def _returned(user: User) -> list[Item]:
    visits = {
        v.document_id: v for v in VisitRecord.objects.filter(author=user).select_related("document", "case")
    }
    if not visits:
        return []
    events = AuditEvent.objects.filter(action=AuditAction.RETURN, object_id__in=list(visits)).select_related(
        "actor"
    )
    by_visit: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in events.order_by("id"):
        by_visit[event.object_id].append(event)
    items = []
    for visit_id, returns in by_visit.items():
        visit = visits[visit_id]
        comments: list[str | None] = []
        if can_read_case(user, visit.case) and not visit.document.deleted:
            body = Revision.objects.values_list("body", flat=True).get(
                document_id=visit_id, rev=visit.document.rev
            )
            content = open_body(doc_id=visit_id, doc_type="visit", case_id=visit.case_id, body=body)
            comments = [
                t.get("comment") for t in content.get("transitions", []) if t.get("action") == "return"
            ]
        for index, event in enumerate(returns):
            who = event.actor
            role = f" ({who.get_role_display().lower()})" if who is not None else ""
            items.append(
                Item(
                    id=f"returned:{event.pk}",
                    kind="returned",
                    at=event.at,
                    case=visit.case,
                    record_id=visit_id,
                    record_type="visit",
                    title=f"{person_name(who) if who else 'A supervisor'}{role} returned your "
                    f"{_record_label(visit.document, visit)}",
                    comment=comments[index] if index < len(comments) else None,
                    by=who,
                    status=visit.status,
                )
            )
    return items


def _whose(candidate: dict[str, Any], refs: dict[str, User], me: User) -> str:
    author = candidate.get("author")
    if author == me.ref:
        return "your version"
    return f"{person_name(refs[author])}'s version" if author in refs else "a colleague's version"


def _kept(item: ConflictItem, refs: dict[str, User], me: User) -> str:
    """What the decision kept: whose version, or a value of the supervisor's own (derived
    from the values for decisions recorded before ``ConflictItem.decision`` existed)."""
    field = _field_label(item.field)
    if item.decision == "both":
        return f"kept both versions of {field}"
    if item.decision == "own":
        return f"wrote {'a reconciled text' if item.rule == 'text' else 'a value of their own'} for {field}"
    choice = item.decision_choice
    if item.decision == "version" and choice is not None and choice < len(item.candidates):
        return f"kept {_whose(item.candidates[choice], refs, me)} of {field}"
    try:
        values = conflict_values(item)["values"]
        body = Revision.objects.values_list("body", flat=True).get(
            document_id=item.document_id, rev=item.decision_rev
        )
        decided = open_body(
            doc_id=item.document_id, doc_type=item.document.doc_type, case_id=item.case_id, body=body
        )
        schema = schema_for(item.document.doc_type)
        for candidate, value in zip(item.candidates, values, strict=False):
            if item.field != "(document)" and apply_decision(schema, decided, item.field, value) == decided:
                return f"kept {_whose(candidate, refs, me)} of {field}"
    except (SyncError, Revision.DoesNotExist, KeyError, ValueError):
        pass
    return f"wrote a value of their own for {field}"


def _decisions(user: User, my_cases: set[str], my_docs: set[str]) -> list[Item]:
    decided = (
        ConflictItem.objects.filter(case_id__in=my_cases, decided_at__isnull=False)
        .select_related("document", "case", "decided_by")
        .order_by("decided_at")
    )
    mine = [
        item
        for item in decided
        if item.document_id in my_docs or any(c.get("author") == user.ref for c in item.candidates)
    ]
    refs = users_by_ref(c.get("author") for item in mine for c in item.candidates)
    visits = {
        v.document_id: v for v in VisitRecord.objects.filter(document_id__in=[i.document_id for i in mine])
    }
    items = []
    for item in mine:
        who = item.decided_by
        what = _kept(item, refs, user)
        label = _record_label(item.document, visits.get(item.document_id))
        items.append(
            Item(
                id=f"decision:{item.pk}",
                kind="decision",
                at=item.decided_at or item.created_at,
                case=item.case,
                record_id=item.document_id,
                record_type=item.document.doc_type,
                title=f"{person_name(who) if who else 'A supervisor'} decided the conflict in your {label}: {what}",
                comment=conflict_reason(item) if can_read_case(user, item.case) else None,
                by=who,
                status="decided",
            )
        )
    return items


def _addenda(user: User, my_cases: set[str]) -> list[Item]:
    addenda = list(
        Document.objects.filter(
            case_id__in=my_cases, doc_type="addendum", deleted=False, meta__author=user.ref
        ).select_related("case")
    )
    visits = {
        v.document_id: v
        for v in VisitRecord.objects.filter(
            document_id__in=[a.meta.get("visit_id") for a in addenda]
        ).select_related("document")
    }
    acks = {
        e.object_id: e
        for e in AuditEvent.objects.filter(
            action=AuditAction.UPDATE, object_id__in=[a.id for a in addenda], detail__acknowledged=True
        ).select_related("actor")
    }
    items = []
    for addendum in addenda:
        visit = visits.get(addendum.meta.get("visit_id"))
        of = f"the {_record_label(visit.document, visit)}" if visit else "a visit"
        acknowledged = addendum.meta.get("status") == "acknowledged"
        ack = acks.get(addendum.id) if acknowledged else None
        who = ack.actor if ack is not None else None
        if acknowledged:
            title = f"{person_name(who) if who else 'The supervisor'} acknowledged your addendum to {of}"
        else:
            title = f"Your edit to {of} arrived after it was signed off: it was kept as an addendum, awaiting the supervisor"
        items.append(
            Item(
                id=f"addendum:{addendum.id}:{'acknowledged' if acknowledged else 'open'}",
                kind="addendum",
                at=ack.at if ack is not None else addendum.created_at,
                case=addendum.case,
                record_id=addendum.id,
                record_type="addendum",
                title=title,
                by=who,
                status="acknowledged" if acknowledged else "awaiting supervisor",
            )
        )
    return items


def _late_edits(user: User) -> list[Item]:
    events = list(AuditEvent.objects.filter(action=AuditAction.LATE_EDIT, actor=user).order_by("id"))
    documents = {
        d.id: d for d in Document.objects.filter(pk__in=[e.object_id for e in events]).select_related("case")
    }
    visits = {v.document_id: v for v in VisitRecord.objects.filter(document_id__in=list(documents))}
    items = []
    for event in events:
        document = documents.get(event.object_id)
        if document is None:
            continue
        label = _record_label(document, visits.get(document.id))
        items.append(
            Item(
                id=f"late_edit:{event.pk}",
                kind="late_edit",
                at=event.at,
                case=document.case,
                record_id=document.id,
                record_type=document.doc_type,
                title=f"Your edit to the {label} on case {document.case.case_number} reached the server after "
                "your allocation ended: it was kept and shown to the supervisor",
                status="kept",
            )
        )
    return items


def _cases_removed(user: User) -> list[Item]:
    items = []
    if user.role == Role.PRACTITIONER:
        live = set(
            Allocation.objects.filter(user=user, ended_at__isnull=True).values_list("case_id", flat=True)
        )
        ended = Allocation.objects.filter(user=user, ended_at__isnull=False).select_related(
            "case", "ended_by"
        )
        for allocation in ended:
            if allocation.case_id in live:
                continue
            why = "the case was closed" if allocation.case.status == "closed" else "allocation ended"
            items.append(
                Item(
                    id=f"case_removed:{allocation.pk}",
                    kind="case_removed",
                    at=allocation.ended_at or allocation.started_at,
                    case=allocation.case,
                    record_id=None,
                    record_type=None,
                    title=f"Case {allocation.case.case_number} was removed from this tablet on "
                    f"{day(allocation.ended_at)}: {why}",
                    by=allocation.ended_by,
                    status=None,
                )
            )
    elif user.role == Role.SUPERVISOR:
        managed = set(user.managed_teams.values_list("pk", flat=True))
        for end in ManagementEnd.objects.filter(user=user).select_related("team"):
            if end.team_id in managed:
                continue
            for case in Case.objects.filter(team_id=end.team_id):
                items.append(
                    Item(
                        id=f"case_removed:m{end.pk}:{case.pk}",
                        kind="case_removed",
                        at=end.ended_at,
                        case=case,
                        record_id=None,
                        record_type=None,
                        title=f"Case {case.case_number} was removed from this tablet on {day(end.ended_at)}: "
                        f"you no longer manage {end.team.name}",
                    )
                )
    return items


def _cases_ever(user: User) -> set[str]:
    """Cases the user worked on: allocated to (now or before), or of teams they manage or managed."""
    cases = set(Allocation.objects.filter(user=user).values_list("case_id", flat=True))
    teams = set(user.managed_teams.values_list("pk", flat=True))
    teams |= set(ManagementEnd.objects.filter(user=user).values_list("team_id", flat=True))
    if teams:
        cases |= set(Case.objects.filter(team_id__in=teams).values_list("pk", flat=True))
    return cases


def attention_items(user: User, *, include_dismissed: bool = False) -> list[Item]:
    """The user's items, newest first, without those they dismissed."""
    my_cases = _cases_ever(user)
    my_docs = set(
        Document.objects.filter(case_id__in=my_cases, meta__author=user.ref).values_list("id", flat=True)
    )
    found = [
        *_returned(user),
        *_decisions(user, my_cases, my_docs),
        *_addenda(user, my_cases),
        *_late_edits(user),
        *_cases_removed(user),
    ]
    if not include_dismissed:
        dismissed = set(Dismissal.objects.filter(user=user).values_list("item", flat=True))
        found = [item for item in found if item.id not in dismissed]
    return sorted(found, key=lambda item: (item.at, item.id), reverse=True)


def item_json(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "at": item.at.isoformat(),
        "case_id": item.case.pk,
        "case_number": item.case.case_number,
        "record_id": item.record_id,
        "record_type": item.record_type,
        "title": item.title,
        "comment": item.comment,
        "by": person(item.by),
        "status": item.status,
    }
