#!/usr/bin/env python3
"""Replication benchmark for ``/sync/caseload``: initial pull, no-change sync, push, crypto share, merging; run by hand (tests/bench/README.md)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository's packages

from tests.bench.harness import (
    DOC,
    REPO,
    Engine,
    child_main,
    code_snapshot,
    engine_context,
    interrupt_on_sigterm,
    ints,
    load_text,
    log,
    machine_facts,
    manage,
    node_package_version,
    wait_load,
    write_section,
)
from tests.bench.peers import NodePeers, SyncServer, running
from tests.bench.spy import py_spy_path
from tests.bench.sync_inproc import child_check, child_explain, child_pyclient, child_writes
from tests.bench.sync_load import child_grow, child_setup
from tests.bench.sync_measure import (
    EngineResult,
    measure_merges,
    measure_nochange,
    measure_pulls,
    measure_pushes,
    nochange_requests,
    summarise_pyclient,
    sync_child,
    verify_caseload,
)
from tests.bench.sync_report import SECTIONS, render_replication
from tests.bench.sync_report_costs import render_crypto, render_merging

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/bench_sync"

CHILDREN = {
    "setup": child_setup,
    "grow": child_grow,
    "explain": child_explain,
    "check": child_check,
    "pyclient": child_pyclient,
    "writes": child_writes,
}


def engine_notes(engine: Engine) -> str:
    if not engine.is_pg:
        return "WAL, synchronous=NORMAL, BEGIN IMMEDIATE (backend/settings.py), file on local disk"
    s = engine.pg_settings
    return (
        f"shared_buffers={s['shared_buffers']}, work_mem={s['work_mem']}, fsync={s['fsync']}, "
        f"synchronous_commit={s['synchronous_commit']}; same machine, TCP loopback; app's pool "
        "(backend/settings.py)"
    )


def sync_facts() -> dict[str, str]:
    """The shared machine facts plus what this benchmark adds: cryptography, Node, PouchDB, py-spy."""
    import cryptography

    spy = py_spy_path()
    spy_version = (
        subprocess.run([str(spy), "--version"], capture_output=True, text=True).stdout.strip()
        if spy
        else "absent"
    )
    return {
        **machine_facts(),
        "cryptography": cryptography.__version__,
        "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
        "pouchdb": node_package_version("pouchdb"),
        "pouchdb_server": node_package_version("pouchdb-server"),
        "py_spy": spy_version,
    }


def bench_engine(name: str, args: argparse.Namespace) -> EngineResult:
    with contextlib.ExitStack() as stack:
        engine = stack.enter_context(engine_context(name, args.pg_url, prefix="bench_sync", fast_hasher=True))
        engine.notes = engine_notes(engine)
        res = EngineResult(engine=name, version=engine.version, notes=engine.notes)
        log(f"{name}: {engine.version}; migrating")
        manage(engine, "migrate", "--noinput")
        # --- state 1: the caseload + `small_others` other documents ----------------------------
        per = args.per_case
        small_cases = args.small_others // per
        big_cases = args.others // per
        log(f"{name}: bulk-loading {args.cases} × {per} own + {small_cases} × {per} other documents")
        t0 = time.perf_counter()
        setup = sync_child(
            engine,
            "setup",
            {"own_cases": args.cases, "other_cases": small_cases, "per_case": per, "batch": args.load_batch,
             "other_practitioners": max(1, math.ceil(big_cases / 50)), "validate_every": args.validate_every},
            nice=args.nice_load,
        )  # fmt: skip
        res.setup = {
            "state1_counts": setup["counts"], "state1_seconds": time.perf_counter() - t0,
            "cases_seconds": setup["cases_seconds"], "load": setup["load"],
        }  # fmt: skip
        expected_docs = args.cases * per
        worker, coworker = setup["worker"], setup["coworker"]
        editable = list(setup["editable"])
        random.Random(7).shuffle(editable)
        log(f"{name}: state 1 loaded: {setup['counts']}")

        server = SyncServer(engine)
        node = stack.enter_context(NodePeers(engine.tmp))
        with running(server):
            user_token, _ = server.login(worker["username"])
            main = server.enrol(user_token, "bench-tablet-main")
            node.call("add", name="main", url=server.sync_url, token=main["token"], device_id=main["device_id"],
                      private_key=main["private_key"])  # fmt: skip
            first = node.call("pull", name="main", batch_size=100, tag="setup-pull", fresh=True)
            log(f"  first pull (20k state): {first['ms'] / 1000:.1f} s, {first['local_docs']} docs")
            res.verify = verify_caseload(server, main, user_token, setup, expected_docs)
            res.verify["first_pull_local_docs"] = first["local_docs"]
            log(f"  verified: {res.verify}")
            since = first["last_seq"]
            res.nochange["20k"] = measure_nochange(node, server, engine, "nc20k", args)
            res.explain["20k"] = sync_child(
                engine, "explain",
                {"username": worker["username"], "since": since, "limit": 100, "repeat": 30, "profile_repeat": 50,
                 "device_pk": main["pk"], "requests": nochange_requests(res.nochange["20k"])},
            )  # fmt: skip
        # --- state 2: 200,000 other documents ----------------------------------------------------
        log(f"{name}: growing to {args.others:,} other documents ({big_cases - small_cases} more cases)")
        t0 = time.perf_counter()
        grow = sync_child(
            engine,
            "grow",
            {"cases": big_cases - small_cases, "start": args.cases + small_cases, "per_case": per,
             "batch": args.load_batch, "validate_every": args.validate_every},
            nice=args.nice_load,
        )  # fmt: skip
        res.setup.update(
            state2_counts=grow["counts"], state2_seconds=time.perf_counter() - t0, grow=grow["load"]
        )
        log(f"{name}: state 2 loaded: {grow['counts']}")
        with running(server):
            res.nochange["210k"] = measure_nochange(node, server, engine, "nc210k", args)
            res.explain["210k"] = sync_child(
                engine, "explain",
                {"username": worker["username"], "since": since, "limit": 100, "repeat": 30, "profile_repeat": 50,
                 "device_pk": main["pk"], "requests": nochange_requests(res.nochange["210k"])},
            )  # fmt: skip
            measure_pulls(res, node, server, engine, args, user_token, expected_docs)
            measure_pushes(res, node, server, engine, args, worker, editable)
            measure_merges(res, node, server, engine, args, worker, coworker, editable, main["pk"])
            if not args.skip_pyclient:
                log(f"{name}: Python client (clients/python): pull, then open every document")
                wait_load(args.load_threshold, args.quiet_wait_between, "the Python client")
                home = engine.tmp / "pyclient"
                res.pyclient = sync_child(
                    engine, "pyclient",
                    {"url": server.url, "username": worker["username"], "home": str(home), "repeat": 3},
                )  # fmt: skip
                res.pyclient["load"] = load_text()
                log(f"  python client: {summarise_pyclient(res.pyclient)}")
        return res


def render(results: list[EngineResult], facts: dict[str, str], args: argparse.Namespace) -> dict[str, str]:
    script = "tests/bench/bench_sync.py"
    cmdline = (
        "--engine "
        + args.engine
        + (f" --rev {args.rev}" if args.rev else "")
        + (" --quick" if args.quick else "")
    )
    return {
        SECTIONS[0]: render_replication(results, facts, args, script, cmdline),
        SECTIONS[1]: render_crypto(results, facts, args, script),
        SECTIONS[2]: render_merging(results, facts, args, script),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument(
        "--pg-url", default=os.environ.get("BENCH_SYNC_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL URL of the bench database (its name must start with bench_; dropped and re-created)",
    )  # fmt: skip
    p.add_argument("--cases", type=int, default=50, help="cases in the bench practitioner's caseload")
    p.add_argument("--per-case", type=int, default=200, help="documents per case, the case document included")
    p.add_argument("--small-others", type=int, default=10_000, help="other documents in the first state")
    p.add_argument("--others", type=int, default=200_000, help="other documents in the second state")
    p.add_argument("--load-batch", type=int, default=1000, help="documents per bulk_create batch")
    p.add_argument("--validate-every", type=int, default=50, help="schema-validate every Nth loaded document")
    p.add_argument("--nice-load", type=int, default=10, help="nice level of the (unmeasured) data loading")
    p.add_argument(
        "--batch-sizes", type=ints, default=[100, 500], help="PouchDB batch_size values to pull with"
    )
    p.add_argument("--runs", type=int, default=3, help="timed initial pulls per batch size and server")
    p.add_argument("--nochange-runs", type=int, default=25, help="no-change syncs per database size")
    p.add_argument("--edits", type=int, default=1000, help="visits edited offline per push")
    p.add_argument("--push-runs", type=int, default=3, help="timed pushes of --edits edited visits")
    p.add_argument("--write-samples", type=int, default=20, help="in-process replicated writes of each kind")
    p.add_argument(
        "--load-threshold", type=float, default=1.5, help="wait for a 1-minute load average below this"
    )
    p.add_argument(
        "--quiet-wait", type=float, default=300,
        help="…but at most this many seconds before the first run of a series (pulls, no-change syncs, pushes, merges)",
    )  # fmt: skip
    p.add_argument(
        "--quiet-wait-between",
        type=float,
        default=90,
        help="…and at most this long before each later run of a series",
    )
    p.add_argument("--no-profile", dest="profile", action="store_false", help="skip the py-spy runs")
    p.add_argument("--spy-rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--profile-dir", help="keep the raw py-spy profiles here")
    p.add_argument("--skip-pyclient", action="store_true", help="skip the Python client's decryption rate")
    p.add_argument("--rev", help="run a clean export of this commit (e.g. HEAD) instead of the working tree")
    p.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    p.add_argument("--no-doc", action="store_true", help=f"do not rewrite {DOC.relative_to(REPO)}")
    p.add_argument("--doc", type=Path, default=DOC, help="the markdown file to update")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    p.add_argument("--params", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.cases, args.per_case, args.small_others, args.others = 5, 100, 1000, 5000
        args.edits, args.push_runs, args.runs, args.nochange_runs, args.write_samples = 50, 1, 1, 5, 6
        args.batch_sizes = [100]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(CHILDREN, args)
    interrupt_on_sigterm()
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    with code_snapshot(args.rev):
        facts = sync_facts()
        log(f"machine: {facts['nproc']} cores, {facts['cpu']}; load {load_text()}; code: {facts['commit']}")
        results = []
        for name in engines:
            results.append(bench_engine(name, args))
            if args.json:
                args.json.write_text(json.dumps([asdict(r) for r in results], indent=1, default=str))
    sections = render(results, facts, args)
    for text in sections.values():
        print("\n" + text)
    if not args.no_doc:
        for title, text in sections.items():
            write_section(args.doc, title, text)
        log(f"wrote sections {', '.join(repr(t) for t in sections)} of {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
