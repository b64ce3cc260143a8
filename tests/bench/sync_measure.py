"""The sync benchmark's measurements: timed replications (pull, no-change, push, merge) and what they leave behind."""

from __future__ import annotations

import argparse
import contextlib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.bench.cpu import CpuMeter
from tests.bench.harness import Engine, load_text, log, median, percentile, run_child, wait_load
from tests.bench.peers import NodePeers, PouchServer, SyncServer
from tests.bench.spy import analyse_profile, keep_profile, py_spy


def sync_child(engine: Engine, mode: str, params: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A child mode of tests/bench/bench_sync.py against the engine's database."""
    return run_child(engine, "bench_sync.py", mode, params, **kw)


def _endpoint(path: str) -> str:
    if "/sync/caseload" not in path:
        return "server root" if path.rstrip("/") == "/sync" else path
    rest = path.split("/sync/caseload", 1)[-1].lstrip("/")
    if rest == "":
        return "db info"
    if rest.startswith("_local/"):
        return "_local"
    return rest if rest.startswith("_") else "doc"


def server_breakdown(entries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """SyncServer time by request kind: count, total ms, median and p95 ms."""
    by: dict[str, list[float]] = defaultdict(list)
    for e in entries:
        by[f"{e['method']} {_endpoint(e['path'])}"].append(e["ms"])
    return {
        k: {
            "n": len(v),
            "total_ms": sum(v),
            "median_ms": median(v),
            "p95_ms": percentile(v, 95),
            "max_ms": max(v),
        }
        for k, v in sorted(by.items(), key=lambda kv: -sum(kv[1]))
    }


@dataclass
class Run:
    """One timed replication."""

    kind: str  # pull | push | merge-A | merge-B | warm-push
    target: str  # doorstep | pouchdb-server
    batch: int
    run: int
    ms: float
    load: str
    docs_written: int = 0
    failures: int = 0
    server_ms: float = float("nan")  # sum of the server's per-request times (Doorstep only)
    requests: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    breakdown: dict[str, Any] = field(default_factory=dict)


@dataclass
class EngineResult:
    engine: str
    version: str
    notes: str
    setup: dict[str, Any] = field(default_factory=dict)
    verify: dict[str, Any] = field(default_factory=dict)
    explain: dict[str, Any] = field(default_factory=dict)
    nochange: dict[str, Any] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    profiles: dict[str, Any] = field(default_factory=dict)
    merge: dict[str, Any] = field(default_factory=dict)
    pyclient: dict[str, Any] = field(default_factory=dict)


def verify_caseload(server: SyncServer, device: dict[str, Any], user_token: str, setup: dict[str, Any],
                    expected_docs: int) -> dict[str, Any]:  # fmt: skip
    """The bulk-loaded caseload through the real API: the device's ``_changes`` feed holds the
    caseload plus one key envelope per case; sampled visits decrypt through ``GET /api/visits/{id}/``
    to the content the loader generated."""
    import httpx

    headers = {"Authorization": f"Token {device['token']}"}
    ids: set[str] = set()
    kinds: Counter[str] = Counter()
    since = "0"
    with httpx.Client(base_url=server.url, timeout=300) as http:
        for _ in range(100):
            r = http.get("/sync/caseload/_changes", params={"since": since, "limit": 10000}, headers=headers)
            r.raise_for_status()
            body = r.json()
            for row in body["results"]:
                ids.add(row["id"])
                kinds[row["id"].split(":", 1)[0]] += 1
            since = body["last_seq"]
            if not body.get("pending"):
                break
        info = http.get("/sync/caseload/", headers=headers).json()
        checked = 0
        for doc_id, expected in setup["samples"].items():
            r = http.get(f"/api/visits/{doc_id}/", headers={"Authorization": f"Token {user_token}"})
            r.raise_for_status()
            content = r.json()["content"]
            if (
                content.get("observations") != expected["observations"]
                or content.get("risk_level") != expected["risk_level"]
            ):
                raise AssertionError(f"{doc_id}: the REST API does not show what the loader wrote")
            checked += 1
    envelopes = kinds.get("keyenv", 0)
    result = {
        "feed": len(ids),
        "feed_documents": len(ids) - envelopes,
        "feed_envelopes": envelopes,
        "by_type": dict(kinds),
        "doc_count": info.get("doc_count"),
        "rest_checked": checked,
    }
    if result["feed_documents"] != expected_docs or result["doc_count"] != expected_docs:
        raise AssertionError(f"feed / db info hold the wrong count, expected {expected_docs}: {result}")
    return result


def nochange_stats(
    node_runs: list[dict[str, Any]], server: SyncServer, tag: str, load: str
) -> dict[str, Any]:
    entries = server.timings(tag + "-")
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        by_run[e["tag"]].append(e)
    whole = [sum(e["ms"] for e in by_run.get(f"{tag}-{i}", [])) for i in range(len(node_runs))]
    client = [r["ms"] for r in node_runs]
    requests = [len(r["requests"]) for r in node_runs]
    per_kind_client: dict[str, list[float]] = defaultdict(list)
    for r in node_runs:
        for q in r["requests"]:
            kind = {"_db": "db info", "_doc": "server root"}.get(q["endpoint"], q["endpoint"])
            per_kind_client[f"{q['method']} {kind}"].append(q["ms"])
    django = server.timings(tag + "-", layer="django")
    return {
        "runs": len(node_runs),
        "load": load,
        "requests_per_sync": median(requests),
        "server_whole_ms": {"median": median(whole), "p95": percentile(whole, 95), "max": max(whole)},
        "server_per_request": server_breakdown(entries),
        "django_per_request": server_breakdown(django),
        "client_whole_ms": {"median": median(client), "p95": percentile(client, 95)},
        "client_per_request": {
            k: {"n": len(v), "median_ms": median(v), "p95_ms": percentile(v, 95)}
            for k, v in per_kind_client.items()
        },
    }


def timed(
    node: NodePeers, server: SyncServer, engine: Engine, *, cmd: str, name: str, tag: str, kind: str, target: str,
    batch: int, run: int, threshold: float, max_wait: float, server_pid: int | None, **extra: Any,
) -> Run:  # fmt: skip
    load = wait_load(threshold, max_wait, f"{kind} {target} batch {batch} run {run}")
    with CpuMeter(server_pid, node.pid, engine.is_pg) as meter:
        result = node.call(cmd, name=name, batch_size=batch, tag=tag, **extra)
    if result.get("failed"):
        raise RuntimeError(f"{kind} failed: {result['failed']}")
    entries = server.timings(tag) if target == "doorstep" else []
    entries = [e for e in entries if e["tag"] == tag]
    out = Run(
        kind=kind, target=target, batch=batch, run=run, ms=result["ms"], load=load_text(load),
        docs_written=int(result.get("docs_written") or 0),
        failures=int(result.get("doc_write_failures") or 0) + int(result.get("denied_count") or 0),
        server_ms=sum(e["ms"] for e in entries) if entries else float("nan"),
        requests=sum(v["n"] for v in result.get("requests", {}).values()),
        cpu=asdict(meter.result), breakdown=server_breakdown(entries),
    )  # fmt: skip
    log(
        f"  {kind:<9} {target:<14} batch {batch:<3} run {run}: {out.ms / 1000:6.2f} s, {out.docs_written} docs, "
        f"{out.failures} failures, {out.requests} requests, server {out.server_ms / 1000:5.2f} s; CPU server "
        f"{meter.result.server:.1f} s, node {meter.result.node:.1f} s, pg {meter.result.pg:.1f} s; load {out.load}"
    )
    return out


def nochange_requests(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The requests one no-change sync made (method, path and query string from the server's
    log), to replay in-process with their SQL."""
    return [(m, p) for m, p in stats["one_sync"] if m == "GET"]


def measure_nochange(
    node: NodePeers, server: SyncServer, engine: Engine, tag: str, args: argparse.Namespace
) -> dict[str, Any]:
    load = wait_load(args.load_threshold, args.quiet_wait, f"no-change syncs ({tag})")
    result = node.call("nochange", name="main", runs=args.nochange_runs, tag=tag)
    stats = nochange_stats(result["runs"], server, tag, load_text(load))
    # The requests of one such sync, as the server saw them (replayed in-process for the SQL).
    stats["one_sync"] = [
        (e["method"], e["path"] + (f"?{e['qs']}" if e.get("qs") else ""))
        for e in server.timings(f"{tag}-0")
        if e["tag"] == f"{tag}-0"
    ]
    log(
        f"  no-change sync ({tag}): server {stats['server_whole_ms']['median']:.1f} ms median, "
        f"{stats['server_whole_ms']['p95']:.1f} ms p95 per sync ({stats['requests_per_sync']:.0f} requests); "
        f"client {stats['client_whole_ms']['median']:.1f} ms; load {stats['load']}"
    )
    return stats


def measure_pulls(
    res: EngineResult, node: NodePeers, server: SyncServer, engine: Engine, args: argparse.Namespace, user_token: str,
    expected_docs: int,
) -> None:  # fmt: skip
    """Initial pulls of the caseload by a freshly enrolled device from Doorstep, and of the very
    same wire documents from pouchdb-server, alternately; then one pull under py-spy."""
    first = {"threshold": args.load_threshold, "max_wait": args.quiet_wait}
    between = {"threshold": args.load_threshold, "max_wait": args.quiet_wait_between}
    expected = expected_docs + args.cases  # + one key envelope per case
    with PouchServer(engine.tmp) as pouch:
        pouch_db = f"{pouch.url}/caseload"
        copy = node.call("copy", name="main", url=pouch_db, batch_size=500)
        res.verify["pouchdb_server_docs"] = copy["target_docs"]
        if copy["target_docs"] != expected:
            raise AssertionError(f"pouchdb-server holds {copy['target_docs']} documents, expected {expected}")
        log(f"  pouchdb-server loaded with the same {copy['target_docs']} wire documents")
        for batch in args.batch_sizes:
            for run in range(args.runs):
                device = server.enrol(user_token, f"bench-pull-{batch}-{run}")
                name = f"d-{batch}-{run}"
                node.call("add", name=name, url=server.sync_url, token=device["token"],
                          device_id=device["device_id"], private_key=device["private_key"])  # fmt: skip
                waits = first if (batch, run) == (args.batch_sizes[0], 0) else between
                done = timed(node, server, engine, cmd="pull", name=name, tag=f"pull-{batch}-{run}", kind="pull",
                             target="doorstep", batch=batch, run=run, server_pid=server.pid, fresh=True, **waits)  # fmt: skip
                node.call("drop", name=name)
                if done.docs_written != expected:
                    raise AssertionError(f"pull wrote {done.docs_written} documents, expected {expected}")
                res.runs.append(done)
                name = f"p-{batch}-{run}"
                node.call("add", name=name, url=pouch_db)
                done = timed(node, server, engine, cmd="pull", name=name, tag=f"pouch-{batch}-{run}", kind="pull",
                             target="pouchdb-server", batch=batch, run=run, server_pid=pouch.pid, fresh=True,
                             **between)  # fmt: skip
                node.call("drop", name=name)
                if done.docs_written != expected:
                    raise AssertionError(
                        f"pouchdb-server pull wrote {done.docs_written}, expected {expected}"
                    )
                res.runs.append(done)
    if args.profile and server.pid:
        device = server.enrol(user_token, "bench-pull-profiled")
        node.call("add", name="d-prof", url=server.sync_url, token=device["token"],
                  device_id=device["device_id"], private_key=device["private_key"])  # fmt: skip
        wait_load(args.load_threshold, args.quiet_wait_between, "the profiled pull")
        out = engine.tmp / "pyspy-pull.txt"
        with py_spy(server.pid, out, args.spy_rate):
            done = timed(node, server, engine, cmd="pull", name="d-prof", tag="pull-prof", kind="pull (py-spy)",
                         target="doorstep", batch=100, run=0, server_pid=server.pid, fresh=True, threshold=99,
                         max_wait=0)  # fmt: skip
        node.call("drop", name="d-prof")
        res.profiles["pull"] = {**analyse_profile(out), "run": asdict(done)}
        keep_profile(out, args, f"pull-{engine.name}")
        log(f"  pull profile: crypto share {res.profiles['pull']['crypto_share']:.1%} of "
            f"{res.profiles['pull']['samples']} samples")  # fmt: skip


def edit_sets(editable: list[str], size: int, count: int) -> list[list[str]]:
    if len(editable) < size * count:
        raise SystemExit(f"only {len(editable)} editable visits for {count} sets of {size}")
    return [editable[i * size : (i + 1) * size] for i in range(count)]


def measure_pushes(
    res: EngineResult, node: NodePeers, server: SyncServer, engine: Engine, args: argparse.Namespace,
    worker: dict[str, Any], editable: list[str],
) -> None:  # fmt: skip
    """The main tablet (caseload pulled, push checkpoint established by one push with nothing
    to send) edits ``--edits`` visits offline and pushes them in one replication; repeated on
    fresh sets of visits, then once under py-spy."""
    between = {"threshold": args.load_threshold, "max_wait": args.quiet_wait_between}
    sets = edit_sets(editable, args.edits, args.push_runs + 1 + 2)
    warm = timed(node, server, engine, cmd="push", name="main", tag="warm-push", kind="warm-push", target="doorstep",
                 batch=100, run=0, server_pid=server.pid, **between)  # fmt: skip
    res.runs.append(warm)
    user_ref = f"u:{worker['id']}"
    for run in range(args.push_runs):
        edited = node.call("edit", name="main", ids=sets[run], user_ref=user_ref, variant="simple")
        done = timed(node, server, engine, cmd="push", name="main", tag=f"push-{run}", kind="push", target="doorstep",
                     batch=100, run=run, server_pid=server.pid, threshold=args.load_threshold,
                     max_wait=args.quiet_wait if run == 0 else args.quiet_wait_between)  # fmt: skip
        if done.docs_written != edited["edited"] or done.failures:
            raise AssertionError(
                f"push wrote {done.docs_written} of {edited['edited']}, {done.failures} failures"
            )
        res.runs.append(done)
    if args.profile and server.pid:
        node.call("edit", name="main", ids=sets[args.push_runs], user_ref=user_ref, variant="simple")
        wait_load(args.load_threshold, args.quiet_wait_between, "the profiled push")
        out = engine.tmp / "pyspy-push.txt"
        with py_spy(server.pid, out, args.spy_rate):
            done = timed(node, server, engine, cmd="push", name="main", tag="push-prof", kind="push (py-spy)",
                         target="doorstep", batch=100, run=0, server_pid=server.pid, threshold=99, max_wait=0)  # fmt: skip
        res.profiles["push"] = {**analyse_profile(out), "run": asdict(done)}
        keep_profile(out, args, f"push-{engine.name}")
        log(f"  push profile: crypto share {res.profiles['push']['crypto_share']:.1%} of "
            f"{res.profiles['push']['samples']} samples")  # fmt: skip


def measure_merges(
    res: EngineResult, node: NodePeers, server: SyncServer, engine: Engine, args: argparse.Namespace,
    worker: dict[str, Any], coworker: dict[str, Any], editable: list[str], main_pk: int,
) -> None:  # fmt: skip
    """Device A (the main tablet) and device B (the co-worker's tablet, caseload pulled, push
    checkpoint established) edit the same ``--edits`` visits offline: a different paragraph of
    the observations each, the visit type (rule `latest`) and the risk level (rule `review`).
    A pushes (clean), then B pushes its conflicting edits in one replication; the server merges
    each inside `_bulk_docs`. Repeated on a second set of visits under py-spy."""
    between = {"threshold": args.load_threshold, "max_wait": args.quiet_wait_between}
    sets = edit_sets(editable, args.edits, args.push_runs + 1 + 2)[args.push_runs + 1 :]
    co_token, _ = server.login(coworker["username"])
    device = server.enrol(co_token, "bench-tablet-b")
    node.call("add", name="B", url=server.sync_url, token=device["token"], device_id=device["device_id"],
              private_key=device["private_key"])  # fmt: skip
    pulled = node.call("pull", name="B", batch_size=100, tag="b-pull", fresh=True)
    log(f"  device B pulled {pulled['docs_written']} documents in {pulled['ms'] / 1000:.1f} s")
    res.runs.append(
        timed(node, server, engine, cmd="push", name="B", tag="b-warm", kind="warm-push", target="doorstep",
              batch=100, run=1, server_pid=server.pid, **between)
    )  # fmt: skip
    a_ref, b_ref = f"u:{worker['id']}", f"u:{coworker['id']}"
    for label, ids, profiled in (("timed", sets[0], False), ("profiled", sets[1], True)):
        if profiled and not (args.profile and server.pid):
            continue
        node.call("edit", name="main", ids=ids, user_ref=a_ref, variant="A")
        node.call("edit", name="B", ids=ids, user_ref=b_ref, variant="B")
        a = timed(node, server, engine, cmd="push", name="main", tag=f"merge-A-{label}", kind="merge-A",
                  target="doorstep", batch=100, run=int(profiled), server_pid=server.pid,
                  threshold=args.load_threshold, max_wait=args.quiet_wait_between if profiled else args.quiet_wait)  # fmt: skip
        out = engine.tmp / "pyspy-merge.txt"
        spy = py_spy(server.pid, out, args.spy_rate) if profiled and server.pid else contextlib.nullcontext()
        with spy:
            b = timed(node, server, engine, cmd="push", name="B", tag=f"merge-B-{label}",
                      kind="merge-B" + (" (py-spy)" if profiled else ""), target="doorstep", batch=100,
                      run=int(profiled), server_pid=server.pid, threshold=99 if profiled else args.load_threshold,
                      max_wait=0 if profiled else args.quiet_wait_between)  # fmt: skip
        check = sync_child(engine, "check", {"ids": ids})
        log(f"  {label}: A {a.ms / 1000:.2f} s, B {b.ms / 1000:.2f} s; server holds {check}")
        entry = {"A": asdict(a), "B": asdict(b), "check": check}
        if profiled:
            res.profiles["merge"] = {**analyse_profile(out), "run": asdict(b)}
            keep_profile(out, args, f"merge-{engine.name}")
            log(f"  merge profile: crypto share {res.profiles['merge']['crypto_share']:.1%}")
            res.merge["profiled"] = entry
        else:
            res.merge["timed"] = entry
    # The SQL of one replicated write, clean and merging, replayed in-process on visits no run used.
    spare = editable[args.edits * (args.push_runs + 3) :][: 2 * args.write_samples]
    if len(spare) >= 8:
        res.merge["writes"] = sync_child(
            engine, "writes", {"username": worker["username"], "device_pk": main_pk, "ids": spare}
        )
        w = res.merge["writes"]
        log(
            f"  in-process replicated write: clean {w['clean']['statements_median']:.0f} statements, "
            f"{w['clean']['ms_median']:.1f} ms; merging {w['merge']['statements_median']:.0f} statements, "
            f"{w['merge']['ms_median']:.1f} ms"
        )


def summarise_pyclient(p: dict[str, Any]) -> str:
    if not p or not p.get("runs"):
        return "not run"
    best = min(p["runs"], key=lambda r: r["records_s"])
    n = p["docs"]
    return (
        f"pulled {p['pulled']} in {p['pull_s']:.1f} s; records() {best['records'] / best['records_s']:,.0f} docs/s, "
        f"open_content {n / best['open_s']:,.0f} docs/s, decrypt_body {n / best['raw_s']:,.0f} docs/s"
    )
