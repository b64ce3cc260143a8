"""The fast validator (jsonschema-rs) never accepts what jsonschema (the authority) refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import InvalidDocument, load_schemas

SCHEMAS = load_schemas()
VISIT = SCHEMAS["visit"]
BASE = {
    "author": "u:1",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "status": "draft",
    "visit_date": "2026-01-01T10:00:00Z",
    "visit_type": "planned",
}

EDGE_DATES = [
    "2026-01-01T00:00:00",
    "2026-01-01 00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T23:59:60Z",
    "2026-01-01T00:00:00.123456789+01:00",
    "2026-01-01t00:00:00z",
    "2026-01-01T00:00:00+25:00",
    "20260101T000000Z",
    "",
    "2026-1-1T00:00:00Z",
]


def _python_accepts(content):
    return not any(True for _ in VISIT.errors(content))


def test_fast_validator_is_in_use():
    assert VISIT.fast_validator is not None


@pytest.mark.parametrize("value", EDGE_DATES)
def test_date_time_edge_cases_agree(value):
    content = {**BASE, "visit_date": value}
    assert VISIT.fast_validator.is_valid(content) == _python_accepts(content)


@pytest.mark.parametrize("value", ["2026-02-29", "2028-02-29", "2026-1-01", "2026-01-01T00:00:00Z", "x"])
def test_date_edge_cases_agree(value):
    content = {**BASE, "next_visit_due": value}
    assert VISIT.fast_validator.is_valid(content) == _python_accepts(content)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "text", "x", "person_id", "seen"]), inner, max_size=3)
    ),
    max_leaves=8,
)
field_names = st.sampled_from([*VISIT.rules, "unknown"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(field_names, json_values, max_size=4))
def test_never_more_permissive(changes):
    content = {**BASE, **changes}
    if VISIT.fast_validator.is_valid(content):
        VISIT.validate(content)  # must not raise
        assert _python_accepts(content)
    else:
        with pytest.raises(InvalidDocument):
            VISIT.validate(content)
