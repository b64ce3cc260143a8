"""The sync benchmark's report: the section "Replication (/sync/caseload)" and what all three sections share."""

from __future__ import annotations

import argparse
import re
from datetime import datetime

from tests.bench.harness import fmt as _f
from tests.bench.harness import median
from tests.bench.sync_load import STORE_CALL, case_mix
from tests.bench.sync_measure import EngineResult, Run

SECTIONS = ("Replication (/sync/caseload)", "Encryption cost", "Merging concurrent edits")

#: Targets from the issues.
TARGET_PULL_S = 10.0


TARGET_PULL_RATIO = 1.0


TARGET_NOCHANGE_MS = 50.0


TARGET_NOCHANGE_RATIO = 1.5


TARGET_PUSH_S = 3.0


TARGET_CRYPTO_SHARE = 0.20


TARGET_MERGES_PER_S = 500.0


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def pct(x: float) -> str:
    return "–" if x != x else f"{x * 100:.1f} %"


def runs_of(res: EngineResult, kind: str, target: str = "doorstep", batch: int | None = None) -> list[Run]:
    return [
        r for r in res.runs if r.kind == kind and r.target == target and (batch is None or r.batch == batch)
    ]


def median_run(runs: list[Run]) -> Run | None:
    if not runs:
        return None
    ordered = sorted(runs, key=lambda r: r.ms)
    return ordered[(len(ordered) - 1) // 2]


def header(
    facts: dict[str, str], results: list[EngineResult], args: argparse.Namespace, script: str
) -> list[str]:
    now = datetime.now().astimezone()
    lines = [
        f"Measured {now:%Y-%m-%d %H:%M %Z} by `{script}` (run by hand, not in CI; see "
        "`tests/bench/README.md`); this section is rewritten by each run.",
        "",
        f"- **Machine**: {facts['nproc']} cores, {facts['cpu']}, {facts['memory']} RAM, Linux {facts['kernel']}; "
        "shared with other work: server, database, Node client and load generator all run on these two cores.",
        f"- **Software**: Python {facts['python']}, Django {facts['django']}, uvicorn {facts['uvicorn']} "
        f"(one process), psycopg {facts['psycopg']}, cryptography {facts['cryptography']}; Node {facts['node']}, "
        f"PouchDB {facts['pouchdb']} (memory adapter), pouchdb-server {facts['pouchdb_server']} (`--in-memory`); "
        f"{facts['py_spy']}; code: {facts['commit']}.",
    ]
    for r in results:
        lines.append(f"- **{r.engine}**: {r.version} ({r.notes}).")
    return lines


def render_replication(
    results: list[EngineResult], facts: dict[str, str], args: argparse.Namespace, script: str, cmdline: str
) -> str:
    lines = [f"## {SECTIONS[0]}", "", *header(facts, results, args, f"{script} {cmdline}")]
    if results:
        for part in (
            _setup_lines,
            _pull_lines,
            _nochange_lines,
            _feed_plan_lines,
            _push_lines,
            _replication_targets,
        ):
            lines += part(results, args)
    return "\n".join(lines) + "\n"


def _setup_lines(results: list[EngineResult], args: argparse.Namespace) -> list[str]:
    """The data, how it was loaded and checked, and how busy the machine was."""
    lines: list[str] = []
    r0 = results[0]
    load = r0.setup.get("load", {})
    ct = load.get("ct_sizes", {})
    per = args.per_case
    mix = case_mix(per)
    lines += [
        f"- **Data**: one practitioner (`bench.worker`) holds {args.cases} cases × {per} documents = "
        f"{args.cases * per:,} documents (per case: the case document, {mix['person']} people, "
        f"{mix['visit']} visits and {mix['note']} notes; visits cycle through draft, submitted, submitted, "
        "returned, signed off), plus one key envelope "
        f"per case in the device's feed. Average `enc.ct` (base64): visit {_f(ct.get('visit', 0), 0)} B, note "
        f"{_f(ct.get('note', 0), 0)} B, person {_f(ct.get('person', 0), 0)} B. Other practitioners' cases fill "
        f"the rest of the database: first {args.small_others:,} other documents (**{args.cases * per + args.small_others:,}** "
        f"in all: the 20k state), then {args.others:,} (**{args.cases * per + args.others:,}** in all: the 200k "
        "state, in which the initial pulls and pushes run). The caseload's documents are interleaved with the "
        "first others in the global sequence; the growth comes after them.",
        "- **How the data is loaded**: writing 210,000 documents through `document_create` one transaction "
        "each would take hours on this machine, so the loader (`tests/bench/sync_load.py`) hands the records "
        f"app's own batch store {args.load_batch:,} new documents per transaction (`{STORE_CALL}`: revision "
        "paths, trees, sequence numbers, `Document` and `Revision` rows, the `VisitRecord` projection, each "
        "case's `last_visit_on` and document counters), with bodies sealed by `backend.records.codec.seal` "
        "under each case's real key (looked up once per batch through the keys app's own cache) and a `create` "
        f"audit event each (`audit_record_many`). Every {args.validate_every}th document is also validated "
        "against its schema. Cases, case keys and allocations go through the real services (`case_create`, "
        "`allocation_add`).",
    ]
    for r in results:
        v, s = r.verify, r.setup
        lines.append(
            f"- **Check, {r.engine}**: the device's `_changes` feed lists {v.get('feed_documents', 0):,} documents + "
            f"{v.get('feed_envelopes', 0)} key envelopes = {v.get('feed', 0):,} (expected {args.cases * per:,} + "
            f"{args.cases}) and the database info's `doc_count` is {v.get('doc_count', 0):,}; "
            f"{v.get('rest_checked', 0)} sampled visits read back through `GET /api/visits/{{id}}/` "
            "decrypt to exactly the generated content; pouchdb-server was loaded by replicating the device's "
            f"replica to it ({v.get('pouchdb_server_docs', 0):,} documents, same ids, revisions and histories). "
            f"Load: {s.get('state1_seconds', 0):.0f} s for the 20k state, {s.get('state2_seconds', 0):.0f} s to "
            f"grow to the 200k state ({s.get('state2_counts', {}).get('documents', 0):,} documents, "
            f"{s.get('state2_counts', {}).get('revisions', 0):,} revisions, "
            f"{s.get('state2_counts', {}).get('audit_events', 0):,} audit events)."
        )
    lines += [
        f"- **Load**: before every timed run the script waited for the 1-minute load average to fall below "
        f"{args.load_threshold} — at most {args.quiet_wait:.0f} s before the first run of a series, "
        f"{args.quiet_wait_between:.0f} s before the others (the runs themselves raise it); the load average "
        "(1, 5, 15 min, as `uptime` shows it) at the start of each run is given next to its figure. Runs that "
        "started above the threshold are pessimistic.",
    ]
    return lines


def _pull_lines(results: list[EngineResult], args: argparse.Namespace) -> list[str]:
    """Initial pulls against pouchdb-server, where their time goes, and one batch replayed in-process."""
    per = args.per_case
    lines = [
        "",
        f"### Initial pull ({args.cases * per:,} documents)",
        "",
        "A PouchDB 9 tablet in Node (memory adapter) replicates the whole caseload into an empty replica, timed "
        "from `PouchDB.replicate()` to its `complete` event; Doorstep is `/sync/caseload` with a device token of "
        "a device enrolled just before (its key envelopes are issued during the pull), while the database holds "
        f"the {args.others:,} other documents; pouchdb-server serves the same wire documents from memory. "
        f"{args.runs} runs each, Doorstep and pouchdb-server alternating; the median is the figure.",
        "",
        "| engine | batch_size | Doorstep runs (s) | Doorstep median | pouchdb-server runs (s) | pouchdb-server median "
        "| ratio Doorstep / pouchdb-server | ≤ 10 s | ratio ≤ 1.0 | load at each Doorstep run |",
        "|---|---:|---|---:|---|---:|---:|---|---|---|",
    ]
    for r in results:
        for batch in args.batch_sizes:
            d = runs_of(r, "pull", "doorstep", batch)
            p = runs_of(r, "pull", "pouchdb-server", batch)
            dm = median([x.ms / 1000 for x in d])
            pm = median([x.ms / 1000 for x in p])
            ratio = dm / pm if pm else float("nan")
            lines.append(
                f"| {r.engine} | {batch} | {', '.join(_f(x.ms / 1000, 2) for x in d)} | **{_f(dm, 2)} s** "
                f"| {', '.join(_f(x.ms / 1000, 2) for x in p)} | {_f(pm, 2)} s | **{_f(ratio, 2)}** "
                f"| {verdict(dm <= TARGET_PULL_S)} | {verdict(ratio <= TARGET_PULL_RATIO)} "
                f"| {'; '.join(x.load for x in d)} |"
            )
    lines += [
        "",
        "Where a pull's time goes (the median Doorstep run of each batch size): *server busy* is the sum of the "
        "server's own per-request times (`tests/bench/asgi.py`: from the ASGI call to the last body byte, on "
        "uvicorn's loopback), by request kind; CPU seconds during the run for the server process, the Node "
        "client (PouchDB) and PostgreSQL, next to pouchdb-server's median run.",
        "",
        "| engine | batch_size | wall | requests | server busy | by request: total s (n, median ms) | CPU server / Node / PostgreSQL | pouchdb-server: CPU server / Node |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    for r in results:
        for batch in args.batch_sizes:
            d = median_run(runs_of(r, "pull", "doorstep", batch))
            p = median_run(runs_of(r, "pull", "pouchdb-server", batch))
            if d is None:
                continue
            parts = "; ".join(
                f"{k}: {v['total_ms'] / 1000:.2f} s ({v['n']}, {v['median_ms']:.0f} ms)"
                for k, v in d.breakdown.items()
            )
            pcpu = f"{p.cpu.get('server', 0):.1f} / {p.cpu.get('node', 0):.1f} s" if p else "–"
            lines.append(
                f"| {r.engine} | {batch} | {d.ms / 1000:.2f} s | {d.requests} | {d.server_ms / 1000:.2f} s | {parts} "
                f"| {d.cpu.get('server', 0):.1f} / {d.cpu.get('node', 0):.1f} / "
                f"{(_f(d.cpu.get('pg', 0)) + ' s') if r.engine == 'postgres' else '–'} | {pcpu} |"
            )
    batch_lines = []
    for r in results:
        pb = (r.explain.get("210k") or {}).get("pull_batch")
        if pb:
            parts = "; ".join(
                f"`{q['method']} {q['path'].replace('/sync/caseload', '') or '/'}` {q['ms']:.1f} ms "
                f"({len(q['statements'])} statements, {q['db_ms']:.1f} ms in the driver, {q['bytes'] / 1024:.0f} KiB)"
                for q in pb
            )
            batch_lines.append(f"- {r.engine}: {parts}.")
    if batch_lines:
        lines += [
            "",
            "One batch of an initial pull replayed in-process (Django's test client, 200k state, median of 5 after "
            "2 warm-ups): `_changes` from since=0 with limit 100, the `_bulk_get?revs=true&latest=true` of those "
            "100 documents that follows, and the database info PouchDB asks for after each batch:",
            "",
            *batch_lines,
        ]
        for r in results:
            for q in (r.explain.get("210k") or {}).get("pull_batch") or []:
                if q["path"].endswith("_bulk_get") and q.get("slowest_plan"):
                    slow = max(q["statements"], key=lambda st: st[0])
                    lines += [
                        "",
                        f"The slowest statement of that `_bulk_get`, {r.engine} ({slow[0]:.1f} ms): "
                        f"`{q['slowest'][:160]}…`",
                        "",
                        "```",
                        *q["slowest_plan"],
                        "```",
                    ]
    return lines


def _nochange_lines(results: list[EngineResult], args: argparse.Namespace) -> list[str]:
    """No-change syncs in both states, and their ratio."""
    lines: list[str] = []
    lines += [
        "",
        "### No-change sync",
        "",
        "The main tablet, up to date, runs one more one-shot pull replication "
        f"{args.nochange_runs} times in a row (nothing new on either side), in the 20k and in the 200k state; the "
        "practitioner's caseload is the same in both. *Server time* is the server's own time per request "
        "(ASGI wrapper, as above), summed over the requests of one sync; the target is applied to that whole-sync "
        "figure. *Client* is the Node client's wall time for the whole replication (PouchDB's own work included).",
        "",
        "| engine | documents in the database | requests per sync | server time per sync: median / p95 | p95 ≤ 50 ms "
        "| per request (server): median / p95 ms | client wall per sync: median / p95 | load |",
        "|---|---:|---:|---:|---|---|---:|---|",
    ]
    for r in results:
        for state, docs_key in (("20k", "state1_counts"), ("210k", "state2_counts")):
            st = r.nochange.get(state)
            if not st:
                continue
            docs = r.setup.get(docs_key, {}).get("documents", 0)
            per_req = "; ".join(
                f"{k}: {v['median_ms']:.1f} / {v['p95_ms']:.1f}" for k, v in st["server_per_request"].items()
            )
            lines.append(
                f"| {r.engine} | {docs:,} | {st['requests_per_sync']:.0f} | **{st['server_whole_ms']['median']:.1f} / "
                f"{st['server_whole_ms']['p95']:.1f} ms** | {verdict(st['server_whole_ms']['p95'] <= TARGET_NOCHANGE_MS)} "
                f"| {per_req} | {st['client_whole_ms']['median']:.1f} / {st['client_whole_ms']['p95']:.1f} ms "
                f"| {st['load']} |"
            )
    lines += [
        "",
        "| engine | server time per sync, 200k state / 20k state (medians) | p95s | ≤ 1.5 |",
        "|---|---:|---:|---|",
    ]
    for r in results:
        a, b = r.nochange.get("20k"), r.nochange.get("210k")
        if not a or not b:
            continue
        ratio = b["server_whole_ms"]["median"] / a["server_whole_ms"]["median"]
        ratio95 = b["server_whole_ms"]["p95"] / a["server_whole_ms"]["p95"]
        lines.append(
            f"| {r.engine} | **{ratio:.2f}** | {ratio95:.2f} | {verdict(ratio <= TARGET_NOCHANGE_RATIO)} |"
        )
    return lines


def _feed_plan_lines(results: list[EngineResult], args: argparse.Namespace) -> list[str]:
    """The feed query's plan and the statements of each request of a no-change sync."""
    lines: list[str] = []
    lines += [
        "",
        "The feed query of a no-change sync (`backend/syncapi/feed.py` `document_changes`, as `_changes` runs it "
        "with the device's checkpoint and `limit=101`), planned in the 200k state, and its in-process time in "
        "both states; below it, the statements each request of a no-change sync runs (replayed in-process "
        "through Django's test client with the same path and query string).",
        "",
    ]
    for r in results:
        big, small = r.explain.get("210k"), r.explain.get("20k")
        if not big:
            continue
        label = "EXPLAIN (ANALYZE, BUFFERS)" if r.engine == "postgres" else "EXPLAIN QUERY PLAN"
        lines += [
            f"**{r.engine}** — {label}, {big['documents']:,} documents, {big['cases']} cases in the subset, "
            f"{big['rows']} rows returned; query time in-process: median {small['query_ms_median']:.2f} ms "
            f"(20k) → {big['query_ms_median']:.2f} ms (200k), p95 {small['query_ms_p95']:.2f} → "
            f"{big['query_ms_p95']:.2f} ms.",
            "",
            "```",
            big["sql"],
            "",
            *big["plan"],
            "```",
            "",
        ]
        indexes = big.get("indexes") or {}
        if indexes:
            plan_text = "\n".join(big["plan"])
            case_seq = [n for n, cols in indexes.items() if cols == ["case_id", "seq"]]
            used = [n for n in indexes if re.search(rf"\b{re.escape(n)}\b", plan_text)]
            listed = "; ".join(f"`{n}` ({', '.join(cols)})" for n, cols in sorted(indexes.items()))
            verdict = (
                ("uses it" if any(n in used for n in case_seq) else "does **not** use it")
                if case_seq
                else "(there is no such index)"
            )
            lines += [
                f"Indexes of `records_document`: {listed}. The (case_id, seq) index is "
                f"`{', '.join(case_seq) or '–'}`; this plan {verdict}"
                + (
                    f" (it uses {', '.join(f'`{n}`' for n in used)})."
                    if used
                    else " (it uses no index on the table)."
                ),
                "",
            ]
        for q in big["requests"]:
            lines.append(
                f"- `{q['method']} {q['path'].split('?')[0]}`: {len(q['statements'])} statements, "
                f"{q['db_ms']:.1f} ms in the database driver of {q['ms']:.1f} ms in-process (200k state)."
            )
        lines.append("")
    return lines


def _push_lines(results: list[EngineResult], args: argparse.Namespace) -> list[str]:
    """Pushes of edited visits, and one clean replicated write replayed in-process."""
    lines: list[str] = []
    lines += [
        "### Push of 1,000 edited visits",
        "",
        f"The main tablet, after its pull and one push that had nothing to send (so its push checkpoint is "
        f"current), edits {args.edits:,} visits offline (decrypt with WebCrypto, append a sentence to the "
        "analysis, new `updated_at`/`updated_by`, re-encrypt under the case's current key, `bulkDocs`) and pushes "
        "them in one replication (`batch_size` 100: `_revs_diff` + `_bulk_docs` per 100); each run edits "
        "different visits. The database is in the 200k state.",
        "",
        "| engine | runs (s) | median | ≤ 3 s | documents written | server busy (median run) | of which `_bulk_docs` | per document | load at each run |",
        "|---|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        runs = runs_of(r, "push")
        if not runs:
            continue
        m = median_run(runs)
        assert m is not None
        bulk = m.breakdown.get("POST _bulk_docs", {}).get("total_ms", float("nan"))
        med = median([x.ms / 1000 for x in runs])
        lines.append(
            f"| {r.engine} | {', '.join(_f(x.ms / 1000, 2) for x in runs)} | **{med:.2f} s** | {verdict(med <= TARGET_PUSH_S)} "
            f"| {m.docs_written:,} | {m.server_ms / 1000:.2f} s | {bulk / 1000:.2f} s | {bulk / max(1, m.docs_written):.1f} ms "
            f"| {'; '.join(x.load for x in runs)} |"
        )
    warm = [(r.engine, runs_of(r, "warm-push")) for r in results]
    warm_text = "; ".join(f"{e}: {w[0].ms / 1000:.1f} s ({w[0].requests} requests)" for e, w in warm if w)
    if warm_text:
        lines += ["", f"(The first push after the initial pull, with nothing to send, took {warm_text}: PouchDB asks "
                  "`_revs_diff` about every pulled document once.)"]  # fmt: skip
    lines += writes_lines(results, "clean", "A clean replicated write")
    return lines


def _replication_targets(results: list[EngineResult], args: argparse.Namespace) -> list[str]:
    """Each replication figure against its target."""
    lines: list[str] = []
    lines += ["", "### Against the targets", ""]
    for r in results:
        for batch in args.batch_sizes:
            dm = median([x.ms / 1000 for x in runs_of(r, "pull", "doorstep", batch)])
            pm = median([x.ms / 1000 for x in runs_of(r, "pull", "pouchdb-server", batch)])
            lines.append(
                f"- {r.engine}, initial pull (batch_size {batch}): {dm:.2f} s against ≤ {TARGET_PULL_S:.0f} s — "
                f"{verdict(dm <= TARGET_PULL_S)}; {dm / pm:.2f}× pouchdb-server ({pm:.2f} s) against ≤ "
                f"{TARGET_PULL_RATIO:.1f} — {verdict(dm / pm <= TARGET_PULL_RATIO)}."
            )
        a, b = r.nochange.get("20k"), r.nochange.get("210k")
        if a and b:
            worst = max(a["server_whole_ms"]["p95"], b["server_whole_ms"]["p95"])
            ratio = b["server_whole_ms"]["median"] / a["server_whole_ms"]["median"]
            lines.append(
                f"- {r.engine}, no-change sync: server time per sync {a['server_whole_ms']['median']:.1f} ms "
                f"(20k) and {b['server_whole_ms']['median']:.1f} ms (200k) median, p95 up to {worst:.1f} ms, against "
                f"≤ {TARGET_NOCHANGE_MS:.0f} ms — {verdict(worst <= TARGET_NOCHANGE_MS)}; 200k/20k "
                f"{ratio:.2f} against ≤ {TARGET_NOCHANGE_RATIO} — {verdict(ratio <= TARGET_NOCHANGE_RATIO)}."
            )
        runs = runs_of(r, "push")
        if runs:
            med = median([x.ms / 1000 for x in runs])
            lines.append(
                f"- {r.engine}, push of {args.edits:,} edited visits: {med:.2f} s against ≤ {TARGET_PUSH_S:.0f} s — "
                f"{verdict(med <= TARGET_PUSH_S)}."
            )
    return lines


def writes_lines(results: list[EngineResult], kind: str, label: str) -> list[str]:
    """The in-process replay of single replicated writes (child_writes), as bullet points."""
    out = []
    for r in results:
        w = (r.merge.get("writes") or {}).get(kind)
        if not w:
            continue
        kinds = ", ".join(f"{n} × {k}" for k, n in w["kinds"].items())
        out.append(
            f"- {r.engine}: {label} replayed in-process (Django's test client, one document per `_bulk_docs` "
            f"with `new_edits=false`, median of {w['writes']}): {w['ms_median']:.1f} ms, "
            f"{w['statements_median']:.0f} SQL statements + COMMIT ({kinds}), {w['db_ms_median']:.1f} ms of it "
            "inside the database driver."
        )
    return ["", *out] if out else []
