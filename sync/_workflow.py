"""The visit workflow and the fields only the server sets, as one table read by every side."""

# The table
# ---------
# ``MOVES``: each visit workflow move — the statuses it starts from, the status it ends in,
# who may make it (``worker``: a worker allocated to the case, or a supervisor of its team;
# ``supervisor``: a supervisor of the case's team only) and whether a tablet may make it
# offline (a replicated revision); everything else happens on the server (REST).
# ``INITIAL_STATUS``: the status a new document of each type starts in. ``FINAL_STATUS``: a
# signed-off visit never changes again (a later edit becomes an addendum). ``SERVER_FIELDS``:
# per type, the fields only the server sets through REST (clients may echo them back);
# ``TABLET_OWNED``: of those, the ones a replicated revision may set (as the move rules allow);
# ``FIXED_AT_CREATION``: fields no edit may change, whatever its origin.
#
# The backend reads this module; the web client reads the same table as
# ``schemas/workflow.json``, generated from it (``make workflow-json``, checked by
# ``tests/sync/test_workflow.py``), so no copy of these rules lives in JavaScript.

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import RemoteSyncError

VISIT_STATUSES = ("draft", "submitted", "returned", "signed_off")
FINAL_STATUS = "signed_off"
INITIAL_STATUS: dict[str, str] = {"case": "open", "visit": "draft", "addendum": "open"}
STAMP_FIELDS = frozenset({"author", "created_at", "updated_at", "updated_by"})
FIXED_AT_CREATION = ("author", "created_at")


@dataclass(frozen=True)
class Move:
    """One visit workflow move: where it may start, where it ends, who may make it."""

    action: str
    from_statuses: frozenset[str]
    to_status: str
    #: ``worker`` (allocated to the case, or a supervisor of its team) or ``supervisor``.
    by: str
    #: Whether a tablet may make the move offline, in a replicated revision.
    on_tablet: bool
    #: How a message names the move (``a draft visit cannot be signed off``).
    verb: str
    #: The time field the move stamps, if any.
    stamps: str | None = None


MOVES: dict[str, Move] = {
    "submit": Move(
        "submit", frozenset({"draft", "returned"}), "submitted", "worker", True, "submitted", "submitted_at"
    ),
    "sign_off": Move(
        "sign_off", frozenset({"submitted"}), "signed_off", "supervisor", False, "signed off", "signed_off_at"
    ),
    "return": Move("return", frozenset({"submitted"}), "returned", "supervisor", False, "returned"),
}

SERVER_FIELDS: dict[str, frozenset[str]] = {
    "case": STAMP_FIELDS | {"status", "closed_on"},
    "person": STAMP_FIELDS,
    "visit": STAMP_FIELDS
    | {"status", "submitted_at", "signed_off_at", "signed_off_by", "decisions_pending", "transitions"},
    "note": STAMP_FIELDS,
    "addendum": STAMP_FIELDS | {"status", "source_rev"},
}

#: Server fields a replicated revision may set itself (its own stamps, a submit move made
#: offline); ``source_rev`` of an addendum is only ever written by the server's merge, which
#: does not pass through these checks.
TABLET_OWNED: dict[str, frozenset[str]] = {
    "case": STAMP_FIELDS | {"status", "closed_on"},
    "person": STAMP_FIELDS,
    "visit": STAMP_FIELDS | {"status", "submitted_at", "transitions"},
    "note": STAMP_FIELDS,
    "addendum": STAMP_FIELDS | {"source_rev"},
}


class WorkflowRefused(RemoteSyncError):
    """A replicated revision changes what only the server may change (CouchDB ``forbidden``)."""

    error = "forbidden"


def server_fields(doc_type: str) -> frozenset[str]:
    """The fields of ``doc_type`` only the server sets through REST."""
    return SERVER_FIELDS[doc_type]


def initial_status(doc_type: str) -> str | None:
    """The status a new document of ``doc_type`` starts in (None: the type has no status)."""
    return INITIAL_STATUS.get(doc_type)


def initial_fields(doc_type: str) -> dict[str, Any]:
    """The workflow fields the server sets on a new document of ``doc_type``."""
    status = initial_status(doc_type)
    return {} if status is None else {"status": status}


