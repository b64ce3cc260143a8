"""Loaders of the sync benchmark's data: cases through the real services, documents through the records app's store."""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from tests.bench.content import case_content, iso, note_content, person_content, visit_content
from tests.bench.harness import django_setup, log

#: What ``store_documents`` calls, as the report names it.
STORE_CALL = "backend.records.store.store_revisions"
PASSWORD = "bench-sync-password-2026"
PASSPHRASE = "bench sync passphrase 2026"

#: One case's documents besides the case document itself: 8 people, then visits and notes
#: (a note every sixth slot), so 199 per case → 8 people, 160 visits, 31 notes.
PEOPLE_PER_CASE = 8
VISIT_STATUSES = ["draft", "submitted", "submitted", "returned", "signed_off"]
EDITABLE = {"draft", "submitted", "returned"}


def new_documents(docs: list[tuple[str, str, Any, dict[str, Any], Any]]) -> list[Any]:
    """``(doc_id, doc_type, case, body, actor)`` as new documents, one revision each, for
    ``store_documents``: the revision path is the store's own (``revtree.new_edit_path``)."""
    from backend.records.models import Revision
    from backend.records.store import PendingRevision
    from sync import revtree

    return [
        PendingRevision(
            doc_id=doc_id, doc_type=doc_type, case=case, body=body, deleted=False, actor=actor,
            path=revtree.new_edit_path(parent_rev=None, tree=(), body=body, deleted=False),
            origin=Revision.Origin.REST,
        )
        for doc_id, doc_type, case, body, actor in docs
    ]  # fmt: skip


def store_documents(batch: list[Any], *, now: datetime) -> None:
    """Store new documents through the records app's only writer of ``Document`` and
    ``Revision`` rows (``records.store.store_revisions``: trees, sequence numbers, rows,
    projections, per-case counters), inside the caller's transaction. The benchmark's only call
    into the store: nothing here copies it."""
    from backend.records.store import store_revisions

    stored = store_revisions(batch, documents={p.doc_id: None for p in batch}, now=now)
    if len(stored) != len(batch) or any(s.seq is None for s in stored):
        raise AssertionError("the store did not write every new document")


def _slot(
    case_id: str, k: int, lead: Any, *, supervisor: Any, now: datetime, people: dict[str, list[str]],
    visit_no: Counter[str],
) -> tuple[str, dict[str, Any], dict[str, Any]]:  # fmt: skip
    """Document ``k`` of a case: its type, the worker's content and the full content (with the
    author, times and, for a visit, a workflow that cycles through VISIT_STATUSES)."""
    from backend.demo.seed import _workflow

    rng = random.Random(f"{case_id}-{k}")
    stamp_dt = now - timedelta(days=rng.randint(1, 365), minutes=rng.randint(0, 600))
    stamp = iso(stamp_dt)
    workflow: dict[str, Any] = {}
    if k <= PEOPLE_PER_CASE:
        doc_type, content = "person", person_content(rng, k, now)
    elif (k - PEOPLE_PER_CASE - 1) % 6 == 5:
        doc_type, content = "note", note_content(rng, stamp_dt)
    else:
        doc_type = "visit"
        status = VISIT_STATUSES[visit_no[case_id] % len(VISIT_STATUSES)]
        visit_no[case_id] += 1
        who = people[case_id] or ["person:unknown", "person:unknown2"]
        content = visit_content(rng, k, stamp_dt, who[:2])
        workflow = _workflow(status, author=lead, supervisor=supervisor, at=stamp_dt)
    full = {**content, "author": lead.ref, "created_at": stamp, "updated_at": stamp, "updated_by": lead.ref,
            **workflow}  # fmt: skip
    return doc_type, content, full


