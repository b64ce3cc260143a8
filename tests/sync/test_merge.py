"""The merge engine: a table per rule, text merges, decisions, n-way, Hypothesis properties."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync import InvalidDocument, LocalSyncError, combine_versions, load_schemas, parse_schema
from sync._merge import (
    Candidate,
    MergeOutcome,
    Side,
    apply_decision,
    merge_document,
    merge_many,
)
from sync._merge_text import split_lines, split_sentences

MISSING: Any = object()  # "no such key" in the tables below

OURS_AT = "2026-11-20T10:04:00Z"
THEIRS_AT = "2026-11-20T10:06:00Z"
#: How the merge names each side in merged text (``Side.label``: names and local times).
U17 = "Amy Worker, 20 November 10:04"
U23 = "Jamie Hussain, 20 November 10:06"
U31 = "Sam Patel, 20 November 10:05"

ORDER = ["draft", "returned", "submitted", "signed_off"]
RISK = ["none", "low", "medium", "high", "critical"]

#: One field per rule (and the natural-order variants), to drive the tables.
RULES_SCHEMA = parse_schema(
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "x-doc-type": "rules",
        "x-schema-version": 1,
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "maxLength": 400, "x-merge": "text"},
            "tags": {"type": "array", "items": {"type": "string"}, "x-merge": "union"},
            "owner": {"type": ["string", "null"], "x-merge": "latest"},
            "status": {"type": "string", "enum": ORDER, "x-merge": "max", "x-order": ORDER},
            "seen": {"type": "boolean", "x-merge": "max"},
            "submitted_at": {"type": ["string", "null"], "format": "date-time", "x-merge": "max"},
            "due": {"type": ["string", "null"], "format": "date", "x-merge": "min"},
            "every_days": {"type": "integer", "x-merge": "min"},
            "created_by": {"type": ["string", "null"], "x-merge": "immutable"},
            "risk": {
                "type": "string",
                "enum": RISK,
                "x-merge": "review",
                "x-order": RISK,
                "x-review-safe": "max",
            },
            "category": {"type": "string", "x-merge": "review"},
            "address": {
                "type": "object",
                "additionalProperties": False,
                "x-merge": "object",
                "properties": {
                    "town": {"type": "string", "x-merge": "latest"},
                    "notes": {"type": "string", "x-merge": "text"},
                },
            },
            "actions": {
                "type": "array",
                "x-merge": "keyed",
                "x-merge-key": "id",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id"],
                    "properties": {
                        "id": {"type": "string", "x-merge": "immutable"},
                        "text": {"type": "string", "x-merge": "text"},
                        "owner": {"type": "string", "x-merge": "latest"},
                        "done": {"type": "boolean", "x-merge": "max"},
                    },
                },
            },
        },
    }
)


def doc(field: str, value: Any) -> dict[str, Any]:
    return {} if value is MISSING else {field: copy.deepcopy(value)}


def ours_side(content: Mapping[str, Any], at: str = OURS_AT) -> Side:
    return Side(content=content, rev="2-aaa", author="u:17", edited_at=at, device="tab-1", label=U17)


def theirs_side(content: Mapping[str, Any], at: str = THEIRS_AT) -> Side:
    return Side(content=content, rev="2-bbb", author="u:23", edited_at=at, device="tab-2", label=U23)


def merge_both_ways(base: Mapping[str, Any] | None, ours: Side, theirs: Side) -> MergeOutcome:
    """Merge, and check that swapping the sides changes nothing."""
    outcome = merge_document(RULES_SCHEMA, base, ours, theirs)
    assert merge_document(RULES_SCHEMA, base, theirs, ours) == outcome
    return outcome


@dataclass(frozen=True)
class Case:
    id: str
    field: str
    base: Any
    ours: Any
    theirs: Any
    expected: Any
    #: ``(path, candidate values)`` of the one undecided field expected, or None.
    undecided: tuple[str, tuple[Any, ...]] | None = None
    ours_at: str = OURS_AT
    theirs_at: str = THEIRS_AT


def run_case(case: Case) -> MergeOutcome:
    outcome = merge_both_ways(
        doc(case.field, case.base),
        ours_side(doc(case.field, case.ours), case.ours_at),
        theirs_side(doc(case.field, case.theirs), case.theirs_at),
    )
    assert outcome.content.get(case.field, MISSING) == case.expected
    if case.undecided is None:
        assert outcome.undecided == ()
    else:
        (undecided,) = outcome.undecided
        assert (undecided.field, tuple(c.value for c in undecided.values)) == case.undecided
    RULES_SCHEMA.validate(outcome.content)
    return outcome


def table(cases: list[Case]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])


# --- generic behaviour, every rule --------------------------------------------------------

GENERIC = [
    Case("unchanged-keeps-base", "owner", "Ann", "Ann", "Ann", "Ann"),
    Case("one-side-only-takes-it", "owner", "Ann", "Bob", "Ann", "Bob"),
    Case("one-side-only-even-if-earlier", "status", "submitted", "draft", "submitted", "draft"),
    Case("both-equal-takes-it", "risk", "low", "high", "high", "high"),
    Case("one-side-deletes", "owner", "Ann", MISSING, "Ann", MISSING),
    Case("one-side-adds", "owner", MISSING, MISSING, "Cy", "Cy"),
    Case("null-differs-from-absent", "owner", MISSING, None, MISSING, None),
]


@table(GENERIC)
def test_generic(case: Case) -> None:
    run_case(case)


UNION = [
    Case("adds-from-both", "tags", ["a"], ["a", "b"], ["a", "c"], ["a", "b", "c"]),
    Case("removal-one-side-honoured", "tags", ["a", "b"], ["a"], ["a", "b", "c"], ["a", "c"]),
    Case("removal-both-sides", "tags", ["a", "b"], ["b", "x"], ["b", "y"], ["b", "x", "y"]),
    Case("same-addition-once", "tags", ["a"], ["a", "b"], ["b", "a", "c"], ["a", "b", "c"]),
    Case(
        "base-order-kept",
        "tags",
        ["c", "a"],
        ["a", "c", "d"],
        ["c", "a", "e"],
        ["c", "a", "d", "e"],
    ),
    Case("absent-base", "tags", MISSING, ["x"], ["y"], ["x", "y"]),
    Case("deleted-field-removes-base-items", "tags", ["a"], MISSING, ["a", "z"], ["z"]),
]


@table(UNION)
def test_union(case: Case) -> None:
    run_case(case)


LATEST = [
    Case("later-edit-wins", "owner", "Ann", "Bob", "Cy", "Cy"),
    Case(
        "later-edit-wins-when-ours",
        "owner",
        "Ann",
        "Bob",
        "Cy",
        "Bob",
        ours_at="2026-11-20T11:00:00Z",
    ),
    Case(
        "compares-instants-not-strings",
        "owner",
        "Ann",
        "Bob",
        "Cy",
        "Bob",
        ours_at="2026-11-20T11:05:00+01:00",  # 10:05Z, after 10:04:59Z
        theirs_at="2026-11-20T10:04:59Z",
    ),
    Case("tie-larger-value-wins", "owner", "Ann", "Zed", "Bob", "Zed", theirs_at=OURS_AT),
    Case("later-deletion-wins", "owner", "Ann", "Bob", MISSING, MISSING),
    Case("later-null-wins", "owner", "Ann", "Bob", None, None),
]


@table(LATEST)
def test_latest(case: Case) -> None:
    run_case(case)


EXTREMES = [
    Case("max-by-x-order", "status", "draft", "submitted", "returned", "submitted"),
    Case("max-x-order-not-alphabet", "status", "draft", "signed_off", "submitted", "signed_off"),
    Case("max-boolean-true-wins", "seen", MISSING, True, False, True),
    Case(
        "max-date-time-by-instant",
        "submitted_at",
        None,
        "2026-11-20T10:00:00+01:00",  # 09:00Z: earlier, though larger as a string
        "2026-11-20T09:30:00Z",
        "2026-11-20T09:30:00Z",
    ),
    Case(
        "max-null-is-lowest",
        "submitted_at",
        "2026-11-20T09:00:00Z",
        None,
        "2026-11-20T08:00:00Z",
        "2026-11-20T08:00:00Z",
    ),
    Case("max-null-vs-absent", "submitted_at", "2026-11-20T09:00:00Z", None, MISSING, None),
    Case("min-dates", "due", "2026-12-31", "2026-12-01", "2026-11-25", "2026-11-25"),
    Case("min-null-ignored", "due", "2026-11-01", None, "2026-12-01", "2026-12-01"),
    Case("min-absent-ignored", "due", "2026-11-01", MISSING, "2026-12-01", "2026-12-01"),
    Case("min-integers", "every_days", 20, 10, 15, 10),
]


@table(EXTREMES)
def test_max_min(case: Case) -> None:
    run_case(case)


IMMUTABLE = [
    Case("base-value-kept-one-side", "created_by", "u:1", "u:9", "u:1", "u:1"),
    Case("base-value-kept-both-sides", "created_by", "u:1", "u:9", "u:8", "u:1"),
    Case("base-value-kept-on-deletion", "created_by", "u:1", MISSING, "u:1", "u:1"),
    Case("unset-base-one-side-sets", "created_by", None, "u:5", None, "u:5"),
    Case("unset-base-same-value", "created_by", None, "u:5", "u:5", "u:5"),
    Case(
        "unset-base-different-first-set-kept",
        "created_by",
        None,
        "u:6",
        "u:5",
        "u:6",  # ours edited first
        undecided=("created_by", ("u:6", "u:5")),
    ),
    Case(
        "absent-base-different-first-set-kept",
        "created_by",
        MISSING,
        "u:6",
        "u:5",
        "u:5",
        undecided=("created_by", ("u:5", "u:6")),
        ours_at=THEIRS_AT,
        theirs_at=OURS_AT,
    ),
    Case("unset-base-null-and-value", "created_by", MISSING, None, "u:5", "u:5"),
]


@table(IMMUTABLE)
def test_immutable(case: Case) -> None:
    run_case(case)


def test_immutable_change_is_noted_not_applied() -> None:
    outcome = run_case(IMMUTABLE[0])
    assert [(n.field, n.code) for n in outcome.notes] == [("created_by", "immutable_kept")]
    assert "2-aaa" in outcome.notes[0].detail


REVIEW = [
    Case("safe-max-shown", "risk", "low", "medium", "high", "high", ("risk", ("medium", "high"))),
    Case(
        "safe-max-when-ours-higher",
        "risk",
        "low",
        "critical",
        "none",
        "critical",
        ("risk", ("critical", "none")),
    ),
    Case(
        "safe-among-candidates-not-base",
        "risk",
        "high",
        "low",
        "none",
        "low",
        ("risk", ("low", "none")),
    ),
    Case("one-side-only-no-review", "risk", "low", "high", "low", "high"),
    Case("same-value-no-review", "risk", "low", "high", "high", "high"),
    Case(
        "no-safe-shows-base",
        "category",
        "visit",
        "call",
        "meeting",
        "visit",
        ("category", ("call", "meeting")),
    ),
    Case(
        "no-safe-no-base-shows-latest",
        "category",
        MISSING,
        "call",
        "meeting",
        "meeting",
        ("category", ("call", "meeting")),
    ),
    Case(
        "deletion-is-a-candidate",
        "category",
        "visit",
        MISSING,
        "call",
        "visit",
        ("category", (None, "call")),
    ),
]


@table(REVIEW)
def test_review(case: Case) -> None:
    run_case(case)


def test_review_candidates_carry_attribution() -> None:
    outcome = run_case(REVIEW[0])
    (undecided,) = outcome.undecided
    assert undecided.rule == "review"
    assert undecided.base == "low"
    assert undecided.values == (
        Candidate("medium", "u:17", OURS_AT, "2-aaa", "tab-1"),
        Candidate("high", "u:23", THEIRS_AT, "2-bbb", "tab-2"),
    )


def block(*versions: tuple[str, str]) -> str:
    """A conflict block as the merge writes it: (who, text) per version; text "" = deleted."""
    lines = []
    for who, text in versions:
        if text:
            lines += [f"[Conflicting edit — {who}]", text]
        else:
            lines.append(f"[Conflicting edit — {who}: deleted this passage]")
    return "\n".join([*lines, "[End of conflicting edits]"])


OBJECT = [
    Case(
        "members-from-both-sides",
        "address",
        {"town": "Leeds", "notes": "Blue door."},
        {"town": "York", "notes": "Blue door."},
        {"town": "Leeds", "notes": "Blue door. Dog."},
        {"town": "York", "notes": "Blue door. Dog."},
    ),
    Case(
        "member-rule-applies",
        "address",
        {"town": "Leeds"},
        {"town": "York"},
        {"town": "Hull"},
        {"town": "Hull"},
    ),
    Case(
        "missing-object-counts-as-empty",
        "address",
        MISSING,
        {"town": "York"},
        {"notes": "Gate."},
        {"town": "York", "notes": "Gate."},
    ),
    Case(
        "member-undecided-path",
        "address",
        {"notes": "Red door."},
        {"notes": "Red door, left."},
        {"notes": "Red door, right."},
        {"notes": block((U17, "Red door, left."), (U23, "Red door, right."))},
        ("address.notes", ("Red door, left.", "Red door, right.")),
    ),
]


@table(OBJECT)
def test_object(case: Case) -> None:
    run_case(case)


A0 = {"id": "a0", "text": "Call school.", "owner": "Ann"}
KEYED = [
    Case(
        "additions-from-both-kept",
        "actions",
        [A0],
        [A0, {"id": "a1", "text": "Book GP."}],
        [A0, {"id": "a2", "text": "Refer."}],
        [A0, {"id": "a1", "text": "Book GP."}, {"id": "a2", "text": "Refer."}],
    ),
    Case(
        "removed-and-untouched-is-removed",
        "actions",
        [A0],
        [],
        [A0, {"id": "a2", "text": "Refer."}],
        [{"id": "a2", "text": "Refer."}],
    ),
    Case(
        "removed-but-edited-is-kept",
        "actions",
        [A0],
        [],
        [{**A0, "text": "Call school today."}],
        [{**A0, "text": "Call school today."}],
    ),
    Case(
        "members-merge",
        "actions",
        [A0],
        [{**A0, "owner": "Bob"}],
        [{**A0, "done": True}],
        [{**A0, "owner": "Bob", "done": True}],
    ),
    Case(
        "base-order-then-new-items",
        "actions",
        [A0, {"id": "a9", "text": "Visit."}],
        [{"id": "a1", "text": "New."}, {"id": "a9", "text": "Visit."}, A0],
        [A0, {"id": "a9", "text": "Visit."}, {"id": "a2", "text": "Newer."}],
        [
            A0,
            {"id": "a9", "text": "Visit."},
            {"id": "a1", "text": "New."},
            {"id": "a2", "text": "Newer."},
        ],
    ),
    Case(
        "same-key-added-both-merged",
        "actions",
        [],
        [{"id": "a1", "text": "Ring.", "owner": "Ann"}],
        [{"id": "a1", "text": "Ring.", "owner": "Bob"}],
        [{"id": "a1", "text": "Ring.", "owner": "Bob"}],
    ),
    Case(
        "member-text-conflict-path",
        "actions",
        [A0],
        [{**A0, "text": "Call school on Monday."}],
        [{**A0, "text": "Email school."}],
        [
            {
                **A0,
                "text": block((U17, "Call school on Monday."), (U23, "Email school.")),
            }
        ],
        ("actions[a0].text", ("Call school on Monday.", "Email school.")),
    ),
    Case(
        "key-with-bracket-escaped-in-path",
        "actions",
        [{"id": "x]1", "text": "A."}],
        [{"id": "x]1", "text": "Ay."}],
        [{"id": "x]1", "text": "Ab."}],
        [
            {
                "id": "x]1",
                "text": block((U17, "Ay."), (U23, "Ab.")),
            }
        ],
        ("actions[x\\]1].text", ("Ay.", "Ab.")),
    ),
]


@table(KEYED)
def test_keyed(case: Case) -> None:
    run_case(case)


def test_keyed_kept_item_is_noted() -> None:
    outcome = run_case(KEYED[2])
    assert [(n.field, n.code) for n in outcome.notes] == [("actions[a0]", "item_kept")]


# --- text ---------------------------------------------------------------------------------

VISIT_TEXT = (
    "Amy answered the door. She seemed tired.\n\n"
    "The kitchen was clean. There was food in the fridge.\n\n"
    "Mum said the boiler is broken."
)


TEXT = [
    Case(
        "different-paragraphs-both-kept",
        "text",
        VISIT_TEXT,
        VISIT_TEXT.replace("She seemed tired.", "She seemed very tired."),
        VISIT_TEXT.replace("is broken.", "is broken again."),
        VISIT_TEXT.replace("She seemed tired.", "She seemed very tired.").replace(
            "is broken.", "is broken again."
        ),
    ),
    Case(
        "different-sentences-one-paragraph-both-kept",
        "text",
        VISIT_TEXT,
        VISIT_TEXT.replace("The kitchen was clean.", "The kitchen was tidy."),
        VISIT_TEXT.replace("food in the fridge.", "little food in the fridge."),
        VISIT_TEXT.replace("The kitchen was clean.", "The kitchen was tidy.").replace(
            "food in the fridge.", "little food in the fridge."
        ),
    ),
    Case(
        "same-sentence-differently-both-kept-attributed",
        "text",
        VISIT_TEXT,
        VISIT_TEXT.replace("The kitchen was clean.", "The kitchen was spotless."),
        VISIT_TEXT.replace("The kitchen was clean.", "The kitchen was dirty."),
        VISIT_TEXT.replace(
            "The kitchen was clean. There was food in the fridge.",
            block(
                (U17, "The kitchen was spotless. There was food in the fridge."),
                (U23, "The kitchen was dirty. There was food in the fridge."),
            ),
        ),
        (
            "text",
            (
                VISIT_TEXT.replace("The kitchen was clean.", "The kitchen was spotless."),
                VISIT_TEXT.replace("The kitchen was clean.", "The kitchen was dirty."),
            ),
        ),
    ),
    Case(
        "deleted-paragraph-other-untouched-is-deleted",
        "text",
        VISIT_TEXT,
        VISIT_TEXT.replace("The kitchen was clean. There was food in the fridge.\n\n", ""),
        VISIT_TEXT.replace("Amy answered", "Amy opened"),
        VISIT_TEXT.replace("The kitchen was clean. There was food in the fridge.\n\n", "").replace(
            "Amy answered", "Amy opened"
        ),
    ),
    Case(
        "deleted-paragraph-other-edited-edit-survives",
        "text",
        VISIT_TEXT,
        VISIT_TEXT.replace("The kitchen was clean. There was food in the fridge.\n\n", ""),
        VISIT_TEXT.replace("The kitchen was clean.", "The kitchen was filthy."),
        VISIT_TEXT.replace(
            "The kitchen was clean. There was food in the fridge.",
            block((U17, ""), (U23, "The kitchen was filthy. There was food in the fridge.")),
        ),
        (
            "text",
            (
                VISIT_TEXT.replace("The kitchen was clean. There was food in the fridge.\n\n", ""),
                VISIT_TEXT.replace("The kitchen was clean.", "The kitchen was filthy."),
            ),
        ),
    ),
    Case(
        "deleted-sentence-other-edited-neighbour",
        "text",
        VISIT_TEXT,
        VISIT_TEXT.replace("The kitchen was clean. ", ""),
        VISIT_TEXT.replace("food in the fridge.", "no food in the fridge."),
        VISIT_TEXT.replace("The kitchen was clean. There was food", "There was no food"),
    ),
    Case(
        "both-append-a-paragraph-both-kept-in-edit-order",
        "text",
        VISIT_TEXT,
        VISIT_TEXT + "\n\nDad arrived at 4pm.",
        VISIT_TEXT + "\n\nNext visit agreed.",
        VISIT_TEXT + "\n\nDad arrived at 4pm.\n\nNext visit agreed.",
    ),
    Case(
        "append-sentence-and-edit-last-sentence",
        "text",
        VISIT_TEXT,
        VISIT_TEXT + " An engineer is booked.",
        VISIT_TEXT.replace("Mum said", "Mum told me"),
        VISIT_TEXT.replace("Mum said", "Mum told me") + " An engineer is booked.",
    ),
    Case(
        "same-edit-both-sides-once",
        "text",
        VISIT_TEXT,
        VISIT_TEXT.replace("tired", "sad") + "\n\nMore.",
        VISIT_TEXT.replace("tired", "sad"),
        VISIT_TEXT.replace("tired", "sad") + "\n\nMore.",
    ),
    Case(
        "overlapping-deletions-union",
        "text",
        VISIT_TEXT,
        VISIT_TEXT.replace("The kitchen was clean. There was food in the fridge.\n\n", ""),
        VISIT_TEXT.replace("The kitchen was clean. ", ""),
        VISIT_TEXT.replace("The kitchen was clean. There was food in the fridge.\n\n", ""),
    ),
    Case(
        "no-base-both-wrote",
        "text",
        MISSING,
        "Seen at school.",
        "Seen at home.",
        "Seen at school.\nSeen at home.",
    ),
    Case(
        "too-long-shows-latest-side-and-reviews-raw-versions",
        "text",
        "Start.",
        "Start. " + "a" * 300,
        "Start. " + "b" * 300,
        "Start. " + "b" * 300,
        ("text", ("Start. " + "a" * 300, "Start. " + "b" * 300)),
    ),
]


@table(TEXT)
def test_text(case: Case) -> None:
    run_case(case)


def test_text_conflict_is_noted_with_both_revs() -> None:
    outcome = run_case(TEXT[2])
    (note,) = [n for n in outcome.notes if n.code == "text_conflict"]
    assert "2-aaa" in note.detail and "2-bbb" in note.detail
    assert "kitchen" not in note.detail  # notes never carry case text


@given(st.text(alphabet=st.sampled_from('ab .!?\n\t"”)…'), max_size=60))
def test_splitters_preserve_text(text: str) -> None:
    assert "".join(split_lines(text)) == text
    assert "".join(split_sentences(text)) == text


# --- decisions ----------------------------------------------------------------------------

DECIDED_BASE: dict[str, Any] = {
    "risk": "high",
    "owner": "Ann",
    "address": {"town": "York"},
    "actions": [
        {"id": "a0", "text": "Call.", "owner": "Ann"},
        {"id": "x]1", "text": "Odd key."},
        {"id": "a0", "text": "Duplicate key."},
    ],
}

DECISIONS = [
    ("top-level", "risk", "medium", {**DECIDED_BASE, "risk": "medium"}),
    ("object-member", "address.town", "Hull", {**DECIDED_BASE, "address": {"town": "Hull"}}),
    (
        "keyed-member",
        "actions[a0].owner",
        "Bob",
        {
            **DECIDED_BASE,
            "actions": [
                {"id": "a0", "text": "Call.", "owner": "Bob"},
                *DECIDED_BASE["actions"][1:],
            ],
        },
    ),
    (
        "escaped-key",
        "actions[x\\]1].text",
        "Fixed.",
        {
            **DECIDED_BASE,
            "actions": [
                DECIDED_BASE["actions"][0],
                {"id": "x]1", "text": "Fixed."},
                DECIDED_BASE["actions"][2],
            ],
        },
    ),
    (
        "second-occurrence",
        "actions[a0]#2.text",
        "Second.",
        {
            **DECIDED_BASE,
            "actions": [*DECIDED_BASE["actions"][:2], {"id": "a0", "text": "Second."}],
        },
    ),
    (
        "whole-item-removed",
        "actions[x\\]1]",
        None,
        {**DECIDED_BASE, "actions": [DECIDED_BASE["actions"][0], DECIDED_BASE["actions"][2]]},
    ),
    (
        "none-removes-non-nullable",
        "risk",
        None,
        {k: v for k, v in DECIDED_BASE.items() if k != "risk"},
    ),
    ("none-sets-nullable", "owner", None, {**DECIDED_BASE, "owner": None}),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"), [d[1:] for d in DECISIONS], ids=[d[0] for d in DECISIONS]
)
def test_apply_decision(path: str, value: Any, expected: dict[str, Any]) -> None:
    before = copy.deepcopy(DECIDED_BASE)
    assert apply_decision(RULES_SCHEMA, DECIDED_BASE, path, value) == expected
    assert before == DECIDED_BASE  # the input is not modified


BAD_DECISIONS = [
    ("unknown-field", "colour", "red"),
    ("unknown-member", "address.county", "N Yorks"),
    ("into-a-leaf", "risk.level", "high"),
    ("missing-item", "actions[a7].owner", "Bob"),
    ("key-on-non-keyed", "address[a0]", "x"),
    ("malformed", "actions[a0", "x"),
    ("empty", "", "x"),
    ("double-dot", "address..town", "x"),
    ("invalid-value", "risk", "purple"),
    ("item-key-changed", "actions[a0]", {"id": "a5", "text": "x"}),
]


@pytest.mark.parametrize(("path", "value"), [d[1:] for d in BAD_DECISIONS], ids=[d[0] for d in BAD_DECISIONS])
def test_apply_decision_refuses(path: str, value: Any) -> None:
    with pytest.raises(InvalidDocument):
        apply_decision(RULES_SCHEMA, DECIDED_BASE, path, value)


def test_every_candidate_can_be_applied() -> None:
    for case in [*REVIEW, *IMMUTABLE, *TEXT, *OBJECT, *KEYED]:
        outcome = run_case(case)
        for undecided in outcome.undecided:
            for candidate in undecided.values:
                apply_decision(RULES_SCHEMA, outcome.content, undecided.field, candidate.value)


# --- three or more leaves -----------------------------------------------------------------


def third_side(content: Mapping[str, Any]) -> Side:
    return Side(content=content, rev="2-ccc", author="u:31", edited_at="2026-11-20T10:05:00Z", label=U31)


def test_merge_many_does_not_depend_on_order() -> None:
    base = {"risk": "low", "tags": ["a"], "owner": "Ann", "text": VISIT_TEXT, "actions": [A0]}
    sides = [
        ours_side(
            {
                **base,
                "risk": "medium",
                "tags": ["a", "b"],
                "owner": "Bob",
                "text": VISIT_TEXT.replace("tired", "sad"),
            }
        ),
        theirs_side(
            {
                **base,
                "risk": "high",
                "tags": [],
                "text": VISIT_TEXT.replace("tired", "happy"),
                "actions": [A0, {"id": "a2", "text": "Refer."}],
            }
        ),
        third_side(
            {
                **base,
                "risk": "none",
                "owner": "Cy",
                "text": VISIT_TEXT + " Dog barked.",
                "actions": [{**A0, "done": True}],
            }
        ),
    ]
    outcomes = [merge_many(RULES_SCHEMA, base, list(order)) for order in itertools.permutations(sides)]
    assert all(outcome == outcomes[0] for outcome in outcomes)
    outcome = outcomes[0]
    content = outcome.content
    assert content["risk"] == "high"
    assert content["tags"] == ["b"]
    assert content["owner"] == "Cy"  # the third side's edit (10:05) is the latest owner change
    assert content["actions"] == [{**A0, "done": True}, {"id": "a2", "text": "Refer."}]
    assert "Dog barked." in content["text"] and "sad" in content["text"] and "happy" in content["text"]
    by_field = {u.field: u for u in outcome.undecided}
    assert sorted(by_field) == ["risk", "text"]
    assert [c.rev for c in by_field["risk"].values] == ["2-aaa", "2-ccc", "2-bbb"]
    assert [c.value for c in by_field["risk"].values] == ["medium", "none", "high"]
    assert [c.rev for c in by_field["text"].values] == ["2-aaa", "2-bbb"]
    for candidate in by_field["text"].values:
        assert candidate.value.endswith("Dog barked.")  # the clean edit survives either choice


def test_merge_many_groups_sides_that_wrote_the_same_text() -> None:
    base = {"text": VISIT_TEXT}
    sad = VISIT_TEXT.replace("tired", "sad")
    outcome = merge_many(
        RULES_SCHEMA,
        base,
        [
            theirs_side({"text": VISIT_TEXT.replace("tired", "happy")}),
            ours_side({"text": sad}),
            third_side({"text": sad}),
        ],
    )
    assert outcome.content["text"] == VISIT_TEXT.replace(
        "Amy answered the door. She seemed tired.",
        block(
            (f"{U17}; {U31}", "Amy answered the door. She seemed sad."),
            (U23, "Amy answered the door. She seemed happy."),
        ),
    )
    (undecided,) = outcome.undecided
    assert [c.rev for c in undecided.values] == ["2-aaa", "2-ccc", "2-bbb"]


def test_unknown_field_is_kept_and_reviewed() -> None:
    base = {"legacy": "a", "owner": "Ann"}
    outcome = merge_both_ways(base, ours_side({**base, "legacy": "b"}), theirs_side({**base, "legacy": "c"}))
    assert outcome.content == base  # review without x-review-safe shows the base value
    assert [(u.field, [c.value for c in u.values]) for u in outcome.undecided] == [("legacy", ["b", "c"])]
    assert [(n.field, n.code) for n in outcome.notes] == [("legacy", "unknown_field")]
    untouched = merge_both_ways(base, ours_side({**base, "owner": "Bob"}), theirs_side(base))
    assert untouched == MergeOutcome({"legacy": "a", "owner": "Bob"})


def test_merge_many_single_side_and_none() -> None:
    side = ours_side({"risk": "high"})
    assert merge_many(RULES_SCHEMA, {"risk": "low"}, [side]) == MergeOutcome({"risk": "high"})
    with pytest.raises(LocalSyncError):
        merge_many(RULES_SCHEMA, {}, [])


def test_wrong_shape_is_refused() -> None:
    with pytest.raises(InvalidDocument) as raised:
        merge_document(
            RULES_SCHEMA,
            {"actions": []},
            ours_side({"actions": [{"text": "no id"}]}),
            theirs_side({"actions": [{"id": "a1"}]}),
        )
    assert raised.value.field == "actions"


# --- the visit schema: the end-to-end scenario and properties -------------------------------

VISIT = load_schemas()["visit"]

VISIT_BASE: dict[str, Any] = {
    "author": "u:17",
    "created_at": "2026-11-20T09:00:00Z",
    "updated_at": "2026-11-20T09:30:00Z",
    "updated_by": "u:17",
    "status": "draft",
    "visit_date": "2026-11-20T08:30:00Z",
    "visit_type": "statutory",
    "observations": VISIT_TEXT,
    "actions": [{"id": "act-0", "text": "Chase the boiler repair."}],
    "risk_level": "medium",
}


def test_two_devices_edit_one_visit() -> None:
    device_a = {
        **VISIT_BASE,
        "updated_at": OURS_AT,
        "observations": VISIT_TEXT.replace("She seemed tired.", "She seemed tired and quiet."),
        "actions": [*VISIT_BASE["actions"], {"id": "act-a", "text": "Speak to the school nurse."}],
        "risk_level": "low",
    }
    device_b = {
        **VISIT_BASE,
        "updated_at": THEIRS_AT,
        "updated_by": "u:23",
        "observations": VISIT_TEXT.replace("is broken.", "is broken and the flat is cold."),
        "actions": [*VISIT_BASE["actions"], {"id": "act-b", "text": "Refer to housing."}],
        "risk_level": "high",
    }
    outcome = merge_document(VISIT, VISIT_BASE, ours_side(device_a), theirs_side(device_b))
    assert outcome == merge_document(VISIT, VISIT_BASE, theirs_side(device_b), ours_side(device_a))
    content = outcome.content
    VISIT.validate(content)
    assert "She seemed tired and quiet." in content["observations"]
    assert "is broken and the flat is cold." in content["observations"]
    assert "[Conflicting edit" not in content["observations"]
    assert [a["id"] for a in content["actions"]] == ["act-0", "act-a", "act-b"]
    assert content["risk_level"] == "high"
    assert content["updated_at"] == THEIRS_AT and content["updated_by"] == "u:23"
    (undecided,) = outcome.undecided
    assert undecided.field == "risk_level"
    assert undecided.base == "medium"
    assert [(c.value, c.author, c.rev) for c in undecided.values] == [
        ("low", "u:17", "2-aaa"),
        ("high", "u:23", "2-bbb"),
    ]


WORDS = st.sampled_from(["kitchen", "school", "mum", "dog", "tired", "quiet", "cold", "garden"])
TEXT_FIELDS = ("observations", "child_voice", "analysis")


class Writer:
    """Makes sentences nobody else wrote, so "what a side added" is well defined."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.count = 0

    def sentence(self, word: str) -> str:
        self.count += 1
        return f"{self.tag}{self.count} saw the {word}."