def tablet_statuses(before: str | None) -> frozenset[str]:
    """The statuses a replicated revision of a visit may carry when its parent had ``before``
    (None: a new visit): the same status, or the end of a move a tablet may make."""
    start = before if before is not None else INITIAL_STATUS["visit"]
    moves = {m.to_status for m in MOVES.values() if m.on_tablet and start in m.from_statuses}
    return frozenset({start, *moves})


def _empty(value: Any) -> bool:
    return value in (None, [], "")


def check_replicated_edit(
    *,
    writer: str,
    doc_type: str,
    reference: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
) -> None:
    """Raise ``WorkflowRefused`` if a replicated revision by ``writer`` (a user ref) changes
    what only the server may change.

    ``new`` is the revision's content, None for a deletion. ``reference`` is what the server
    holds for the document: the content of the revision the edit was made on or, when the
    pushed branch shares no stored ancestor, the document's current winner — an unrelated
    branch has no parent to inherit server fields from, and must not be a way to set them.
    None only for a document the server does not hold. Messages name rules and fields, never
    submitted values.
    """
    if new is None:
        if doc_type != "visit" or (reference or {}).get("status") not in (None, INITIAL_STATUS["visit"]):
            raise WorkflowRefused("only draft visits can be deleted; records are kept")
        return
    if reference is None:
        if new.get("author") != writer:
            raise WorkflowRefused("author of a new document must be the writer")
    else:
        for name in FIXED_AT_CREATION:
            if new.get(name) != reference.get(name):
                raise WorkflowRefused(f"{name.replace('_', ' ')} cannot change")
    owned = SERVER_FIELDS[doc_type] - TABLET_OWNED[doc_type]
    for name in sorted(owned):
        before = (reference or {}).get(name)
        if new.get(name) != before and not (_empty(new.get(name)) and _empty(before)):
            if before is None and name == "status" and new.get(name) == initial_status(doc_type):
                continue  # a new addendum starts open
            raise WorkflowRefused(f"{name} is set by the server")
    if doc_type == "visit":
        _check_visit_move(writer, reference, new)


def _check_visit_move(writer: str, reference: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
    before_status = (reference or {}).get("status")
    if before_status == FINAL_STATUS:
        return  # an edit of a signed-off visit becomes an addendum (the server's merge)
    if new.get("status") not in tablet_statuses(before_status):
        raise WorkflowRefused(f"a tablet cannot move a visit from {before_status or 'new'} to that status")
    old_ids = {t.get("id") for t in (reference or {}).get("transitions", [])}
    tablet_actions = {m.action for m in MOVES.values() if m.on_tablet}
    for transition in new.get("transitions", []):
        if transition.get("id") in old_ids:
            continue
        if transition.get("action") not in tablet_actions or transition.get("by") != writer:
            raise WorkflowRefused("a tablet can only record its own submit transitions")


def as_json() -> dict[str, Any]:
    """The table as the web client reads it (``schemas/workflow.json``)."""
    return {
        "visit_statuses": list(VISIT_STATUSES),
        "final_status": FINAL_STATUS,
        "initial_status": dict(INITIAL_STATUS),
        "moves": {
            name: {
                "from": sorted(move.from_statuses),
                "to": move.to_status,
                "by": move.by,
                "on_tablet": move.on_tablet,
                "stamps": move.stamps,
            }
            for name, move in MOVES.items()
        },
        "server_fields": {t: sorted(names) for t, names in SERVER_FIELDS.items()},
        "tablet_owned": {t: sorted(names) for t, names in TABLET_OWNED.items()},
        "fixed_at_creation": list(FIXED_AT_CREATION),
    }


def json_path() -> Path:
    """Where the generated table lives, beside the document schemas."""
    return Path(__file__).resolve().parent.parent / "schemas" / "workflow.json"


def render() -> str:
    """The text of ``schemas/workflow.json``."""
    return json.dumps(as_json(), indent=2, sort_keys=True) + "\n"


def write_json() -> None:
    """Write ``schemas/workflow.json`` (``make workflow-json``)."""
    json_path().write_text(render(), encoding="utf-8")
