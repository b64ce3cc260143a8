"""Working-day arithmetic for statutory visit timescales (weekends excluded).

Both functions are closed-form (the case list works out a timescale for every case on the
page, so a day-by-day loop over a 20-working-day frequency cost more than the query did).
"""

from __future__ import annotations

from datetime import date, timedelta


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (Saturdays and Sundays skipped).

    Bank holidays are not excluded: councils' timescales differ on them, and counting them
    as working days errs towards visiting earlier, never later.
    """
    if days <= 0:
        return start
    weekday = start.weekday()
    if weekday >= 5:  # counting from a weekend day is counting from the Friday before it
        start -= timedelta(days=weekday - 4)
        weekday = 4
    weeks, rest = divmod(days, 5)
    # ``rest`` more working days from ``weekday`` cross one weekend when they pass Friday.
    return start + timedelta(days=7 * weeks + rest + (2 if weekday + rest >= 5 else 0))


def _working_days_to(day: date) -> int:
    """Working days from 1 January of year 1 (a Monday) up to and including ``day``."""
    weeks, rest = divmod(day.toordinal(), 7)
    return 5 * weeks + min(rest, 5)


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative if end < start)."""
    return _working_days_to(end) - _working_days_to(start)
