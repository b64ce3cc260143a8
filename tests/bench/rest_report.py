"""The REST benchmark's report: the section "REST API and document store (foundation)"."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.bench.cpu import CORES
from tests.bench.harness import fmt as _f
from tests.bench.rest_load import Phase

SECTION = "REST API and document store (foundation)"

#: The targets this benchmark reports against (from the foundation issue).
TARGET_P95_MS = 100.0


TARGET_WRITES_PER_S = 500.0


@dataclass
class EngineResult:
    engine: str
    version: str
    settings_note: str
    seed_s: float
    data: str
    inproc: dict[str, Any]
    phases: list[Phase]
    users: str
    loadavg_before: str


def _ratio_p95(p: Phase) -> str:
    ratio = p.p95_ms / TARGET_P95_MS
    return f"{ratio:.2f}× ({'met' if ratio <= 1 else 'missed'})"


def _ratio_writes(per_s: float) -> str:
    ratio = per_s / TARGET_WRITES_PER_S
    return f"{ratio:.2f}× ({'met' if ratio >= 1 else 'missed'})"


def render(results: list[EngineResult], facts: dict[str, str], args: argparse.Namespace) -> str:
    now = datetime.now().astimezone()
    lines = [
        f"## {SECTION}",
        "",
        f"Measured {now:%Y-%m-%d %H:%M %Z} by `tests/bench/bench_rest.py` (run by hand, not in CI; "
        "see `tests/bench/README.md`). This section is rewritten by each run.",
        "",
        f"- **Machine**: {facts['nproc']} cores (`nproc`), {facts['cpu']}, {facts['memory']} RAM, "
        f"Linux {facts['kernel']}. Server, database and load generator all share these cores.",
        f"- **Software**: Python {facts['python']}, Django {facts['django']}, uvicorn {facts['uvicorn']} "
        f"(uvloop, httptools), psycopg {facts['psycopg']}, httpx {facts['httpx']} (load generator); "
        f"commit {facts['commit']}.",
    ]
    for r in results:
        lines.append(
            f"- **{r.engine}**: {r.version} ({r.settings_note}); demo council seeded in {r.seed_s:.0f} s "
            f"(real PBKDF2 hashing); at the end: {r.data}; load average before: {r.loadavg_before}."
        )
    lines += [
        f"- **Method**: {args.clients} concurrent clients over loopback, closed loop with no think time "
        f"(each sends its next request as soon as the previous one is answered), {args.warmup} warm-up "
        f"requests then {args.requests} measured per read scenario; {args.write_warmup} + {args.writes} "
        "per write scenario. *Case list*: `GET /api/cases/` (first page, up to 50 cases). *Visit detail*: "
        "`GET /api/visits/{id}/` on visits the client's user may read (found through "
        "`GET /api/cases/{case}/visits/`); each read writes an audit event. *Visit create*: "
        "`POST /api/cases/{id}/visits/` with ~3 KB of content on the user's own cases. *In-process*: "
        "`document_create` then `document_update` (full replace) in a loop, one writer, no server running.",
        f"- **Clients**: {results[0].users if results else ''}.",
        "- **Columns**: latencies in ms as the client sees them. *server CPU*: CPU time of the uvicorn "
        "processes per request; *db CPU*: PostgreSQL's per request — the bench database's backends, "
        "including those that lived for one request, and the server's own processes (– for SQLite, which "
        f"runs inside the server); *CPU-bound ceiling*: {CORES} cores divided by the CPU time that server, "
        "database and load generator spent per request — the most an otherwise idle machine could serve, "
        "hardly distorted by other load (with 20 clients and no think time, mean latency ≥ 20 / ceiling); "
        "*machine*: all cores busy, % of the machine; *others*: processes not part of the benchmark "
        "(e.g. someone's test run) and busy time none of ours explains, % of one core — figures with a "
        "large value there are pessimistic.",
        f"- **Targets**: p95 ≤ {TARGET_P95_MS:.0f} ms for case list and visit detail with 20 concurrent "
        f"clients; ≥ {TARGET_WRITES_PER_S:.0f} visit writes/s on PostgreSQL.",
        "",
        "### Reads and HTTP writes",
        "",
        "| engine | workers | scenario | clients | requests | errors | req/s | p50 | p95 | p99 | p95 vs target "
        "| server CPU ms/req | db CPU ms/req | CPU-bound ceiling req/s | machine | others | peak PG conns |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for p in r.phases:
            is_read = p.scenario in ("case list", "visit detail")
            scenario = p.scenario + (f" — {p.note}" if p.note else "")
            lines.append(
                f"| {p.engine} | {p.workers} | {scenario} | {p.concurrency} | {p.requests} | {p.errors} "
                f"| {_f(p.throughput)} | {_f(p.p50_ms)} | {_f(p.p95_ms)} | {_f(p.p99_ms)} "
                f"| {_ratio_p95(p) if is_read and not p.note else '–'} "
                f"| {_f(p.server_cpu_ms)} | {_f(p.db_cpu_ms)} | {_f(p.ceiling_rps, 0)} "
                f"| {_f(p.machine_cpu_pct, 0)} % "
                f"| {_f(p.foreign_cpu_pct, 0)} % | {p.peak_db_conns if p.peak_db_conns is not None else '–'} |"
            )
    lines += [
        "",
        "### Visit writes per second",
        "",
        "| engine | path | writers | writes/s | vs 500/s | ms per write | of which in the DB driver "
        "| statements per write |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        i = r.inproc
        for kind in ("create", "update"):
            lines.append(
                f"| {r.engine} | in-process `document_{kind}` | 1 | {_f(i[f'{kind}_per_s'])} "
                f"| {_ratio_writes(i[f'{kind}_per_s'])} | {_f(i[f'{kind}_ms'], 2)} | {_f(i[f'{kind}_db_ms'], 2)} "
                f"(COMMIT {_f(i['commit_ms'], 2)}) | {i[f'queries_per_{kind}']} + COMMIT |"
            )
        for p in r.phases:
            if p.scenario.startswith("visit create"):
                lines.append(
                    f"| {r.engine} | HTTP POST, uvicorn --workers {p.workers} | {p.concurrency} "
                    f"| {_f(p.throughput)} | {_ratio_writes(p.throughput)} "
                    f"| {_f(p.server_cpu_ms, 2)} server CPU | – | – |"
                )
    lines += ["", "### Against the targets", ""]
    for r in results:
        for scenario in ("case list", "visit detail"):
            ps = [p for p in r.phases if p.scenario == scenario and not p.note]
            if not ps:
                continue
            best = min(ps, key=lambda p: p.p95_ms)
            others = ", ".join(f"{_f(p.p95_ms)} ms with {p.workers}" for p in ps if p is not best)
            lines.append(
                f"- {r.engine}, {scenario}: best p95 {_f(best.p95_ms)} ms (uvicorn --workers {best.workers}) "
                f"= {_ratio_p95(best)} against ≤ {TARGET_P95_MS:.0f} ms"
                + (f"; {others} worker(s)" if others else "")
                + f". At its CPU cost per request the machine could serve at most {_f(best.ceiling_rps, 0)} req/s, "
                f"so {best.concurrency} clients without think time would wait ≥ "
                f"{best.concurrency / best.ceiling_rps * 1000:.0f} ms on average even with nothing else running."
            )
        http = [p for p in r.phases if p.scenario.startswith("visit create")]
        best_http = max(http, key=lambda p: p.throughput) if http else None
        applies = "" if r.engine == "postgres" else " (the target is stated for PostgreSQL; shown for scale)"
        inproc = r.inproc["create_per_s"]
        lines.append(
            f"- {r.engine}, visit writes: in-process {_f(inproc, 0)} creates/s = {_ratio_writes(inproc)}"
            + (
                f"; over HTTP at best {_f(best_http.throughput, 0)}/s ({best_http.concurrency} writers, "
                f"--workers {best_http.workers}) = {_ratio_writes(best_http.throughput)}"
                if best_http
                else ""
            )
            + f"{applies}."
        )
        for p in r.phases:
            if p.errors:
                lines.append(
                    f"- {r.engine}, {p.scenario} (--workers {p.workers}, {p.concurrency} clients): {p.errors} of "
                    f"{p.requests} requests failed (statuses {p.statuses})."
                )
    contended = [p for r in results for p in r.phases if p.foreign_cpu_pct > 15]
    if contended:
        lines.append(
            f"- {len(contended)} phase(s) ran while other processes used over 15 % of a core (column "
            "*others*); their figures are pessimistic."
        )
    return "\n".join(lines) + "\n"
