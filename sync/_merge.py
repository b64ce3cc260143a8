"""Field-by-field merge of concurrent document edits, driven by the schemas' ``x-merge`` rules.

``merge_document(schema, base, ours, theirs)`` is a pure function of its arguments: no clock,
no I/O, and the same answer whichever side is "ours" (the sides are put in a canonical order
first: edit time, then rev, author, device, content). ``merge_many`` merges three or more
leaves the same way, all against their common ancestor, and ``apply_decision`` writes a
supervisor's decision back into a merged document.

Every field is decided the same way first: if no side changed it, it keeps the base value;
if every side that changed it agrees, it takes that value ("changed on one side only takes
that side"). Only when sides changed it *differently* does the field's rule apply
(``_RULES``); ``immutable`` is the exception and is decided before that step. Absent keys are
values too ("absent" differs from ``null`` and from ``""``), so deleting a field is a change.

Field paths (``Undecided.field``, ``MergeNote.field``, ``apply_decision``) are described in
``_merge_paths``: ``risk_level``, ``address.town``, ``actions[a1].owner``.

Rules, when sides changed a field differently (each documented on its function):
``text`` merges passages (``_merge_text``); ``union`` keeps additions and honours removals;
``latest`` takes the latest edit; ``max``/``min`` take the extreme by ``x-order`` or natural
order; ``review`` asks a human and shows the safe value meanwhile; ``object`` and ``keyed``
recurse; ``immutable`` keeps what was first set.
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from ._errors import InvalidDocument, LocalSyncError
from ._merge_paths import apply_decision, index_items, item_path, join_path
from ._merge_text import Conflict, has_conflicts, merge_text, render, resolve
from ._schema import DocSchema, FieldRule

__all__ = [
    "Candidate",
    "MergeNote",
    "MergeOutcome",
    "Side",
    "Undecided",
    "apply_decision",
    "merge_document",
    "merge_many",
]


@dataclass(frozen=True)
class Side:
    """One leaf revision taking part in a merge: its decrypted content and who wrote it when."""

    content: Mapping[str, Any]
    rev: str
    author: str
    edited_at: str
    device: str | None = None
    #: How a person reading merged text is told who wrote this side ("Jamie Hussain,
    #: 4 December 14:29"): names and local time are the caller's to know. Without one the text
    #: says "a colleague": merged text never carries raw ids or ISO times.
    label: str | None = None


@dataclass(frozen=True)
class Candidate:
    """One side's value for an undecided field (``None`` when that side had no value)."""

    value: Any
    author: str
    edited_at: str
    rev: str
    device: str | None = None


@dataclass(frozen=True)
class Undecided:
    """A field the rules could not settle; the merged content shows a placeholder meanwhile.

    ``values`` holds one candidate per side that changed the field, in canonical side order.
    For ``text`` fields a candidate is the whole merged text with every clash settled in that
    side's favour, so choosing it keeps the edits that merged cleanly.
    """

    field: str
    rule: str
    base: Any
    values: tuple[Candidate, ...]


@dataclass(frozen=True)
class MergeNote:
    """Something the server should record or explain; ``detail`` names revs, never values."""

    field: str
    code: str
    detail: str


@dataclass(frozen=True)
class MergeOutcome:
    """The merged content, the fields a supervisor must decide, and what the rules did."""

    content: dict[str, Any]
    undecided: tuple[Undecided, ...] = ()
    notes: tuple[MergeNote, ...] = ()

    @property
    def needs_review(self) -> bool:
        return bool(self.undecided)


class _Absent(enum.Enum):
    ABSENT = "absent"


ABSENT: Final = _Absent.ABSENT
_NEVER: Final = datetime.min.replace(tzinfo=UTC)

#: The rule used for a key the schema does not know (a field from an older schema, say):
#: nothing is dropped, and clashing values go to review.
_UNKNOWN_FIELD_RULE = "review"

_Entry = tuple[Side, Any]


@dataclass(frozen=True)
class _Field:
    path: str
    rule: FieldRule
    prop: Mapping[str, Any]


@dataclass
class _Report:
    undecided: list[Undecided] = field(default_factory=list)
    notes: list[MergeNote] = field(default_factory=list)

    def note(self, where: _Field, code: str, detail: str) -> None:
        self.notes.append(MergeNote(where.path, code, detail))

    def undecide(self, where: _Field, base: Any, candidates: Sequence[_Entry]) -> None:
        values = tuple(
            Candidate(_public(value), side.author, side.edited_at, side.rev, side.device)
            for side, value in candidates
        )
        self.undecided.append(Undecided(where.path, where.rule.rule, _public(base), values))


# --- helpers -------------------------------------------------------------------------------


