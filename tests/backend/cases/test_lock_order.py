"""Lock order between writers on PostgreSQL (SQLite serialises whole write transactions).

Writers that hold the global sequence lock (``next_seq``) go on to insert rows that refer to a
case — a new key version, an allocation, audit events. A document writer locks its document
row and only later asks for the sequence lock. If that writer also held the *case* row (a
FOR UPDATE over a join), the two would wait for each other: a deadlock PostgreSQL breaks by
failing one transaction, which CI once caught as a failed allocation end. These tests hold a
document writer at the point between its row lock and the sequence lock and require the
other writer to finish meanwhile.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction

from backend.cases.models import Allocation
from backend.cases.services import allocation_end
from backend.common.sequence import next_seq
from backend.records.services import lock_document
from tests.conftest import actor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks and the advisory lock exist on PostgreSQL only"
    ),
]


def _run_in_thread(target: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = target()
        except Exception as exc:  # reported by the test
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_allocation_end_does_not_wait_for_a_document_writer_of_the_same_case(
    case_id: str, supervisor: Any, practitioner: Any
) -> None:
    allocation = Allocation.objects.get(case_id=case_id, user=practitioner, ended_seq__isnull=True)
    locked = threading.Event()
    release = threading.Event()

    def document_writer() -> int:
        with transaction.atomic():
            lock_document(case_id)  # the case document's row, as document_update takes it
            locked.set()
            release.wait(20)
            return next_seq()  # then the sequence lock, as every document write does

    writer, written = _run_in_thread(document_writer)
    assert locked.wait(10)
    ender, ended = _run_in_thread(
        lambda: allocation_end(actor=actor(supervisor), allocation_id=allocation.pk)
    )
    ender.join(8)
    finished_meanwhile = not ender.is_alive()
    release.set()
    writer.join(20)
    ender.join(20)
    assert finished_meanwhile, "allocation_end waited for the document writer's locks"
    assert "error" not in ended, ended.get("error")
    assert "error" not in written, written.get("error")
    assert Allocation.objects.get(pk=allocation.pk).ended_seq is not None
    assert written["value"] > Allocation.objects.get(pk=allocation.pk).ended_seq


def test_a_conflict_decision_and_a_merging_sync_of_the_same_document_queue(
    api: Any, practitioner: Any, colleague: Any, supervisor: Any, case_id: str, visit_content: dict[str, Any]
) -> None:
    """A replicated write that merges locks the document, then its open review item; a
    decision must take them in the same order, or the two deadlock."""
    from backend.review.models import ConflictItem
    from backend.review.services import conflict_decide
    from tests.backend.review.test_review_api import _conflicting_edits

    visit = api(practitioner).post(f"/api/cases/{case_id}/visits/", {"content": visit_content}, format="json")
    visit_id = visit.json()["id"]
    _conflicting_edits(practitioner, colleague, supervisor, case_id, visit_id)
    item = ConflictItem.objects.get(document_id=visit_id, decided_at__isnull=True)
    locked = threading.Event()
    release = threading.Event()

    def merging_sync() -> str:
        with transaction.atomic():
            lock_document(visit_id)  # as Batch.load locks the pushed documents
            locked.set()
            release.wait(20)
            found = ConflictItem.objects.select_for_update(of=("self",)).filter(pk=item.pk).first()
            return found.field if found else ""  # then the open item, as merging updates it

    syncing, synced = _run_in_thread(merging_sync)
    assert locked.wait(10)
    deciding, decided = _run_in_thread(
        lambda: conflict_decide(actor=actor(supervisor), conflict_id=item.pk, choice=0)
    )
    deciding.join(1.5)  # the decision now waits for the document
    release.set()
    syncing.join(20)
    deciding.join(20)
    assert "error" not in synced, synced.get("error")
    assert "error" not in decided, decided.get("error")
    assert ConflictItem.objects.get(pk=item.pk).decided_at is not None
