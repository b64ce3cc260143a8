#!/usr/bin/env python3
"""Before/after table of the sync benchmark's headline figures from the ``--json`` files of several runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository's packages

from tests.bench.harness import DOC, median, write_section

SECTION = "One write path: before and after"
#: A figure is flagged when it is more than this much worse after than before.
WORSE = 0.10


def figures(result: dict[str, Any]) -> dict[str, list[float]]:
    """Every run's headline figures from one engine's result (``asdict(EngineResult)`` of
    bench_sync.py, the same shape before and after the restructuring): initial pulls per batch
    size (Doorstep's, and each Doorstep pull over the pouchdb-server pull that followed it),
    pushes, and merges/s (merge audit events over B's ``_bulk_docs`` server time)."""
    out: dict[str, list[float]] = {}
    runs = result.get("runs", [])
    for batch in sorted({r["batch"] for r in runs if r["kind"] == "pull"}):

        def pulls(target: str, batch: int = batch) -> dict[int, float]:
            return {
                r["run"]: r["ms"] / 1000
                for r in runs
                if (r["kind"], r["target"], r["batch"]) == ("pull", target, batch)
            }

        doorstep, pouch = pulls("doorstep"), pulls("pouchdb-server")
        out[f"pull {batch} s"] = list(doorstep.values())
        out[f"pull {batch} / pouchdb-server"] = [doorstep[i] / pouch[i] for i in doorstep if i in pouch]
    out["push s"] = [r["ms"] / 1000 for r in runs if r["kind"] == "push"]
    timed = (result.get("merge") or {}).get("timed")
    if timed:
        bulk_ms = timed["B"]["breakdown"].get("POST _bulk_docs", {}).get("total_ms", 0.0)
        out["merges/s"] = [timed["check"]["merge_events"] / (bulk_ms / 1000)] if bulk_ms else []
    return {name: values for name, values in out.items() if values}


def higher_is_better(name: str) -> bool:
    return name == "merges/s"


def label(name: str, edits: int) -> str:
    if name.startswith("pull ") and name.endswith(" s"):
        return f"initial pull, batch_size {name.split()[1]} (s)"
    if name.startswith("pull "):
        return f"initial pull, batch_size {name.split()[1]}: Doorstep / pouchdb-server (per pair)"
    if name == "push s":
        return f"push of {edits:,} edits (s)"
    return "merges/s (server `_bulk_docs` time)"


def collect(paths: list[Path]) -> dict[str, dict[str, list[float]]]:
    """engine -> figure -> every run's value, over all the files."""
    out: dict[str, dict[str, list[float]]] = {}
    for path in paths:
        for result in json.loads(path.read_text()):
            for name, values in figures(result).items():
                out.setdefault(result["engine"], {}).setdefault(name, []).extend(values)
    return out


def _values(values: list[float], digits: int) -> str:
    if not values:
        return "–"
    shown = ", ".join(f"{v:,.{digits}f}" for v in values)
    return (
        shown if len(values) == 1 else f"{shown} (range {min(values):,.{digits}f}–{max(values):,.{digits}f})"
    )


def render(before: dict[str, dict[str, list[float]]], after: dict[str, dict[str, list[float]]],
           args: argparse.Namespace) -> tuple[str, list[str]]:  # fmt: skip
    """The section, and the figures more than WORSE worse after than before (by median)."""
    lines = [
        f"## {SECTION}",
        "",
        *args.intro,
        "",
        f"| engine | figure | before: {args.before_label}, every run | after: {args.after_label}, every run "
        "| after / before (medians) | more than 10 % worse? |",
        "|---|---|---|---|---:|---|",
    ]
    worse: list[str] = []
    for engine in sorted(set(before) | set(after)):
        names = list(dict.fromkeys([*before.get(engine, {}), *after.get(engine, {})]))
        for name in names:
            b, a = before.get(engine, {}).get(name, []), after.get(engine, {}).get(name, [])
            digits = 0 if name == "merges/s" else 2
            ratio = median(a) / median(b) if a and b else float("nan")
            bad = ratio < 1 - WORSE if higher_is_better(name) else ratio > 1 + WORSE
            if bad:
                worse.append(f"{engine}: {label(name, args.edits)}")
            lines.append(
                f"| {engine} | {label(name, args.edits)} | {_values(b, digits)} | {_values(a, digits)} "
                f"| **{ratio:.2f}** | {'**yes**' if bad else 'no'} |"
            )
    lines += ["", *args.outro] if args.outro else []
    return "\n".join(lines) + "\n", worse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--before", type=Path, nargs="+", required=True, help="--json files of the runs before")
    p.add_argument("--after", type=Path, nargs="+", required=True, help="--json files of the runs after")
    p.add_argument("--before-label", required=True, help="e.g. the commit, as the table names it")
    p.add_argument("--after-label", required=True)
    p.add_argument("--edits", type=int, default=1000, help="edits per push (as the runs used)")
    p.add_argument("--intro", action="append", default=[], help="a paragraph before the table (repeatable)")
    p.add_argument("--outro", action="append", default=[], help="a paragraph after the table (repeatable)")
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--no-doc", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    section, worse = render(collect(args.before), collect(args.after), args)
    print(section)
    print("more than 10 % worse: " + ("; ".join(worse) if worse else "none"), file=sys.stderr)
    if not args.no_doc:
        write_section(args.doc, SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
