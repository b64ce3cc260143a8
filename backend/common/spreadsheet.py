"""Cells for CSV exports that a spreadsheet shows as text and never runs as a formula."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

#: What makes Excel, LibreOffice or Google Sheets read a cell as a formula (OWASP "CSV
#: injection"): the four formula signs, and tab or CR, after which some of them skip ahead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> str:
    """``value`` as CSV cell text: None is empty, dicts and lists are JSON, and text that a
    spreadsheet would run is prefixed with ``'`` (shown as text, the value still readable)."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def spreadsheet_row(values: Iterable[Any]) -> list[str]:
    """Every cell of one CSV row through ``spreadsheet_cell``: no column is trusted."""
    return [spreadsheet_cell(value) for value in values]
