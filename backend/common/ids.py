"""Document and case identifiers: ``<type>:<ULID>``."""

from __future__ import annotations

import re

from ulid import ULID

ID_PATTERN = re.compile(r"^(case|person|visit|note|addendum):[0-9A-Z]{26}$")


def new_id(doc_type: str) -> str:
    return f"{doc_type}:{ULID()}"


def doc_type_of(doc_id: str) -> str | None:
    """The type prefix of a well-formed document id, else None."""
    match = ID_PATTERN.match(doc_id)
    return match.group(1) if match else None