Lines = list[list[str]]


def render_text(lines: Lines, gap: str) -> str:
    return gap.join(" ".join(line) for line in lines)


@st.composite
def base_visits(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Lines], str]:
    writer = Writer("B")
    gap = draw(st.sampled_from(["\n", "\n\n"]))
    texts: dict[str, Lines] = {}
    for name in TEXT_FIELDS:
        texts[name] = [
            [writer.sentence(draw(WORDS)) for _ in range(draw(st.integers(1, 3)))]
            for _ in range(draw(st.integers(0, 4)))
        ]
    visit = {**VISIT_BASE, **{name: render_text(lines, gap) for name, lines in texts.items()}}
    visit["actions"] = [
        {"id": f"act-{i}", "text": writer.sentence(draw(WORDS))} for i in range(draw(st.integers(0, 3)))
    ]
    visit["risk_level"] = draw(st.sampled_from(RISK))
    visit["decisions_pending"] = draw(st.lists(st.sampled_from(["risk_level", "analysis"]), unique=True))
    return visit, texts, gap


@dataclass
class Edited:
    side: Side
    fresh_lines: list[str]  # whole lines this side wrote


def edit_lines(draw: st.DrawFn, lines: Lines, writer: Writer, fresh: list[list[str]]) -> Lines:
    lines = [list(line) for line in lines]
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["insert", "replace", "delete", "append", "edit", "drop"]))
        if op == "insert" or not lines:
            new = [writer.sentence(draw(WORDS)) for _ in range(draw(st.integers(1, 2)))]
            fresh.append(new)
            lines.insert(draw(st.integers(0, len(lines))), new)
            continue
        at = draw(st.integers(0, len(lines) - 1))
        if op == "replace":
            lines[at] = [writer.sentence(draw(WORDS))]
            fresh.append(lines[at])
        elif op == "delete":
            del lines[at]
        elif op == "append":
            lines[at].append(writer.sentence(draw(WORDS)))
        elif op == "edit":
            lines[at][draw(st.integers(0, len(lines[at]) - 1))] = writer.sentence(draw(WORDS))
        elif len(lines[at]) > 1:
            del lines[at][draw(st.integers(0, len(lines[at]) - 1))]
    return lines


