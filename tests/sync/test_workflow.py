"""The visit workflow table (``sync.workflow``): the moves a tablet may make, the fields only the
server sets, and the JSON copy the web app reads."""

from __future__ import annotations

from typing import Any

import pytest

from sync import WorkflowRefused, workflow

ME = "u:7"


def test_the_json_the_web_app_reads_is_generated_from_the_table() -> None:
    assert workflow.json_path().read_text(encoding="utf-8") == workflow.render(), (
        "schemas/workflow.json is stale: run `make workflow-json`"
    )


@pytest.mark.parametrize(
    ("before", "allowed"),
    [
        pytest.param(None, {"draft", "submitted"}, id="new"),
        pytest.param("draft", {"draft", "submitted"}, id="draft"),
        pytest.param("returned", {"returned", "submitted"}, id="returned"),
        pytest.param("submitted", {"submitted"}, id="submitted"),
    ],
)
def test_a_tablet_may_keep_a_status_or_submit(before: str | None, allowed: set[str]) -> None:
    assert workflow.tablet_statuses(before) == allowed


def _visit(**fields: Any) -> dict[str, Any]:
    return {
        "author": ME,
        "created_at": "2026-01-01T00:00:00.000Z",
        "status": "draft",
        "transitions": [],
        **fields,
    }


CASES = [
    ("new-by-writer", None, _visit(), None),
    ("new-by-someone-else", None, _visit(author="u:1"), "author of a new document must be the writer"),
    ("author-changed", _visit(), _visit(author="u:1"), "author cannot change"),
    (
        "created-at-changed",
        _visit(),
        _visit(created_at="2000-01-01T00:00:00.000Z"),
        "created at cannot change",
    ),
    (
        "submit",
        _visit(),
        _visit(status="submitted", transitions=[{"id": "t1", "action": "submit", "by": ME}]),
        None,
    ),
    ("sign-off", _visit(status="submitted"), _visit(status="signed_off"), "a tablet cannot move a visit"),
    (
        "signed-off-by",
        _visit(status="submitted"),
        _visit(status="submitted", signed_off_by=ME),
        "signed_off_by",
    ),
    (
        "someone-elses-transition",
        _visit(),
        _visit(transitions=[{"id": "t1", "action": "submit", "by": "u:1"}]),
        "own submit",
    ),
    ("edit-of-signed-off", _visit(status="signed_off"), _visit(status="signed_off", analysis="x"), None),
]


@pytest.mark.parametrize(("reference", "new", "refusal"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_replicated_edits_against_the_table(
    reference: dict[str, Any] | None, new: dict[str, Any], refusal: str | None
) -> None:
    if refusal is None:
        workflow.check_replicated_edit(writer=ME, doc_type="visit", reference=reference, new=new)
        return
    with pytest.raises(WorkflowRefused) as raised:
        workflow.check_replicated_edit(writer=ME, doc_type="visit", reference=reference, new=new)
    assert refusal in raised.value.reason
    assert raised.value.error == "forbidden"


def test_only_draft_visits_can_be_deleted() -> None:
    workflow.check_replicated_edit(writer=ME, doc_type="visit", reference=_visit(), new=None)
    with pytest.raises(WorkflowRefused):
        workflow.check_replicated_edit(
            writer=ME, doc_type="visit", reference=_visit(status="submitted"), new=None
        )
    with pytest.raises(WorkflowRefused):
        workflow.check_replicated_edit(writer=ME, doc_type="note", reference={"author": ME}, new=None)


def test_a_new_addendum_starts_open_and_only_the_server_moves_it() -> None:
    new = {"author": ME, "created_at": "2026-01-01T00:00:00.000Z", "status": "open"}
    workflow.check_replicated_edit(writer=ME, doc_type="addendum", reference=None, new=new)
    with pytest.raises(WorkflowRefused, match="status is set by the server"):
        workflow.check_replicated_edit(
            writer=ME, doc_type="addendum", reference=new, new={**new, "status": "acknowledged"}
        )
