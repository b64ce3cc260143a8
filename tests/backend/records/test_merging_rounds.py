"""The one resolver (``records.merging.resolve_conflicts``) gives a whole replicated write round
exactly what it gives each of its documents alone: the same round is pushed twice over HTTP
from the same database state (rolled back in between) — once one document per request, the
per-document reference cases, then in one ``_bulk_docs`` — and everything each leaves behind
is compared."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from backend.audit.models import AuditAction, AuditEvent
from backend.cases.models import Case
from backend.cases.services import allocation_add, case_create
from backend.records import merging
from backend.records.codec import open_body
from backend.records.models import Document, Revision, VisitRecord
from backend.records.services import document_create
from backend.review.models import ConflictItem
from backend.review.services import conflict_values, visit_sign_off, visit_submit
from sync import revtree
from tests.backend.syncapi.tablet import Tablet, now_iso
from tests.conftest import actor

pytestmark = pytest.mark.django_db

OBSERVATIONS = "Kitchen was clean.\n\nAmy showed me her room.\n\nMum was tired but engaged."
#: Fields stamped with the request's clock (two pushes of one round differ there, nowhere else).
CLOCK_FIELDS = frozenset({"created_at", "updated_at"})


def no_merging(*, written: Any, actor: Any, now: Any, opened: Any = None) -> None:
    """Leaves concurrent leaves as they are (to build a document with several live leaves)."""


@pytest.fixture
def cases(supervisor, practitioner, colleague, case_content) -> list[str]:
    ids = []
    for _ in range(2):
        case = case_create(actor=actor(supervisor), team=supervisor.managed_teams.get(), content=case_content)
        allocation_add(actor=actor(supervisor), case_id=case.id, user=practitioner, role="lead")
        allocation_add(actor=actor(supervisor), case_id=case.id, user=colleague, role="co_worker")
        ids.append(case.id)
    return ids


def _visit(practitioner, case_id: str, visit_content: dict[str, Any]) -> str:
    content = {**visit_content, "observations": OBSERVATIONS}
    return document_create(actor=actor(practitioner), case_id=case_id, doc_type="visit", content=content).id


def _many(actions: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    """Sixty more actions: two sides' additions together exceed the schema's maxItems 100."""
    return [*actions, *({"id": f"{tag}{i}", "text": f"step {i}"} for i in range(60))]


def _tombstone(tablet: Tablet, doc_id: str) -> dict[str, Any]:
    doc = tablet.docs[doc_id]
    pos, _ = revtree.parse_rev(doc["_rev"])
    rev_hash = revtree.new_rev_hash(parent=doc["_rev"], deleted=True, body={})
    return {
        "_id": doc_id,
        "_rev": f"{pos + 1}-{rev_hash}",
        "_deleted": True,
        "_revisions": {"start": pos + 1, "ids": [rev_hash, *doc["_revisions"]["ids"]]},
    }


@dataclass
class Scenario:
    cases: list[str]
    visits: dict[tuple[str, str], str]
    #: Device B and the round of offline edits it pushes in one ``_bulk_docs``.
    b: Tablet
    round: list[dict[str, Any]]


@pytest.fixture
def scenario(monkeypatch, practitioner, colleague, supervisor, cases, visit_content) -> Scenario:
    """Per case, one visit of each kind below, and the round device B pushes:

    - ``clean``: only B edits it;
    - ``merge``: A rewrote a paragraph, submitted it and set the visit type; B rewrites another
      paragraph and sets another type (a clean three-way merge);
    - ``review``: A and B set different risk levels (an undecided field, a review item);
    - ``again``: A and C already conflicted on the risk level (merged, item open); B's edit of
      the original meets the merged document (B's candidate joins the open item);
    - ``three``: A's and C's edits were left unmerged; B's makes a third live leaf;
    - ``signed``: signed off on the server after B pulled (B's edit becomes an addendum);
    - ``invalid``: A and B each add 60 actions (the merge would break maxItems);
    - ``deleted``: A deleted it (a draft), B edits it (the edit survives, the loss is audited).
    """
    kinds = ("clean", "merge", "review", "again", "three", "signed", "invalid", "deleted")
    visits = {
        (case_id, kind): _visit(practitioner, case_id, visit_content) for case_id in cases for kind in kinds
    }
    a, b, c = Tablet(practitioner, "a"), Tablet(colleague, "b"), Tablet(supervisor, "c")
    for tablet in (a, b, c):
        tablet.pull()
    setup: list[dict[str, Any]] = []
    unmerged: list[dict[str, Any]] = []
    round_: list[dict[str, Any]] = []
    for case_id in cases:
        v = {kind: visits[(case_id, kind)] for kind in kinds}
        base_actions = a.read(v["invalid"])["actions"]
        setup += [
            a.edit(
                v["merge"],
                {
                    "observations": OBSERVATIONS.replace(
                        "Kitchen was clean.", "Kitchen was clean and stocked."
                    ),
                    "visit_type": "planned",
                    "status": "submitted",
                    "submitted_at": now_iso(),
                    "transitions": [
                        {"id": f"t-{v['merge']}", "action": "submit", "by": practitioner.ref, "at": now_iso()}
                    ],
                },
            ),
            a.edit(v["review"], {"risk_level": "high", "analysis": "Worried about the stairs."}),
            a.edit(v["again"], {"risk_level": "high"}),
            c.edit(v["again"], {"risk_level": "low"}),
            a.edit(v["invalid"], {"actions": _many(base_actions, "a")}),
            _tombstone(a, v["deleted"]),
        ]
        unmerged += [
            a.edit(v["three"], {"risk_level": "high", "analysis": "From A."}),
            c.edit(v["three"], {"risk_level": "low", "child_voice": "From C."}),
        ]
        round_ += [
            b.edit(v["clean"], {"analysis": "Nothing new."}),
            b.edit(
                v["merge"],
                {
                    "observations": OBSERVATIONS.replace("engaged.", "engaged; dad was out."),
                    "visit_type": "unannounced",
                },
            ),
            b.edit(v["review"], {"risk_level": "critical"}),
            b.edit(v["again"], {"risk_level": "none"}),
            b.edit(v["three"], {"observations": OBSERVATIONS + "\n\nFrom B."}),
            b.edit(v["signed"], {"observations": OBSERVATIONS + "\n\nForgot: the dog was loose."}),
            b.edit(v["invalid"], {"actions": _many(base_actions, "b")}),
            b.edit(v["deleted"], {"analysis": "Still worried."}),
        ]
        submitted = visit_submit(
            actor=actor(practitioner), visit_id=v["signed"], rev=a.docs[v["signed"]]["_rev"]
        )
        visit_sign_off(actor=actor(supervisor), visit_id=v["signed"], rev=submitted.rev)
    for doc in setup:  # one document per request, as each tablet pushes its own
        tablet = c if doc.get("meta", {}).get("updated_by") == supervisor.ref else a
        assert tablet.push([doc]) == []
    with monkeypatch.context() as patch:
        patch.setattr(merging, "resolve_conflicts", no_merging)
        for doc in unmerged:
            tablet = c if doc["meta"]["updated_by"] == supervisor.ref else a
            assert tablet.push([doc]) == []
    assert ConflictItem.objects.filter(field="risk_level").count() == len(cases)  # the "again" items
    return Scenario(cases=cases, visits=visits, b=b, round=round_)


def _decrypt(document: Document, revision: Revision) -> dict[str, Any]:
    return open_body(
        doc_id=document.id, doc_type=document.doc_type, case_id=document.case_id, body=revision.body
    )


def _outcome(case_ids: list[str], known: set[str], audit_after: int) -> dict[str, Any]:
    """Everything a round leaves behind, with the revisions it created named by their place in
    the tree (their ids hash a freshly encrypted body, so they differ between two pushes)."""
    documents = {d.id: d for d in Document.objects.filter(case_id__in=case_ids)}
    revisions = list(Revision.objects.filter(document_id__in=documents).order_by("generation", "seq"))
    labels: dict[str, str] = {rev: rev for rev in known}
    for r in revisions:
        if r.rev not in labels:
            labels[r.rev] = f"new {r.generation} on {labels.get(r.parent_rev, r.parent_rev)}" + (
                " (deleted)" if r.deleted else ""
            )
    addenda = {d.id: d for d in documents.values() if d.doc_type == "addendum"}
    addendum_label = {}
    for doc_id, document in addenda.items():
        content = _decrypt(document, Revision.objects.get(document=document, rev=document.rev))
        addendum_label[doc_id] = f"addendum of {content['visit_id']} from {labels[content['source_rev']]}"

    def name(value: Any) -> Any:
        if isinstance(value, str):
            return labels.get(value, addendum_label.get(value, value))
        if isinstance(value, list):
            return [name(v) for v in value]
        if isinstance(value, dict):
            return {k: name(v) for k, v in value.items() if k not in CLOCK_FIELDS}
        return value

    docs = {}
    for doc_id, document in documents.items():
        tree = revtree.from_json(document.tree)
        docs[name(doc_id)] = {
            "rev": name(document.rev),
            "deleted": document.deleted,
            "meta": name(document.meta),
            "leaves": sorted((name(leaf.rev), leaf.deleted) for leaf in revtree.leaves(tree)),
            "revisions": sorted(
                (
                    name(r.rev),
                    name(r.parent_rev),
                    r.deleted,
                    r.origin,
                    r.author_id,
                    r.device_id,
                    json.dumps(name({} if r.deleted else _decrypt(document, r)), sort_keys=True),
                )
                for r in revisions
                if r.document_id == doc_id
            ),
        }
    items = sorted(
        json.dumps(
            {
                "document": name(item.document_id),
                "field": item.field,
                "rule": item.rule,
                "merged_rev": name(item.merged_rev),
                "candidates": name(item.candidates),
                "values": name(conflict_values(item)),
                "decided": item.decided_at is not None,
            },
            sort_keys=True,
        )
        for item in ConflictItem.objects.filter(case_id__in=case_ids)
    )
    events = sorted(
        json.dumps([e.action, e.object_type, name(e.object_id), e.case_id, name(e.detail)], sort_keys=True)
        for e in AuditEvent.objects.filter(pk__gt=audit_after)
    )
    counters = list(
        Case.objects.filter(pk__in=case_ids)
        .order_by("pk")
        .values_list("pk", "doc_count", "deleted_doc_count", "last_visit_on")
    )
    projections = sorted(
        (name(r["document_id"]), json.dumps(r, sort_keys=True, default=str))
        for r in VisitRecord.objects.filter(case_id__in=case_ids).values()
    )
    return {"documents": docs, "items": items, "events": events, "counters": counters, "visits": projections}


@contextmanager
def rolled_back() -> Iterator[None]:
    savepoint = transaction.savepoint()
    try:
        yield
    finally:
        transaction.savepoint_rollback(savepoint)


def _live(doc_id: str) -> list[str]:
    tree = revtree.from_json(Document.objects.get(pk=doc_id).tree)
    return [leaf.rev for leaf in revtree.leaves(tree) if not leaf.deleted]


def test_a_round_merges_exactly_as_document_by_document(scenario: Scenario):
    known = set(Revision.objects.values_list("rev", flat=True)) | {doc["_rev"] for doc in scenario.round}
    audit_after = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with rolled_back():
        for doc in scenario.round:  # the per-document reference: each document alone
            assert scenario.b.push([doc]) == []
        expected = _outcome(scenario.cases, known, audit_after)
    assert scenario.b.push(scenario.round) == []
    assert _outcome(scenario.cases, known, audit_after) == expected

    # What the round did, so the comparison above is not between two rounds that did nothing.
    for case_id in scenario.cases:
        visit = {kind: doc_id for (case, kind), doc_id in scenario.visits.items() if case == case_id}
        for kind in ("clean", "merge", "review", "again", "three", "signed", "deleted"):
            assert len(_live(visit[kind])) == 1, kind
        assert len(_live(visit["invalid"])) == 2
        items = {
            (item.document_id, item.field): item for item in ConflictItem.objects.filter(case_id=case_id)
        }
        assert len(items[(visit["review"], "risk_level")].candidates) == 2
        assert len(items[(visit["again"], "risk_level")].candidates) == 3  # A's, C's, then B's
        assert len(items[(visit["three"], "risk_level")].candidates) == 2
        assert (visit["invalid"], "(document)") in items
        assert Document.objects.filter(case_id=case_id, doc_type="addendum").count() == 1
        assert VisitRecord.objects.get(document_id=visit["review"]).needs_decision
    merges = AuditEvent.objects.filter(action=AuditAction.MERGE, pk__gt=audit_after)
    assert merges.filter(detail__outcome="edit_kept_over_deletion").count() == len(scenario.cases)
    assert merges.filter(detail__has_key="merged_rev").count() == 4 * len(scenario.cases)


def _conflicting_round(practitioner, colleague, case_ids, visit_content, count: int) -> tuple[Tablet, list]:
    visits = [_visit(practitioner, case_ids[i % len(case_ids)], visit_content) for i in range(count)]
    a, b = Tablet(practitioner, "a"), Tablet(colleague, "b")
    a.pull()
    b.pull()
    assert a.push([a.edit(v, {"risk_level": "high", "analysis": "From A."}) for v in visits]) == []
    return b, [b.edit(v, {"risk_level": "critical", "child_voice": "From B."}) for v in visits]


def test_merging_a_round_takes_the_same_statements_whatever_its_size(
    practitioner, colleague, cases, visit_content
):
    statements = []
    for count in (4, 16):
        b, round_ = _conflicting_round(practitioner, colleague, cases, visit_content, count)
        with CaptureQueriesContext(connection) as queries:
            assert b.push(round_) == []
        assert ConflictItem.objects.filter(document_id__in=[d["_id"] for d in round_]).count() == count
        statements.append(len(queries.captured_queries))
    assert statements[0] == statements[1]


def test_merging_a_round_decrypts_only_what_the_checks_did_not(
    monkeypatch, practitioner, colleague, cases, visit_content
):
    """The checks decrypted each pushed revision and its parent (the merge base here): the
    merge opens only the other device's leaf."""
    b, round_ = _conflicting_round(practitioner, colleague, cases, visit_content, 4)
    opened: list[str] = []

    def counting_open_body(**kwargs: Any) -> dict[str, Any]:
        opened.append(kwargs["doc_id"])
        return open_body(**kwargs)

    monkeypatch.setattr(merging, "open_body", counting_open_body)
    assert b.push(round_) == []
    assert sorted(opened) == sorted(d["_id"] for d in round_)
    assert ConflictItem.objects.filter(document_id__in=[d["_id"] for d in round_]).count() == 4
