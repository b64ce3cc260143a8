#!/usr/bin/env python3
"""REST API and document store benchmark (the foundation issue's): reads, writes, in-process writes; run by hand (tests/bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.metadata
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository's packages

from tests.bench.content import rest_visit_content
from tests.bench.harness import (
    DOC,
    REPO,
    Engine,
    child_main,
    engine_context,
    interrupt_on_sigterm,
    ints,
    log,
    machine_facts,
    manage,
    run_child,
    write_section,
)
from tests.bench.rest_children import child_inproc, child_profile
from tests.bench.rest_load import (
    Client,
    Phase,
    RestServer,
    discover,
    login_clients,
    req_case_list,
    req_visit_create,
    req_visit_detail,
    run_phase,
)
from tests.bench.rest_report import SECTION, EngineResult, render

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/bench_rest"
CHILDREN = {"inproc": child_inproc, "profile": child_profile}


def rest_child(engine: Engine, mode: str, params: dict[str, Any]) -> dict[str, Any]:
    """A child mode of tests/bench/bench_rest.py against the engine's database."""
    return run_child(engine, "bench_rest.py", mode, params, timeout=1800)


def engine_notes(engine: Engine) -> str:
    if not engine.is_pg:
        return "same file system as the server"
    s = engine.pg_settings
    return (
        f"fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}, shared_buffers={s['shared_buffers']}, "
        "same machine, TCP loopback"
    )


def bench_engine(name: str, args: argparse.Namespace) -> EngineResult:
    with engine_context(name, args.pg_url, prefix="bench_rest", fast_hasher=False) as engine:
        engine.notes = engine_notes(engine)
        log(f"{name}: {engine.version}; migrating")
        manage(engine, "migrate", "--noinput")
        engine.notes += "; app: " + _db_settings(engine)
        log(f"{name}: seeding the demo council ({args.families} families, real password hashing)")
        started = time.monotonic()
        manage(engine, "seed_demo", "--families", str(args.families))
        seed_s = time.monotonic() - started
        accounts = json.loads(manage(engine, "demo_accounts", "--json"))
        log(f"{name}: seeded in {seed_s:.1f}s; in-process writes ({args.inproc_writes} creates + updates)")
        inproc = rest_child(engine, "inproc", {"writes": args.inproc_writes})
        log(
            f"  in-process: {inproc['create_per_s']:.0f} creates/s, {inproc['update_per_s']:.0f} updates/s "
            f"({inproc['queries_per_create']} / {inproc['queries_per_update']} queries each)"
        )
        loadavg = Path("/proc/loadavg").read_text().split()[:3]
        phases: list[Phase] = []
        clients: list[Client] = []
        rng = random.Random(99)
        write_bodies = [{"content": rest_visit_content(rng, i)} for i in range(200)]
        for workers in args.workers:
            with RestServer(engine, workers) as server:
                log(f"{name}: uvicorn --workers {workers} on {server.url}")
                if not clients:
                    clients = login_clients(server.url, accounts, args.clients)
                    discover(server.url, clients)
                common = {
                    "warmup": args.warmup,
                    "max_seconds": args.max_seconds,
                    "quiet_wait": args.quiet_wait,
                }
                phases.append(
                    run_phase(
                        server, clients, scenario="case list", concurrency=args.clients,
                        make=functools.partial(req_case_list, clients),
                        count=args.requests, expect=200, **common,
                    )
                )  # fmt: skip
                phases.append(
                    run_phase(
                        server, clients, scenario="visit detail", concurrency=args.clients,
                        make=functools.partial(req_visit_detail, clients),
                        count=args.requests, expect=200, **common,
                    )
                )  # fmt: skip
                for writers in args.writers:
                    phases.append(
                        run_phase(
                            server, clients, scenario="visit create (POST)", concurrency=writers,
                            make=functools.partial(req_visit_create, clients, write_bodies),
                            count=args.writes, expect=201, warmup=args.write_warmup,
                            max_seconds=args.max_seconds, quiet_wait=args.quiet_wait,
                        )
                    )  # fmt: skip
        if args.profile_dir:
            out = Path(args.profile_dir) / f"profile-{name}.txt"
            log(f"{name}: profiling in-process (cProfile) -> {out}")
            rest_child(engine, "profile", {"out": str(out), "calls": args.profile_calls})
        roles = Counter(c.role for c in clients)
        distinct = len({c.username for c in clients})
        users = (
            f"{len(clients)} clients, {distinct} distinct users "
            f"({', '.join(f'{n} {r} clients' for r, n in sorted(roles.items()))}); "
            "each client its own token and keep-alive connection"
        )
        data = ", ".join(f"{c} {k}" for k, c in _data_counts(engine).items())
        return EngineResult(
            engine=name,
            version=engine.version,
            settings_note=engine.notes,
            seed_s=seed_s,
            data=data,
            inproc=inproc,
            phases=phases,
            users=users,
            loadavg_before=" ".join(loadavg),
        )


