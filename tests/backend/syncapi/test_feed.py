"""The feed never misses or repeats a document, whatever the batch size and however writes and
allocations interleave with a device's syncs (seeded random histories)."""

from __future__ import annotations

import random

import pytest

from backend.cases.services import allocation_add, allocation_end, case_create
from backend.records.models import Document
from backend.records.services import document_create
from backend.syncapi.feed import _lower_bound
from backend.syncapi.params import SeqToken
from tests.conftest import actor

from .tablet import Tablet

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("since_seq", "since", "bound"),
    [
        (10, SeqToken(5, 5), -1),  # granted after the checkpoint: all documents
        (5, SeqToken(5, 3), 3),  # checkpoint inside the case's group
        (5, SeqToken(5, 5), 5),  # at the end of the group
        (2, SeqToken(5, 5), 5),  # held before: only newer documents
        (2, SeqToken(5, 3), 4),  # checkpoint inside another case's group at 5: doc seq 5 is new
    ],
    ids=["granted-later", "inside-group", "end-of-group", "held-before", "other-group"],
)
def test_lower_bound(since_seq, since, bound):
    assert _lower_bound(since_seq, since) == bound


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_random_histories_deliver_exactly_the_caseload(
    seed, practitioner, colleague, supervisor, case_content
):
    rng = random.Random(seed)
    team = supervisor.managed_teams.get()
    cases = [case_create(actor=actor(supervisor), team=team, content=case_content).id for _ in range(4)]
    for case_id in cases:
        allocation_add(actor=actor(supervisor), case_id=case_id, user=colleague, role="lead")
    allocations: dict[str, int] = {}
    tablet = Tablet(practitioner)
    for _step in range(12):
        action = rng.choice(["write", "write", "write", "allocate", "deallocate", "sync"])
        case_id = rng.choice(cases)
        if action == "write":
            for _ in range(rng.randint(1, 4)):
                document_create(
                    actor=actor(colleague),
                    case_id=case_id,
                    doc_type="note",
                    content={"category": "general", "text": "t"},
                )
        elif action == "allocate" and case_id not in allocations:
            allocations[case_id] = allocation_add(
                actor=actor(supervisor), case_id=case_id, user=practitioner, role="co_worker"
            ).pk
        elif action == "deallocate" and case_id in allocations:
            allocation_end(actor=actor(supervisor), allocation_id=allocations.pop(case_id))
        else:
            tablet.pull(batch=rng.randint(1, 5))
    tablet.pull(batch=rng.randint(1, 5))
    expected = {d.id: d.rev for d in Document.objects.filter(case_id__in=list(allocations), deleted=False)}
    assert {doc_id: doc["_rev"] for doc_id, doc in tablet.docs.items()} == expected
    # And a device starting from zero gets the same, in any batch size.
    fresh = Tablet(practitioner, "fresh")
    fresh.pull(batch=rng.randint(1, 7))
    assert {doc_id: doc["_rev"] for doc_id, doc in fresh.docs.items()} == expected
    assert tablet.get("/_changes", since=tablet.since).json()["results"] == []