def load_documents(
    cases: list[tuple[str, Any]], per_case: int, *, supervisor: Any, batch: int, validate_every: int,
    label: str,
) -> dict[str, Any]:  # fmt: skip
    """Write ``per_case - 1`` documents on each case (the case document exists already) as
    ``document_create`` would — content sealed under the case's real key and stamped with its
    schema version (``records.store.seal_body``), a ``create`` audit event each
    (``audit_record_many``), stored by ``store_documents`` — but ``batch`` documents per
    transaction instead of one.
    Documents of all cases are interleaved in the sequence (case 1 doc 1, case 2 doc 1, …), as
    many workers writing at once would leave them."""
    from django.db import transaction
    from django.utils import timezone

    from backend.audit.models import AuditAction
    from backend.audit.services import Actor, audit_record_many
    from backend.cases.models import Case
    from backend.common.ids import new_id
    from backend.keys.services import current_keys_cached
    from backend.records import codec
    from backend.records.models import Revision
    from backend.records.store import seal_body
    from sync import revtree

    schemas = codec.schemas()
    case_rows = Case.objects.in_bulk([c for c, _ in cases])
    actors = {lead.pk: Actor(user=lead) for _, lead in cases}
    now = timezone.now()
    slots = [(ci, k) for k in range(1, per_case) for ci in range(len(cases))]
    people: dict[str, list[str]] = defaultdict(list)
    visit_no: Counter[str] = Counter()
    sizes: dict[str, list[int]] = defaultdict(list)
    samples: dict[str, dict[str, Any]] = {}
    editable: dict[str, list[str]] = defaultdict(list)  # case id -> editable visit ids
    validated = 0
    started = time.perf_counter()
    for start in range(0, len(slots), batch):
        chunk = slots[start : start + batch]
        docs: list[tuple[str, str, Any, dict[str, Any], Any]] = []
        # The case's current key is looked up once per batch (the keys app's own cache, as a
        # replication batch uses it), not once per document.
        with transaction.atomic(), current_keys_cached():
            for ci, k in chunk:
                case_id, lead = cases[ci]
                doc_type, content, full = _slot(
                    case_id, k, lead, supervisor=supervisor, now=now, people=people, visit_no=visit_no
                )
                doc_id = new_id(doc_type)
                if doc_type == "person":
                    people[case_id].append(doc_id)
                if validate_every and (start + len(docs)) % validate_every == 0:
                    schemas[doc_type].validate(full)  # what document_create does for each
                    validated += 1
                body = seal_body(doc_id=doc_id, doc_type=doc_type, case_id=case_id, content=full)
                sizes[doc_type].append(len(body["enc"]["ct"]))
                docs.append((doc_id, doc_type, case_rows[case_id], body, actors[lead.pk]))
                status = body["meta"].get("status")
                if doc_type == "visit" and status in EDITABLE:
                    editable[case_id].append(doc_id)
                if doc_type == "visit" and len(samples) < 12 and k % 17 == 0:
                    samples[doc_id] = {"case_id": case_id, "observations": content["observations"],
                                       "risk_level": content["risk_level"], "status": status}  # fmt: skip
            batch_docs = new_documents(docs)
            # Audit first, as document_create does: the store takes the global sequence lock,
            # held until commit.
            by_actor: dict[int, list[tuple[str, str, str, dict[str, Any]]]] = defaultdict(list)
            for pending in batch_docs:
                rev = revtree.leaf_rev(pending.path)
                by_actor[pending.actor.user.pk].append(
                    (
                        pending.doc_type,
                        pending.doc_id,
                        pending.case.pk,
                        {"rev": rev, "via": Revision.Origin.REST},
                    )
                )
            for pk, items in by_actor.items():
                audit_record_many(actor=actors[pk], action=AuditAction.CREATE, items=items)
            store_documents(batch_docs, now=now)
        done = start + len(chunk)
        if done % (batch * 20) == 0 or done == len(slots):
            rate = done / (time.perf_counter() - started)
            log(f"    {label}: {done:,}/{len(slots):,} documents ({rate:,.0f}/s)")
    return {
        "documents": len(slots),
        "seconds": time.perf_counter() - started,
        "ct_sizes": {t: sum(v) / len(v) for t, v in sizes.items() if v},
        "type_counts": {t: len(v) for t, v in sizes.items()},
        "validated": validated,
        "samples": samples,
        "editable": editable,
    }


def make_cases(
    *, supervisor: Any, team: Any, leads: list[Any], count: int, start: int, coworker: Any = None
) -> list[tuple[str, Any]]:
    """``count`` cases opened and allocated through the real services (case_create,
    allocation_add); ``leads[i % len(leads)]`` leads case i. Returns (case id, lead user)."""
    from backend.audit.services import Actor
    from backend.cases.services import allocation_add, case_create

    actor = Actor(user=supervisor)
    out = []
    for i in range(count):
        index = start + i
        rng = random.Random(f"case-{index}")
        view = case_create(actor=actor, team=team, content=case_content(rng, index))
        lead = leads[i % len(leads)]
        allocation_add(actor=actor, case_id=view.id, user=lead, role="lead")
        if coworker is not None:
            allocation_add(actor=actor, case_id=view.id, user=coworker, role="co_worker")
        out.append((view.id, lead))
    return out


