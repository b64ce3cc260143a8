"""The ``doorstep`` command."""

from __future__ import annotations


def main() -> int:
    raise SystemExit("doorstep client: not implemented yet")