@st.composite
def edits(draw: st.DrawFn, start: tuple[dict[str, Any], dict[str, Lines], str], tag: str, rev: str) -> Edited:
    base, texts, gap = start
    writer = Writer(tag)
    author = f"u:{draw(st.integers(1, 3))}"
    edited_at = f"2026-11-20T1{draw(st.integers(0, 1))}:0{draw(st.integers(0, 2))}:00Z"
    visit = copy.deepcopy(base)
    visit["updated_at"], visit["updated_by"] = edited_at, author
    fresh: list[list[str]] = []
    for name in draw(st.lists(st.sampled_from(TEXT_FIELDS), unique=True)):
        visit[name] = render_text(edit_lines(draw, texts[name], writer, fresh), gap)
    actions = visit["actions"]
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["add", "text", "owner", "done", "remove"]))
        if op == "add" or not actions:
            actions.append({"id": f"act-{tag}{writer.count}", "text": writer.sentence(draw(WORDS))})
            continue
        action = actions[draw(st.integers(0, len(actions) - 1))]
        if op == "text":
            action["text"] += " " + writer.sentence(draw(WORDS))
        elif op == "owner":
            action["owner"] = draw(WORDS)
        elif op == "done":
            action["done"] = draw(st.booleans())
        else:
            actions.remove(action)
    if draw(st.booleans()):
        visit["risk_level"] = draw(st.sampled_from(RISK))
    if draw(st.booleans()):
        visit["status"] = draw(st.sampled_from(["draft", "submitted", "returned"]))
    if draw(st.booleans()):
        visit["next_visit_due"] = draw(st.sampled_from([None, "2026-12-01", "2026-12-15"]))
    if draw(st.booleans()):
        visit["decisions_pending"] = draw(st.lists(st.sampled_from(["risk_level", "status"]), unique=True))
    side = Side(content=visit, rev=rev, author=author, edited_at=edited_at, device=f"tab-{tag}")
    return Edited(side, [" ".join(line) for line in fresh])