def case_mix(per_case: int) -> dict[str, int]:
    """How many people, visits and notes each case gets besides its case document."""
    rest = max(0, per_case - 1 - PEOPLE_PER_CASE)
    notes = sum(1 for x in range(rest) if x % 6 == 5)
    return {"person": min(PEOPLE_PER_CASE, per_case - 1), "visit": rest - notes, "note": notes}


def child_setup(p: dict[str, Any]) -> dict[str, Any]:
    """The bench council (one team, its supervisor, the bench practitioner, a co-worker on the
    bench cases, other practitioners), the bench caseload and the first batch of others."""
    django_setup()
    from backend.accounts.models import Role, Team, User
    from backend.accounts.services import team_manager_add

    def user(username: str, role: str) -> User:
        return User.objects.create_user(
            username=username, password=PASSWORD, role=role, first_name=username.split(".")[-1].title(),
            last_name="Bench",
        )  # fmt: skip

    started = time.perf_counter()
    supervisor = user("bench.supervisor", Role.SUPERVISOR)
    worker = user("bench.worker", Role.PRACTITIONER)
    coworker = user("bench.coworker", Role.PRACTITIONER)
    others = [user(f"bench.other{i:02d}", Role.PRACTITIONER) for i in range(p["other_practitioners"])]
    team = Team.objects.create(name="Bench team", service=Team.Service.CHILD_IN_NEED)
    team.members.add(worker, coworker, *others)
    team_manager_add(team=team, user=supervisor)
    log(f"  opening {p['own_cases']} + {p['other_cases']} cases through case_create / allocation_add")
    own = make_cases(
        supervisor=supervisor, team=team, leads=[worker], count=p["own_cases"], start=0, coworker=coworker
    )
    other = make_cases(
        supervisor=supervisor, team=team, leads=others, count=p["other_cases"], start=p["own_cases"]
    )
    cases_s = time.perf_counter() - started
    # Own and other documents interleaved in the sequence.
    mixed = [c for pair in zip(own, other, strict=False) for c in pair]
    mixed += own[len(other) :] + other[len(own) :]
    loaded = load_documents(
        mixed, p["per_case"], supervisor=supervisor, batch=p["batch"], validate_every=p["validate_every"],
        label="bulk load",
    )  # fmt: skip
    own_ids = {c for c, _ in own}
    return {
        "worker": {"username": worker.username, "id": worker.pk},
        "coworker": {"username": coworker.username, "id": coworker.pk},
        "own_cases": sorted(own_ids),
        "cases_seconds": cases_s,
        "load": {**loaded, "editable": None},
        "editable": [v for c in sorted(own_ids) for v in loaded["editable"].get(c, [])],
        "samples": {k: v for k, v in loaded["samples"].items() if v["case_id"] in own_ids},
        "counts": counts(),
    }


def child_grow(p: dict[str, Any]) -> dict[str, Any]:
    """More of other practitioners' cases and documents (the bench caseload does not change)."""
    django_setup()
    from backend.accounts.models import Role, Team, User

    started = time.perf_counter()
    supervisor = User.objects.get(username="bench.supervisor")
    team = Team.objects.get(name="Bench team")
    others = list(
        User.objects.filter(role=Role.PRACTITIONER, username__startswith="bench.other").order_by("pk")
    )
    start = int(p["start"])
    log(f"  opening {p['cases']} more cases of other practitioners")
    cases = make_cases(supervisor=supervisor, team=team, leads=others, count=p["cases"], start=start)
    cases_s = time.perf_counter() - started
    loaded = load_documents(
        cases, p["per_case"], supervisor=supervisor, batch=p["batch"], validate_every=p["validate_every"],
        label="bulk load (growth)",
    )  # fmt: skip
    return {
        "cases_seconds": cases_s,
        "load": {**loaded, "editable": None, "samples": None},
        "counts": counts(),
    }


def counts() -> dict[str, int]:
    from backend.audit.models import AuditEvent
    from backend.cases.models import Allocation, Case
    from backend.keys.models import KeyEnvelope
    from backend.records.models import Document, Revision, VisitRecord

    return {
        "documents": Document.objects.count(),
        "revisions": Revision.objects.count(),
        "visit_records": VisitRecord.objects.count(),
        "cases": Case.objects.count(),
        "allocations": Allocation.objects.count(),
        "audit_events": AuditEvent.objects.count(),
        "key_envelopes": KeyEnvelope.objects.count(),
    }