def _canon(value: Any) -> str:
    """Canonical JSON, the identity of a value; ``""`` (not valid JSON) stands for absent."""
    if value is ABSENT:
        return ""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _public(value: Any) -> Any:
    return None if value is ABSENT else copy.deepcopy(value)


def _has_value(value: Any) -> bool:
    return value is not ABSENT and value is not None


def _instant(text: Any) -> datetime:
    """An ISO 8601 time as an aware datetime (naive means UTC); unreadable sorts first."""
    if not isinstance(text, str):
        return _NEVER
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return _NEVER
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _side_key(side: Side) -> tuple[datetime, str, str, str, str, str]:
    return (
        _instant(side.edited_at),
        side.edited_at,
        side.rev,
        side.author,
        side.device or "",
        _canon(dict(side.content)),
    )


def _who(side: Side) -> str:
    return f"rev {side.rev} ({side.author} at {side.edited_at})"


def _label(side: Side) -> str:
    return side.label or "a colleague"


def _latest_key(entry: _Entry) -> tuple[datetime, str]:
    return _instant(entry[0].edited_at), _canon(entry[1])


def _as_text(where: _Field, value: Any) -> str:
    if not _has_value(value):
        return ""
    if not isinstance(value, str):
        raise InvalidDocument(f"{where.path} must be a string", field=where.path)
    return value


def _as_list(where: _Field, value: Any) -> list[Any]:
    if not _has_value(value):
        return []
    if not isinstance(value, list):
        raise InvalidDocument(f"{where.path} must be an array", field=where.path)
    return value


def _as_object(where: _Field, value: Any) -> Mapping[str, Any]:
    if not _has_value(value):
        return {}
    if not isinstance(value, Mapping):
        raise InvalidDocument(f"{where.path} must be an object", field=where.path)
    return value


def _rank(where: _Field, value: Any) -> tuple[Any, ...]:
    """Sort key for ``max``/``min``/review-safe: ``x-order`` index, else natural order.

    Natural order: booleans ``False < True``, numbers by value, ``date-time`` strings by
    instant (then text), other strings (ISO dates included) as text. Canonical JSON breaks
    ties, so the choice never depends on side order.
    """
    order = where.rule.order
    if order is not None:
        return (order.index(value) if value in order else -1, _canon(value))
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, int | float):
        return (1, value, "")
    if isinstance(value, str):
        if where.prop.get("format") == "date-time":
            return (3, _instant(value), value)
        return (2, value, "")
    return (4, _canon(value), "")


def _extreme(where: _Field, changed: Sequence[_Entry], highest: bool) -> _Entry | None:
    """The entry with the highest/lowest value, ignoring ``null`` and absent ones."""
    present = [entry for entry in changed if _has_value(entry[1])]
    if not present:
        return None
    pick = max if highest else min
    return pick(present, key=lambda entry: _rank(where, entry[1]))


# --- the rules -----------------------------------------------------------------------------
# Each rule gets the field, its base value and the entries of the sides that changed it (in
# canonical side order, at least two distinct values) and returns the merged value (ABSENT
# for "no key"). They report undecided fields and notes through ``report``.

_Rule = Callable[[_Field, Any, Sequence[_Entry], _Report], Any]


def _rule_text(where: _Field, base: Any, changed: Sequence[_Entry], report: _Report) -> Any:
    """Merge passages (see ``_merge_text``); clashing passages are kept side by side, attributed.

    A clash sends the field to review with one candidate per side involved. If the merged
    text would break the field's ``maxLength``, the field shows the latest side's own text
    and goes to review with every side's own text as a candidate (nothing is dropped: the
    candidates and all revisions are kept).
    """
    pieces = merge_text(_as_text(where, base), [_as_text(where, value) for _, value in changed])
    merged = render(pieces, [_label(side) for side, _ in changed])
    limit = where.prop.get("maxLength")
    if isinstance(limit, int) and len(merged) > limit:
        report.note(where, "text_too_long", "merged text exceeds maxLength; sent to review")
        report.undecide(where, base, changed)
        return max(changed, key=_latest_key)[1]
    if has_conflicts(pieces):
        clashes = [piece for piece in pieces if isinstance(piece, Conflict)]
        involved = sorted({i for piece in clashes for i in piece.participants()})
        report.note(
            where,
            "text_conflict",
            f"{len(clashes)} clashing passage(s) kept side by side from "
            + ", ".join(_who(changed[i][0]) for i in involved),
        )
        report.undecide(where, base, [(changed[i][0], resolve(pieces, i)) for i in involved])
    return merged


