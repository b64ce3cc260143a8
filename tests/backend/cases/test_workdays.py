"""Working-day arithmetic: named cases, and agreement with counting day by day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from backend.cases.workdays import add_working_days, working_days_between

# 2026-11-23 is a Monday.
MON, FRI, SAT, SUN = date(2026, 11, 23), date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 29)

ADD_CASES = {
    "zero days is the start itself": (MON, 0, MON),
    "negative days is the start itself": (FRI, -3, FRI),
    "one day from Monday is Tuesday": (MON, 1, date(2026, 11, 24)),
    "one day from Friday is Monday": (FRI, 1, date(2026, 11, 30)),
    "one day from Saturday is Monday": (SAT, 1, date(2026, 11, 30)),
    "one day from Sunday is Monday": (SUN, 1, date(2026, 11, 30)),
    "five days is a week": (MON, 5, date(2026, 11, 30)),
    "five days from Sunday is Friday": (SUN, 5, date(2026, 12, 4)),
    "ten working days (child protection)": (date(2026, 11, 25), 10, date(2026, 12, 9)),
    "twenty working days across the new year": (date(2026, 12, 21), 20, date(2027, 1, 18)),
}


@pytest.mark.parametrize(("start", "days", "expected"), ADD_CASES.values(), ids=ADD_CASES.keys())
def test_add_working_days(start: date, days: int, expected: date) -> None:
    assert add_working_days(start, days) == expected


BETWEEN_CASES = {
    "same day": (MON, MON, 0),
    "Friday to Monday": (FRI, date(2026, 11, 30), 1),
    "Friday to Sunday": (FRI, SUN, 0),
    "Saturday to Sunday": (SAT, SUN, 0),
    "Monday to Friday": (MON, FRI, 4),
    "backwards is negative": (date(2026, 11, 30), FRI, -1),
}


@pytest.mark.parametrize(("start", "end", "expected"), BETWEEN_CASES.values(), ids=BETWEEN_CASES.keys())
def test_working_days_between(start: date, end: date, expected: int) -> None:
    assert working_days_between(start, end) == expected


def _add_day_by_day(start: date, days: int) -> date:
    current, remaining = start, days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def _between_day_by_day(start: date, end: date) -> int:
    if end < start:
        return -_between_day_by_day(end, start)
    return sum(1 for n in range(1, (end - start).days + 1) if (start + timedelta(days=n)).weekday() < 5)


def test_closed_forms_agree_with_counting_day_by_day() -> None:
    for offset in range(21):  # three weeks of start days, every weekday and weekend day
        start = date(2026, 12, 14) + timedelta(days=offset)
        for days in range(-2, 70):
            assert add_working_days(start, days) == _add_day_by_day(start, days), (start, days)
        for span in range(-45, 46):
            end = start + timedelta(days=span)
            assert working_days_between(start, end) == _between_day_by_day(start, end), (start, end)