@st.composite
def concurrent_edits(draw: st.DrawFn) -> tuple[dict[str, Any], Edited, Edited]:
    start = draw(base_visits())
    return start[0], draw(edits(start, "A", "3-aaa")), draw(edits(start, "C", "3-ccc"))


PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sentences(text: str) -> set[str]:
    return {s.strip() for s in split_sentences(text) if s.strip()}


@PROPERTY_SETTINGS
@given(concurrent_edits())
def test_property_symmetric(edited: tuple[dict[str, Any], Edited, Edited]) -> None:
    base, a, b = edited
    assert merge_document(VISIT, base, a.side, b.side) == merge_document(VISIT, base, b.side, a.side)


def assert_nothing_lost(base: dict[str, Any], merged: dict[str, Any], *sides: Edited) -> None:
    base_actions = {action["id"]: action for action in base["actions"]}
    merged_actions = {action["id"]: action for action in merged.get("actions", [])}
    for side in sides:
        content = side.side.content
        for name in TEXT_FIELDS:
            for sentence in sentences(content[name]) - sentences(base[name]):
                assert sentence in merged[name]
            for line in side.fresh_lines:
                if line in content[name].split("\n"):
                    assert line in merged[name]
        for action in content["actions"]:
            if action != base_actions.get(action["id"]):  # added or edited on this side
                kept = merged_actions[action["id"]]
                for sentence in sentences(action["text"]) - sentences(
                    base_actions.get(action["id"], {}).get("text", "")
                ):
                    assert sentence in kept["text"]