def _rule_union(where: _Field, base: Any, changed: Sequence[_Entry], _report: _Report) -> Any:
    """Set-like list: base items no side removed, then every addition (side order, then position).

    An item removed on one side and kept on another is removed: nothing was written by
    keeping it. Items compare by canonical JSON; duplicates collapse.
    """
    base_items = _as_list(where, base)
    side_lists = [_as_list(where, value) for _, value in changed]
    side_keys = [{_canon(item) for item in items} for items in side_lists]
    base_keys = {_canon(item) for item in base_items}
    merged: list[Any] = []
    seen: set[str] = set()
    for item in base_items:
        key = _canon(item)
        if key not in seen and all(key in keys for keys in side_keys):
            merged.append(item)
        seen.add(key)
    for items in side_lists:
        for item in items:
            key = _canon(item)
            if key not in base_keys and key not in seen:
                merged.append(item)
                seen.add(key)
    return merged


def _rule_latest(where: _Field, _base: Any, changed: Sequence[_Entry], report: _Report) -> Any:
    """The side with the latest ``edited_at`` (compared as instants); a tie goes to the larger
    canonical JSON value, so the answer does not depend on side order."""
    winner = max(changed, key=_latest_key)
    losers = ", ".join(_who(entry[0]) for entry in changed if entry is not winner)
    report.note(where, "latest", f"took {_who(winner[0])} over {losers}")
    return winner[1]


def _rule_extreme(highest: bool) -> _Rule:
    def rule(where: _Field, _base: Any, changed: Sequence[_Entry], report: _Report) -> Any:
        winner = _extreme(where, changed, highest)
        if winner is None:  # only null/absent values: null wins over absent
            return None if any(value is None for _, value in changed) else ABSENT
        report.note(where, where.rule.rule, f"took {_who(winner[0])}")
        return winner[1]

    rule.__doc__ = (
        "Highest value (x-order index, else natural order); null and absent count lowest."
        if highest
        else "Lowest value (x-order index, else natural order); null and absent are ignored."
    )
    return rule


def _rule_review(where: _Field, base: Any, changed: Sequence[_Entry], report: _Report) -> Any:
    """A human decides. Meanwhile the field shows the safe value: the highest (``x-review-safe:
    max``) or lowest (``min``) of the *candidates*; without ``x-review-safe``, the base value;
    without a base value, the latest side's value (as ``latest`` would pick it)."""
    report.undecide(where, base, changed)
    safe = where.rule.review_safe
    if safe is not None:
        winner = _extreme(where, changed, highest=safe == "max")
        if winner is not None:
            return winner[1]
    if _has_value(base):
        return base
    return max(changed, key=_latest_key)[1]


def _immutable(where: _Field, base: Any, changed: Sequence[_Entry], report: _Report) -> Any:
    """Once set, never changes: a base value is kept whatever the sides did (noted).

    If the base had no value (absent or null) and sides set *different* values, the first
    one set (earliest ``edited_at``, then smallest canonical JSON) is kept and the field goes
    to review. Called for every change, before the "all agree" shortcut.
    """
    if _has_value(base):
        report.note(where, "immutable_kept", "ignored a change by " + ", ".join(_who(s) for s, _ in changed))
        return base
    valued = [entry for entry in changed if _has_value(entry[1])]
    if not valued:
        return None if any(value is None for _, value in changed) else changed[0][1]
    if len({_canon(value) for _, value in valued}) == 1:
        return valued[0][1]
    first = min(valued, key=lambda entry: (_instant(entry[0].edited_at), _canon(entry[1])))
    report.note(where, "immutable_conflict", f"kept the value first set, by {_who(first[0])}")
    report.undecide(where, base, valued)
    return first[1]


def _rule_object(where: _Field, base: Any, changed: Sequence[_Entry], report: _Report) -> Any:
    """Member by member with the nested rules; a missing or null object counts as empty."""
    sides = [(side, _as_object(where, value)) for side, value in changed]
    props = where.prop.get("properties", {})
    return _merge_object(where.path, where.rule.fields, props, _as_object(where, base), sides, report)