def _db_settings(engine: Engine) -> str:
    """The database settings the app runs with (CONN_MAX_AGE, pool, SQLite options), as text."""
    script = (
        "import json;from django.conf import settings;d=settings.DATABASES['default'];"
        "o=d.get('OPTIONS',{});print(json.dumps({'CONN_MAX_AGE':d.get('CONN_MAX_AGE'),"
        "'pool':o.get('pool'),'transaction_mode':o.get('transaction_mode'),"
        "'init_command':o.get('init_command')}))"
    )
    found = json.loads(manage(engine, "shell", "-c", script).strip().splitlines()[-1])
    return ", ".join(f"{k} {v}" for k, v in found.items() if v is not None)


def _data_counts(engine: Engine) -> dict[str, int]:
    script = (
        "import json;from backend.records.models import Document,Revision;"
        "from backend.audit.models import AuditEvent;from backend.cases.models import Case;"
        "print(json.dumps({'cases': Case.objects.count(),"
        "'visits': Document.objects.filter(doc_type='visit').count(),"
        "'documents': Document.objects.count(), 'revisions': Revision.objects.count(),"
        "'audit events': AuditEvent.objects.count()}))"
    )
    return dict(json.loads(manage(engine, "shell", "-c", script).strip().splitlines()[-1]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engines", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL URL of the bench database (name must start with bench_; it is "
        "dropped and re-created)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="before each measured phase, wait up to this many seconds for other processes to go quiet",
    )
    p.add_argument("--workers", type=ints, default=[1, 2], help="uvicorn --workers values, e.g. 1,2")
    p.add_argument("--clients", type=int, default=20, help="concurrent read clients")
    p.add_argument("--requests", type=int, default=2000, help="measured requests per read scenario")
    p.add_argument("--warmup", type=int, default=200, help="warm-up requests per read scenario")
    p.add_argument("--writers", type=ints, default=[4, 20], help="concurrent HTTP writers, e.g. 4,20")
    p.add_argument("--writes", type=int, default=1000, help="measured HTTP writes per writer count")
    p.add_argument("--write-warmup", type=int, default=40)
    p.add_argument("--inproc-writes", type=int, default=1000, help="in-process creates (and as many updates)")
    p.add_argument("--families", type=int, default=150)
    p.add_argument("--max-seconds", type=float, default=240, help="time cap of each measured phase")
    p.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    p.add_argument("--no-doc", action="store_true", help=f"do not rewrite {DOC.relative_to(REPO)}")
    p.add_argument("--doc", type=Path, default=DOC, help="the markdown file to update")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--profile-dir", help="also cProfile each scenario in-process; reports go here")
    p.add_argument("--profile-calls", type=int, default=200)
    p.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    p.add_argument("--params", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.warmup, args.writes, args.write_warmup = 300, 40, 150, 10
        args.inproc_writes, args.profile_calls = 150, 30
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(CHILDREN, args)
    interrupt_on_sigterm()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in {"sqlite", "postgres"}:
            raise SystemExit(f"unknown engine {e!r}")
    if args.profile_dir:
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
    facts = {**machine_facts(), "httpx": importlib.metadata.version("httpx")}
    log(
        f"machine: {facts['nproc']} cores, {facts['cpu']}; Python {facts['python']}, Django {facts['django']}"
    )
    results = [bench_engine(e, args) for e in engines]
    section = render(results, facts, args)
    print("\n" + section)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2, default=str))
    if not args.no_doc:
        write_section(args.doc, SECTION, section)
        log(f"wrote section {SECTION!r} of {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