@PROPERTY_SETTINGS
@given(concurrent_edits())
def test_property_nothing_written_is_lost(edited: tuple[dict[str, Any], Edited, Edited]) -> None:
    base, a, b = edited
    assert_nothing_lost(base, merge_document(VISIT, base, a.side, b.side).content, a, b)


@st.composite
def three_leaves(draw: st.DrawFn) -> tuple[dict[str, Any], list[Edited]]:
    start = draw(base_visits())
    return start[0], [draw(edits(start, tag, f"3-{tag}")) for tag in ("A", "C", "E")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(three_leaves(), st.permutations(range(3)))
def test_property_three_leaves(leaves: tuple[dict[str, Any], list[Edited]], order: list[int]) -> None:
    base, edited = leaves
    outcome = merge_many(VISIT, base, [e.side for e in edited])
    assert merge_many(VISIT, base, [edited[i].side for i in order]) == outcome
    assert_nothing_lost(base, outcome.content, *edited)
    VISIT.validate(outcome.content)


@PROPERTY_SETTINGS
@given(concurrent_edits())
def test_property_merged_visit_is_valid(edited: tuple[dict[str, Any], Edited, Edited]) -> None:
    base, a, b = edited
    VISIT.validate(base)
    VISIT.validate(a.side.content)
    VISIT.validate(b.side.content)
    outcome = merge_document(VISIT, base, a.side, b.side)
    VISIT.validate(outcome.content)
    for undecided in outcome.undecided:
        for candidate in undecided.values:
            VISIT.validate(apply_decision(VISIT, outcome.content, undecided.field, candidate.value))


@PROPERTY_SETTINGS
@given(concurrent_edits())
def test_property_identities(edited: tuple[dict[str, Any], Edited, Edited]) -> None:
    base, a, b = edited
    same = Side(content=copy.deepcopy(dict(a.side.content)), rev="3-fff", author="u:9", edited_at=THEIRS_AT)
    assert merge_document(VISIT, base, a.side, same) == MergeOutcome(dict(a.side.content))
    unchanged = Side(content=base, rev="2-base", author="u:17", edited_at="2026-11-20T09:30:00Z")
    assert merge_document(VISIT, base, unchanged, b.side) == MergeOutcome(dict(b.side.content))


# --- merged text a person reads -------------------------------------------------------------


def test_merged_text_without_labels_carries_no_raw_ids_or_times() -> None:
    base = {"text": VISIT_TEXT}
    sides = [
        Side(
            content={"text": VISIT_TEXT.replace("tired", "sad")},
            rev="2-aaa",
            author="u:17",
            edited_at=OURS_AT,
        ),
        Side(
            content={"text": VISIT_TEXT.replace("tired", "happy")},
            rev="2-bbb",
            author="u:23",
            edited_at=THEIRS_AT,
        ),
    ]
    text = merge_many(RULES_SCHEMA, base, sides).content["text"]
    assert "[Conflicting edit — a colleague]" in text
    assert "u:17" not in text and "u:23" not in text and "2026-11-20T" not in text


@pytest.mark.parametrize(
    ("base", "versions", "expected"),
    [
        ("One. Two.\n", ["One. Deux.\n", "One. Zwei.\n"], "One. Deux.\nOne. Zwei.\n"),
        ("A\nB\nC", ["A\nX\nC", "A\nY\nC"], "A\nX\nY\nC"),
        ("A\nB\nC", ["A\nX\nC", "A\nX\nC"], "A\nX\nC"),
        ("A\nB\nC", ["A\nC", "A\nY\nC"], "A\nY\nC"),
        ("A\nB", ["A\nB\nD", "A\nE"], "A\nE\nD"),
    ],
    ids=[
        "one-line-two-rewrites",
        "middle-line",
        "same-rewrite-once",
        "deleted-and-rewritten",
        "clean-edits-merge",
    ],
)
def test_combine_keeps_every_version_without_markers(base: str, versions: list[str], expected: str) -> None:
    combined = combine_versions(base, versions)
    assert combined == expected and "[" not in combined