def _rule_keyed(where: _Field, base: Any, changed: Sequence[_Entry], report: _Report) -> Any:
    """Items matched by ``x-merge-key`` and merged member by member with the nested rules.

    An item added on any side is kept. A base item removed on some side is removed, unless
    another side edited it: then it is KEPT, merged from the sides that still have it (nothing
    written is lost), and noted ``item_kept``. Order: base order, then new items by side
    (canonical order) and their position in that side's list. A side's reordering of base
    items is not kept.
    """
    key = where.rule.key or ""
    base_items = index_items(_as_list(where, base), key, where.path)
    sides = [(side, index_items(_as_list(where, value), key, where.path)) for side, value in changed]
    order = list(base_items)
    for _, items in sides:
        order.extend(ident for ident in items if ident not in base_items and ident not in order)
    item_props = where.prop.get("items", {}).get("properties", {})
    merged: list[Any] = []
    for ident in order:
        path = item_path(where.path, *ident)
        holders = [(side, items[ident]) for side, items in sides if ident in items]
        base_item = base_items.get(ident)
        if base_item is not None:
            removers = [side for side, items in sides if ident not in items]
            edited = [side for side, item in holders if _canon(item) != _canon(base_item)]
            if not edited:
                if not removers:
                    merged.append(base_item)
                continue
            if removers:
                detail = ", ".join(_who(s) for s in removers) + " removed it; "
                report.note(
                    _Field(path, where.rule, where.prop),
                    "item_kept",
                    detail + ", ".join(_who(s) for s in edited) + " edited it; kept",
                )
        merged.append(_merge_object(path, where.rule.fields, item_props, base_item or {}, holders, report))
    return merged


_RULES: Final[Mapping[str, _Rule]] = {
    "text": _rule_text,
    "union": _rule_union,
    "latest": _rule_latest,
    "max": _rule_extreme(highest=True),
    "min": _rule_extreme(highest=False),
    "review": _rule_review,
    "object": _rule_object,
    "keyed": _rule_keyed,
}


def _merge_value(where: _Field, base: Any, entries: Sequence[_Entry], report: _Report) -> Any:
    base_id = _canon(base)
    changed = [entry for entry in entries if _canon(entry[1]) != base_id]
    if not changed:
        return base
    if where.rule.rule == "immutable":
        return _immutable(where, base, changed, report)
    if len({_canon(value) for _, value in changed}) == 1:
        return changed[0][1]
    return _RULES[where.rule.rule](where, base, changed, report)


def _merge_object(
    path: str,
    rules: Mapping[str, FieldRule],
    props: Mapping[str, Any],
    base: Mapping[str, Any],
    sides: Sequence[tuple[Side, Mapping[str, Any]]],
    report: _Report,
) -> dict[str, Any]:
    unknown = sorted({name for obj in (base, *(o for _, o in sides)) for name in obj} - set(rules))
    merged: dict[str, Any] = {}
    for name in (*rules, *unknown):
        rule = rules.get(name) or FieldRule(name=name, rule=_UNKNOWN_FIELD_RULE)
        where = _Field(join_path(path, name), rule, props.get(name, {}))
        entries = [(side, obj.get(name, ABSENT)) for side, obj in sides]
        if name not in rules and any(_canon(v) != _canon(base.get(name, ABSENT)) for _, v in entries):
            report.note(where, "unknown_field", "not in the schema; merged as review")
        value = _merge_value(where, base.get(name, ABSENT), entries, report)
        if value is not ABSENT:
            merged[name] = value
    return merged


# --- public functions ----------------------------------------------------------------------


def merge_many(schema: DocSchema, base: Mapping[str, Any] | None, sides: Sequence[Side]) -> MergeOutcome:
    """Merge any number of leaves against their common ancestor ``base`` (``None``: none).

    The leaves are put in canonical order (edit time, rev, author, device, content) and every
    field is merged n-way: the rules above see every side that changed the field at once, so
    the result does not depend on the order ``sides`` come in and candidates name the sides
    that really wrote them. Limits: a ``text`` candidate settles *every* clash in its side's
    favour, which for a clash among other sides means that side's (base) text there; with
    three or more sides the text merge clusters changes directly instead of running
    ``merge3`` first. Raises ``LocalSyncError`` for no sides and ``InvalidDocument`` when a
    value has the wrong shape for its rule (a keyed list item without its key, say).
    """
    if not sides:
        raise LocalSyncError("merge_many needs at least one side")
    ordered = sorted(sides, key=_side_key)
    report = _Report()
    props = schema.raw.get("properties", {})
    content = _merge_object(
        "", schema.rules, props, base or {}, [(side, side.content) for side in ordered], report
    )
    return MergeOutcome(copy.deepcopy(content), tuple(report.undecided), tuple(report.notes))


def merge_document(
    schema: DocSchema, base: Mapping[str, Any] | None, ours: Side, theirs: Side
) -> MergeOutcome:
    """Three-way merge of two leaves against their common ancestor ``base`` (``None``: none).

    Symmetric: swapping ``ours`` and ``theirs`` gives an equal outcome. The content is valid
    against ``schema`` when both sides and the base were, except that a keyed list can exceed
    its ``maxItems`` when the sides together added more items than it allows (items are never
    dropped). Raises ``InvalidDocument`` when a value has the wrong shape for its rule.
    """
    return merge_many(schema, base, (ours, theirs))
