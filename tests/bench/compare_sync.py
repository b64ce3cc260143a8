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


def collect(paths: list[Path]) -> dict[str, dict[str, list[list[float]]]]:
    """engine -> figure -> each run's values, one list per file (a sitting), in the given order."""
    out: dict[str, dict[str, list[list[float]]]] = {}
    for path in paths:
        for result in json.loads(path.read_text()):
            for name, values in figures(result).items():
                out.setdefault(result["engine"], {}).setdefault(name, []).append(values)
    return out


def _values(rounds: list[list[float]], digits: int) -> str:
    if not rounds:
        return "–"
    return "; ".join(", ".join(f"{v:,.{digits}f}" for v in values) for values in rounds)


def _is_worse(name: str, ratio: float) -> bool:
    return ratio < 1 - WORSE if higher_is_better(name) else ratio > 1 + WORSE


def render(before: dict[str, dict[str, list[list[float]]]], after: dict[str, dict[str, list[list[float]]]],
           args: argparse.Namespace) -> tuple[str, list[str]]:  # fmt: skip
    """The section, and the figures more than WORSE worse after than before. Files pair up in
    the order given (the i-th before with the i-th after of each engine: one round each); the
    ratio of each round divides the medians of its two runs, so a change of load between
    rounds does not count as a change of code."""
    lines = [
        f"## {SECTION}",
        "",
        *args.intro,
        "",
        f"| engine | figure | before: {args.before_label}, every run (rounds split by ;) "
        f"| after: {args.after_label}, every run | after / before, each round (medians) "
        "| more than 10 % worse? |",
        "|---|---|---|---|---:|---|",
    ]
    worse: list[str] = []
    for engine in sorted(set(before) | set(after)):
        names = list(dict.fromkeys([*before.get(engine, {}), *after.get(engine, {})]))
        for name in names:
            b, a = before.get(engine, {}).get(name, []), after.get(engine, {}).get(name, [])
            digits = 0 if name == "merges/s" else 2
            ratios = [median(x) / median(y) for x, y in zip(a, b, strict=False) if x and y]
            bad = [_is_worse(name, r) for r in ratios]
            verdict = (
                "no"
                if not any(bad)
                else (
                    "**yes**"
                    if all(bad)
                    else f"in round {', '.join(str(i + 1) for i, x in enumerate(bad) if x)} of {len(bad)}"
                )
            )
            if any(bad):
                worse.append(f"{engine}: {label(name, args.edits)} ({verdict})")
            lines.append(
                f"| {engine} | {label(name, args.edits)} | {_values(b, digits)} | {_values(a, digits)} "
                f"| **{' ; '.join(f'{r:.2f}' for r in ratios) or '–'}** | {verdict} |"
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
