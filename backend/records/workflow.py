"""Workflow rules a replicated (tablet) write must respect.

Sign-off, returns and decisions happen on the server (REST), so a replicated revision may not
change the workflow fields the server owns. What a tablet may do: create and edit drafts,
submit (draft/returned → submitted, recording a ``submit`` transition by its own user), and
delete draft visits. Refusals raise ``DocRefused``-compatible ``WorkflowRefused``.
"""

from __future__ import annotations

from typing import Any

SERVER_OWNED = {
    "visit": ("signed_off_at", "signed_off_by", "decisions_pending"),
    "addendum": ("status",),
    "case": (),
    "person": (),
    "note": (),
}

TABLET_STATUS_MOVES = {
    None: {"draft", "submitted"},
    "draft": {"draft", "submitted"},
    "returned": {"returned", "submitted"},
    "submitted": {"submitted"},
}


class WorkflowRefused(Exception):
    error = "forbidden"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _empty(value: Any) -> bool:
    return value in (None, [], "")


def check_replicated_transition(
    *, caller: Any, doc_type: str, parent: dict[str, Any] | None, new: dict[str, Any] | None, is_new: bool
) -> None:
    """Raise WorkflowRefused if a replicated revision changes what only the server may change.

    ``new`` is None for a deletion. ``parent`` is the content of the revision the edit was
    made on (None for a new document or an unknown/deleted parent).
    """
    me = caller.actor.ref
    if new is None:
        if doc_type != "visit" or (parent or {}).get("status") not in (None, "draft"):
            raise WorkflowRefused("only draft visits can be deleted; records are kept")
        return
    if is_new and new.get("author") != me:
        raise WorkflowRefused("author of a new document must be the writer")
    if parent is not None and new.get("author") != parent.get("author"):
        raise WorkflowRefused("author cannot change")
    for name in SERVER_OWNED.get(doc_type, ()):
        before = (parent or {}).get(name)
        if new.get(name) != before and not (_empty(new.get(name)) and _empty(before)):
            if doc_type == "addendum" and name == "status" and before is None and new.get(name) == "open":
                continue
            raise WorkflowRefused(f"{name} is set by the server")
    if doc_type == "visit":
        before_status = (parent or {}).get("status")
        if before_status == "signed_off":
            return  # an edit of a signed-off visit becomes an addendum (records.merging)
        if new.get("status") not in TABLET_STATUS_MOVES.get(before_status, set()):
            raise WorkflowRefused(
                f"a tablet cannot move a visit from {before_status or 'new'} to {new.get('status')}"
            )
        old_ids = {t.get("id") for t in (parent or {}).get("transitions", [])}
        for transition in new.get("transitions", []):
            if transition.get("id") in old_ids:
                continue
            if transition.get("action") != "submit" or transition.get("by") != me:
                raise WorkflowRefused("a tablet can only record its own submit transitions")
