#!/usr/bin/env python3
"""REST API and document store benchmark (the foundation issue's). Run by hand, never in CI.

For each engine (SQLite in a temporary ``DOORSTEP_VAR_DIR``; PostgreSQL in a fresh ``bench_rest``
database) it migrates and seeds the demo council, measures visit writes in-process through
``document_create``/``document_update``, then starts the real server (``uvicorn
backend.asgi:application``) with each ``--workers`` count and drives it over loopback with
concurrent clients: case list, visit detail, visit creation. It prints a table and rewrites the
section "REST API and document store (foundation)" of ``docs/benchmarks.md``.

    .venv/bin/python tests/bench/bench_rest.py                 # both engines, ~15 minutes
    .venv/bin/python tests/bench/bench_rest.py --quick --no-doc  # smoke run, ~3 minutes

Cleanup (servers, the bench database, temporary directories) happens in ``finally`` blocks, so a
failure or Ctrl-C leaves nothing behind. See tests/bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import io
import itertools
import json
import math
import os
import platform
import pstats
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "REST API and document store (foundation)"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/bench_rest"
PASSWORD_ENV = "BENCH_REST_PASSWORD"

#: The targets this benchmark reports against (from the foundation issue).
TARGET_P95_MS = 100.0
TARGET_WRITES_PER_S = 500.0


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


CLK_TCK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
#: A PostgreSQL client backend's process title: "postgres: 15/main: user dbname host(port) state".
_PG_BACKEND = re.compile(r"^postgres: [^:]+: \S+ (\S+) (?:\S+\(\d+\)|\[local\])")


def _processes() -> dict[int, tuple[int, float, str]]:
    """Every process: pid -> (parent pid, CPU seconds, role) where role is "pg:<db>" for a
    PostgreSQL client backend, "pg" for its other processes, "" otherwise. For PostgreSQL's
    postmaster (role "pg-main") the CPU seconds are those of its exited children: backends that
    lived and died between two looks (one per request when connections are not kept)."""
    out: dict[int, tuple[int, float, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
            fields = tail.split()
            role = ""
            if head.endswith("(postgres"):
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                m = _PG_BACKEND.match(title.strip())
                role = f"pg:{m.group(1)}" if m else ("pg" if title.startswith("postgres:") else "pg-main")
            cpu = int(fields[11]) + int(fields[12])
            if role == "pg-main":
                cpu = int(fields[13]) + int(fields[14])  # cutime + cstime: reaped backends
            out[int(entry.name)] = (int(fields[1]), cpu / CLK_TCK, role)
        except (OSError, IndexError, ValueError):
            continue
    return out


def process_tree(root: int, procs: dict[int, tuple[int, float, str]] | None = None) -> set[int]:
    """``root`` and all its descendants."""
    procs = procs if procs is not None else _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        out.add(pid)
        todo.extend(children.get(pid, []))
    return out


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (user, nice, system, irq, softirq, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


@dataclass
class CpuUse:
    wall: float
    machine: float  # every core, every process
    server: float  # the uvicorn process tree
    client: float  # this process (the load generator)
    foreign: float  # processes that are none of ours: other people's test runs, other databases
    db: float  # PostgreSQL: the bench database's backends (also those that came and went), its own work
    rest: float  # busy time none of the above explains (kernel, processes that came and went)

    @property
    def others(self) -> float:
        """Busy time that is not the benchmark's: foreign processes and the unexplained rest."""
        return self.foreign + self.rest


class CpuAccount:
    """Splits the machine's CPU time during a phase between the server, the load generator,
    foreign processes (present at start and end) and the database (the rest)."""

    def __init__(self, server_root: int | None, dbname: str | None) -> None:
        self.server_root, self.dbname = server_root, dbname

    def _ours(self, pid: int, role: str, server: set[int]) -> str:
        if pid in server:
            return "server"
        if pid == os.getpid():
            return "client"
        if role in ("pg", "pg-main") or (self.dbname and role == f"pg:{self.dbname}"):
            return "db"
        return "foreign"

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._busy0 = _machine_busy_seconds()
        self._procs0 = _processes()

    def stop(self) -> CpuUse:
        wall = time.perf_counter() - self._t0
        machine = _machine_busy_seconds() - self._busy0
        procs = _processes()
        server = process_tree(self.server_root, procs) if self.server_root else set()
        use = {"server": 0.0, "client": 0.0, "db": 0.0, "foreign": 0.0}
        for pid, (_, cpu, role) in procs.items():
            if pid in self._procs0:
                use[self._ours(pid, role, server)] += max(0.0, cpu - self._procs0[pid][1])
            elif pid in server:  # a worker started meanwhile
                use["server"] += cpu
        rest = max(0.0, machine - sum(use.values()))
        return CpuUse(wall, machine, use["server"], use["client"], use["foreign"], use["db"], rest)


def wait_quiet(
    max_wait: float, server_root: int | None, dbname: str | None, threshold: float = 0.15
) -> float:
    """Wait (up to ``max_wait`` s) until processes not ours use under ``threshold`` of a core;
    returns the last such load measured, in cores."""
    deadline = time.monotonic() + max_wait
    told = False
    while True:
        account = CpuAccount(server_root, dbname)
        account.start()
        time.sleep(2.0)
        use = account.stop()
        foreign = use.others / use.wall
        if foreign < threshold or time.monotonic() >= deadline:
            if told or foreign >= threshold:
                log(f"  other processes use {foreign:.2f} cores; going ahead")
            return foreign
        if not told:
            log(f"  other processes use {foreign:.2f} cores; waiting up to {max_wait:.0f}s for quiet")
            told = True


class PgConnSampler:
    """Peak number of connections to ``dbname`` (pg_stat_activity), sampled every 0.2 s."""

    def __init__(self, pg_url: str, dbname: str) -> None:
        self.pg_url, self.dbname, self.peak = pg_url, dbname, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with _pg_admin(self.pg_url) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.dbname]
                ).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)
                self._stop.wait(0.2)

    def __enter__(self) -> PgConnSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# ------------------------------------------------------------------------------------------------
# Visit content: realistic size (about 3 KB of prose), valid against schemas/visit.schema.json
# ------------------------------------------------------------------------------------------------

_TEXT = (
    "the family home was warm and tidy children were playing in the front room mother said "
    "school attendance has improved since the last visit father was at work grandmother helps "
    "with the morning routine the youngest child showed me her drawings and talked about her "
    "friends there were enough food and clean clothes the kitchen window is still broken the "
    "landlord has been asked to repair it health visitor appointment was missed and rebooked "
    "we discussed the safety plan and agreed the next steps with both parents"
)
_WORDS = _TEXT.split()


def _prose(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 20))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def visit_content(rng: random.Random, n: int, *, when: datetime | None = None) -> dict[str, Any]:
    """Content a worker would send for a new visit (server-set fields left out)."""
    when = when or datetime.now(UTC) - timedelta(days=rng.randint(1, 20))
    stamp = when.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {
        "visit_date": stamp,
        "visit_type": rng.choice(["statutory", "planned", "unannounced"]),
        "people_present": [{"id": f"bench-adult-{n}", "name": "Parent", "relationship": "mother"}],
        "children_seen": [
            {"person_id": f"bench-child-{n}", "seen": True, "seen_alone": False,
             "reason_not_seen_alone": "Too young to be seen alone."}
        ],
        "home_environment": _prose(rng, 4),
        "observations": "\n\n".join(_prose(rng, 5) for _ in range(3)),
        "child_voice": _prose(rng, 3),
        "analysis": _prose(rng, 4),
        "actions": [
            {"id": f"bench-a{n}-{i}", "text": _prose(rng, 1), "owner": "social worker",
             "due_date": (when.date() + timedelta(days=7 + i)).isoformat(), "done": False}
            for i in range(rng.randint(1, 3))
        ],
        "risk_level": rng.choice(["low", "medium", "high"]),
        "risk_concerns": _prose(rng, 2),
    }  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Child modes: run inside a Django process against the benchmark database
# ------------------------------------------------------------------------------------------------


def _django_setup() -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    import django

    django.setup()


@contextlib.contextmanager
def query_log() -> Iterator[list[tuple[float, str]]]:
    """Every SQL statement and COMMIT on the default connection, as (milliseconds, sql). Unlike
    CaptureQueriesContext it survives the request_started signal, which clears Django's log."""
    from django.db import connections

    conn = connections["default"]
    entries: list[tuple[float, str]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entries.append(((time.perf_counter() - t0) * 1000, sql))

    original = conn._commit

    def commit() -> Any:
        t0 = time.perf_counter()
        try:
            return original()
        finally:
            entries.append(((time.perf_counter() - t0) * 1000, "COMMIT"))

    conn._commit = commit
    try:
        with conn.execute_wrapper(wrapper):
            yield entries
    finally:
        del conn._commit


def _format_queries(entries: list[tuple[float, str]]) -> str:
    total = sum(ms for ms, _ in entries)
    lines = [f"{len(entries)} statements, {total:.2f} ms in the database driver"]
    lines += [f"{ms:8.2f} ms  {sql[:300]}" for ms, sql in entries]
    return "\n".join(lines) + "\n"


def _lead_allocations(limit: int | None = None) -> list[Any]:
    from backend.cases.models import Allocation

    qs = (
        Allocation.objects.filter(ended_seq__isnull=True, role="lead")
        .select_related("user")
        .order_by("case_id")
    )
    return list(qs[:limit] if limit else qs)


def _inproc_writes(n: int, *, profile: cProfile.Profile | None = None) -> dict[str, Any]:
    """``n`` visit creations then ``n`` updates (one per created visit), single writer."""
    from backend.audit.services import Actor
    from backend.records.services import document_create, document_update

    allocations = _lead_allocations()
    actors = {a.user_id: Actor(user=a.user) for a in allocations}
    rng = random.Random(2026)
    contents = [visit_content(rng, i) for i in range(n)]
    edits = [{**c, "observations": c["observations"] + " " + _prose(rng, 2)} for c in contents]

    def create(i: int) -> Any:
        a = allocations[i % len(allocations)]
        return document_create(
            actor=actors[a.user_id], case_id=a.case_id, doc_type="visit", content=contents[i]
        )

    def update(i: int, view: Any) -> Any:
        a = allocations[i % len(allocations)]
        return document_update(
            actor=actors[a.user_id], doc_id=view.id, rev=view.rev, content=edits[i], partial=False
        )

    # Warm-up (keys unwrapped, schemas compiled, connection open), with a query count of one each.
    with query_log() as q_create:
        warm = create(0)
    with query_log() as q_update:
        update(0, warm)
    for i in range(1, min(20, n)):
        update(i, create(i))

    if profile:
        profile.enable()
    with query_log() as db_create:
        started = time.perf_counter()
        views = [create(i) for i in range(n)]
        create_s = time.perf_counter() - started
    with query_log() as db_update:
        started = time.perf_counter()
        for i, view in enumerate(views):
            update(i, view)
        update_s = time.perf_counter() - started
    if profile:
        profile.disable()
    return {
        # Wall time inside the database driver (statements and COMMIT), per write.
        "create_db_ms": sum(ms for ms, _ in db_create) / n,
        "update_db_ms": sum(ms for ms, _ in db_update) / n,
        "commit_ms": sum(ms for ms, sql in db_create + db_update if sql == "COMMIT") / (2 * n),
        "writes": n,
        "create_per_s": n / create_s,
        "update_per_s": n / update_s,
        "create_ms": create_s / n * 1000,
        "update_ms": update_s / n * 1000,
        "queries_per_create": sum(1 for _, sql in q_create if sql != "COMMIT"),
        "queries_per_update": sum(1 for _, sql in q_update if sql != "COMMIT"),
        "sql_create": _format_queries(q_create),
        "sql_update": _format_queries(q_update),
    }


def child_inproc(args: argparse.Namespace) -> None:
    _django_setup()
    from django.db import connection

    result = _inproc_writes(args.inproc_writes)
    result["vendor"] = connection.vendor
    print("BENCH_RESULT " + json.dumps(result), flush=True)


def _profile_block(title: str, prof: cProfile.Profile, out: io.StringIO, calls: int) -> None:
    out.write(f"\n{'=' * 100}\n{title}  ({calls} calls)\n{'=' * 100}\n")
    for sort in ("cumulative", "tottime"):
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.strip_dirs().sort_stats(sort).print_stats(35)
        text = buf.getvalue()
        out.write(f"--- sorted by {sort} ---\n" + text[text.find("   ncalls") :])


def child_profile(args: argparse.Namespace) -> None:
    """cProfile of each scenario through Django's test client (no ASGI server), plus the SQL of
    one request of each. Writes a text report to ``--profile-out``."""
    _django_setup()
    from django.db import connection
    from rest_framework.test import APIClient

    from backend.accounts.models import Role, User
    from backend.accounts.services import token_issue
    from backend.records.models import Document

    out = io.StringIO()
    out.write(f"Profile of the REST scenarios on {connection.vendor} (Django test client, in-process)\n")
    n = args.profile_calls

    def client_for(user: User) -> APIClient:
        c = APIClient()
        secret, _ = token_issue(user=user)
        c.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
        return c

    supervisors = list(User.objects.filter(role=Role.SUPERVISOR).order_by("username"))
    biggest = max(supervisors, key=lambda u: u.managed_teams.count())
    leads = _lead_allocations()
    practitioner = leads[0].user
    scenarios: list[tuple[str, APIClient, Callable[[APIClient, int], Any]]] = []
    for who, user in (("supervisor (most teams)", biggest), ("practitioner", practitioner)):
        scenarios.append(
            (f"GET /api/cases/ as {who} {user.username}", client_for(user), lambda c, i: c.get("/api/cases/"))
        )
    visit_ids = list(
        Document.objects.filter(doc_type="visit", case_id=leads[0].case_id).values_list("id", flat=True)
    )
    scenarios.append(
        (
            f"GET /api/visits/{{id}}/ as practitioner {practitioner.username}",
            client_for(practitioner),
            lambda c, i: c.get(f"/api/visits/{visit_ids[i % len(visit_ids)]}/"),
        )
    )
    rng = random.Random(1)
    bodies = [{"content": visit_content(rng, i)} for i in range(n + 1)]
    scenarios.append(
        (
            f"POST /api/cases/{{id}}/visits/ as practitioner {practitioner.username}",
            client_for(practitioner),
            lambda c, i: c.post(f"/api/cases/{leads[0].case_id}/visits/", bodies[i], format="json"),
        )
    )
    for title, client, call in scenarios:
        response = call(client, 0)  # warm-up, and check it works
        assert response.status_code in (200, 201), (title, response.status_code, response.content[:300])
        with query_log() as queries:
            call(client, 1)
        prof = cProfile.Profile()
        started = time.perf_counter()
        prof.enable()
        for i in range(n):
            call(client, i + 1)
        prof.disable()
        elapsed = time.perf_counter() - started
        _profile_block(f"{title}: {elapsed / n * 1000:.2f} ms/call under cProfile", prof, out, n)
        out.write("--- SQL of one request: " + _format_queries(queries))
    prof = cProfile.Profile()
    result = _inproc_writes(n, profile=prof)
    _profile_block(
        f"In-process document_create then document_update ({result['create_ms']:.2f} / "
        f"{result['update_ms']:.2f} ms each under cProfile)",
        prof,
        out,
        2 * n,
    )
    for kind in ("create", "update"):
        out.write(f"--- SQL of one document_{kind}: " + result[f"sql_{kind}"])
    Path(args.profile_out).write_text(out.getvalue())
    print(f"BENCH_RESULT {json.dumps({'profile': args.profile_out})}", flush=True)


# ------------------------------------------------------------------------------------------------
# Engines: a fresh database each, always dropped
# ------------------------------------------------------------------------------------------------


@dataclass
class Engine:
    name: str  # "sqlite" | "postgres"
    env: dict[str, str]
    tmp: Path
    version: str = ""
    settings_note: str = ""
    dbname: str | None = None  # PostgreSQL only
    pg_url: str = ""


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DOORSTEP_FAST_PASSWORD_HASHER"}}
    env.update(
        DJANGO_SETTINGS_MODULE="backend.settings",
        DJANGO_DEBUG="0",
        DOORSTEP_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
    )
    return env


def _pg_admin(url: str) -> Any:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres", query=""))
    return psycopg.connect(admin.replace("postgres://", "postgresql://", 1), autocommit=True)


def _pg_dbname(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith("bench_"):
        raise SystemExit(f"refusing to use database {name!r}: bench databases must be named bench_*")
    return name


@contextlib.contextmanager
def engine_context(name: str, pg_url: str) -> Iterator[Engine]:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench_rest_{name}_"))
    env = base_env()
    env["DOORSTEP_VAR_DIR"] = str(tmp / "var")
    dbname = None
    try:
        if name == "sqlite":
            engine = Engine(name, env, tmp, version=f"SQLite {sqlite3.sqlite_version}")
            engine.settings_note = "same file system as the server"
        else:
            dbname = _pg_dbname(pg_url)
            with _pg_admin(pg_url) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{dbname}"')
                version = conn.execute("SHOW server_version").fetchone()[0]
                sync_commit = conn.execute("SHOW synchronous_commit").fetchone()[0]
                fsync = conn.execute("SHOW fsync").fetchone()[0]
                shared = conn.execute("SHOW shared_buffers").fetchone()[0]
            env["DATABASE_URL"] = pg_url
            engine = Engine(
                name, env, tmp, version=f"PostgreSQL {version.split()[0]}", dbname=dbname, pg_url=pg_url
            )
            engine.settings_note = (
                f"fsync={fsync}, synchronous_commit={sync_commit}, shared_buffers={shared}, same machine, "
                "TCP loopback"
            )
        yield engine
    finally:
        if dbname:
            try:
                with _pg_admin(pg_url) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                log(f"dropped database {dbname}")
            except Exception as exc:
                log(f"could not drop database {dbname}: {exc}")
        shutil.rmtree(tmp, ignore_errors=True)


def manage(engine: Engine, *argv: str, timeout: float = 1800) -> str:
    cmd = [sys.executable, str(REPO / "backend" / "manage.py"), *argv]
    result = subprocess.run(cmd, cwd=REPO, env=engine.env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def run_child(engine: Engine, mode: str, *extra: str, timeout: float = 1800) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, *extra]
    result = subprocess.run(cmd, cwd=REPO, env=engine.env, capture_output=True, text=True, timeout=timeout)
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            return dict(json.loads(line.removeprefix("BENCH_RESULT ")))
    raise RuntimeError(f"child {mode} failed ({result.returncode}):\n{result.stderr[-3000:]}")


# ------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------


class Server:
    def __init__(self, engine: Engine, workers: int, env: dict[str, str] | None = None) -> None:
        self.engine, self.workers = engine, workers
        self.env = env if env is not None else engine.env
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.logfile = engine.tmp / f"uvicorn-w{workers}.log"

    def __enter__(self) -> Server:
        cmd = [
            sys.executable, "-m", "uvicorn", "backend.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        with self.logfile.open("wb") as logf:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=self.env,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 90) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/api/me/", timeout=2).status_code in (401, 403):
                    # With several workers, give the others time to finish importing too.
                    time.sleep(1.0 if self.workers == 1 else 3.0)
                    return
            time.sleep(0.2)
        raise RuntimeError(f"uvicorn not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.logfile.read_text(errors="replace")[-3000:]
        return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # The server runs in its own session: its process group id is its pid (ours alone).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------------
# Load generation
# ------------------------------------------------------------------------------------------------


@dataclass
class Phase:
    engine: str
    workers: int | None
    scenario: str
    concurrency: int
    requests: int = 0
    errors: int = 0
    wall_s: float = 0.0
    throughput: float = 0.0
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")
    p99_ms: float = float("nan")
    server_cpu_ms: float = float("nan")  # uvicorn processes, CPU ms per request
    db_cpu_ms: float = float("nan")  # PostgreSQL for the bench database, CPU ms per request
    rest_cpu_ms: float = float("nan")  # machine busy time nothing above explains, ms per request
    client_cpu_pct: float = float("nan")  # the load generator, % of one core
    machine_cpu_pct: float = float("nan")  # all cores busy, % of the whole machine
    foreign_cpu_pct: float = float("nan")  # processes not ours (and unexplained busy time), % of one core
    peak_db_conns: int | None = None
    #: Requests/s the machine's cores could serve at this CPU cost per request (server, database and
    #: load generator), were nothing else running: an estimate that contention does not distort much.
    ceiling_rps: float = float("nan")
    note: str = ""
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass
class Client:
    username: str
    role: str
    token: str
    case_ids: list[str] = field(default_factory=list)
    visit_ids: list[str] = field(default_factory=list)


RequestFn = Callable[[int, int], tuple[str, str, Any]]


def req_case_list(clients: list[Client], ci: int, n: int) -> tuple[str, str, Any]:
    return "GET", "/api/cases/", None


def req_visit_detail(clients: list[Client], ci: int, n: int) -> tuple[str, str, Any]:
    visits = clients[ci].visit_ids
    return "GET", f"/api/visits/{visits[n % len(visits)]}/", None


def req_visit_create(clients: list[Client], bodies: list[Any], ci: int, n: int) -> tuple[str, str, Any]:
    cases = clients[ci].case_ids
    return "POST", f"/api/cases/{cases[n % len(cases)]}/visits/", bodies[n % len(bodies)]


async def _drive(
    base_url: str, clients: list[Client], concurrency: int, make: RequestFn, count: int,
    max_seconds: float,
) -> tuple[list[float], Counter[str], float]:  # fmt: skip
    """Closed loop: ``concurrency`` clients, each sending its next request as soon as the last one
    answered, until ``count`` requests were sent or ``max_seconds`` passed."""
    import httpx

    tickets = itertools.count()
    deadline = time.perf_counter() + max_seconds
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def one(ci: int) -> None:
        client = clients[ci % len(clients)]
        headers = {"Authorization": f"Token {client.token}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=120) as http:
            while True:
                n = next(tickets)
                if n >= count or time.perf_counter() > deadline:
                    return
                method, url, body = make(ci, n)
                t0 = time.perf_counter()
                try:
                    response = await http.request(method, url, json=body)
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(ci) for ci in range(concurrency)))
    return latencies, statuses, time.perf_counter() - started


def run_phase(
    server: Server, clients: list[Client], *, scenario: str, concurrency: int, make: RequestFn,
    count: int, warmup: int, max_seconds: float, expect: int, quiet_wait: float, note: str = "",
) -> Phase:  # fmt: skip
    engine = server.engine
    if warmup:
        asyncio.run(_drive(server.base_url, clients, concurrency, make, warmup, max_seconds))
    if quiet_wait > 0:
        wait_quiet(quiet_wait, server.proc.pid if server.proc else None, engine.dbname)
    assert server.proc is not None
    account = CpuAccount(server.proc.pid, engine.dbname)
    sampler = PgConnSampler(engine.pg_url, engine.dbname) if engine.dbname else contextlib.nullcontext()
    with sampler:
        account.start()
        latencies, statuses, wall = asyncio.run(
            _drive(server.base_url, clients, concurrency, make, count, max_seconds)
        )
        use = account.stop()
    latencies.sort()
    n = len(latencies)
    per_req = (lambda x: x / n * 1000) if n else (lambda x: float("nan"))
    phase = Phase(
        engine=engine.name,
        workers=server.workers,
        scenario=scenario,
        concurrency=concurrency,
        requests=n,
        errors=sum(v for k, v in statuses.items() if k != str(expect)),
        wall_s=wall,
        throughput=n / wall if wall else 0.0,
        p50_ms=percentile(latencies, 50) * 1000,
        p95_ms=percentile(latencies, 95) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        server_cpu_ms=per_req(use.server),
        db_cpu_ms=per_req(use.db) if engine.dbname else float("nan"),
        rest_cpu_ms=per_req(use.rest),
        client_cpu_pct=use.client / use.wall * 100,
        machine_cpu_pct=use.machine / use.wall / CORES * 100,
        foreign_cpu_pct=use.others / use.wall * 100,
        peak_db_conns=sampler.peak if isinstance(sampler, PgConnSampler) else None,
        ceiling_rps=CORES / ((use.server + use.client + (use.db if engine.dbname else 0.0)) / n)
        if n
        else float("nan"),
        note=note,
        statuses=dict(statuses),
    )
    log(
        f"  {scenario:<20} w={server.workers} c={concurrency:<3} n={n:<5} err={phase.errors:<4} "
        f"{phase.throughput:7.1f}/s  p50 {phase.p50_ms:6.1f}  p95 {phase.p95_ms:6.1f}  p99 {phase.p99_ms:6.1f} ms"
        f"  CPU/req: server {phase.server_cpu_ms:5.1f} db {phase.db_cpu_ms:5.1f} rest {phase.rest_cpu_ms:4.1f} ms; "
        "machine "
        f"{phase.machine_cpu_pct:3.0f}%, client {phase.client_cpu_pct:3.0f}%, others {phase.foreign_cpu_pct:3.0f}%"
        + (f", peak db conns {phase.peak_db_conns}" if phase.peak_db_conns is not None else "")
        + f"; CPU-bound ceiling {phase.ceiling_rps:.0f}/s"
    )
    if phase.errors:
        log(f"  statuses: {phase.statuses}; server log tail:\n{server.log_tail()[-1200:]}")
    return phase


def login_clients(base_url: str, accounts: list[dict[str, Any]], n_clients: int) -> list[Client]:
    """One token per client; clients beyond the number of users reuse users (own tokens)."""
    import httpx

    supervisors = [a for a in accounts if a["role"] == "supervisor"]
    practitioners = [a for a in accounts if a["role"] == "practitioner"]
    # Interleave: a supervisor, then a few practitioners, so any prefix mixes roles.
    users: list[dict[str, Any]] = []
    step = max(1, len(practitioners) // max(1, len(supervisors)))
    for i, sup in enumerate(supervisors):
        users.append(sup)
        users.extend(practitioners[i * step : (i + 1) * step])
    users.extend(p for p in practitioners if p not in users)
    clients = []
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for i in range(n_clients):
            account = users[i % len(users)]
            password = os.environ.get(PASSWORD_ENV) or account["password"]
            r = http.post("/api/auth/token/", json={"username": account["username"], "password": password})
            r.raise_for_status()
            clients.append(Client(account["username"], account["role"], r.json()["token"]))
    return clients


def discover(base_url: str, clients: list[Client]) -> None:
    """Each client's readable cases, and the visits on them, through the API itself."""
    import httpx

    seen: dict[str, tuple[list[str], list[str]]] = {}
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for client in clients:
            if client.username not in seen:
                headers = {"Authorization": f"Token {client.token}"}
                r = http.get("/api/cases/", params={"page_size": 200}, headers=headers)
                r.raise_for_status()
                cases = [c["id"] for c in r.json()["results"]]
                visits = []
                for case_id in cases:
                    rv = http.get(f"/api/cases/{case_id}/visits/", params={"page_size": 200}, headers=headers)
                    rv.raise_for_status()
                    visits.extend(v["id"] for v in rv.json()["results"])
                seen[client.username] = (cases, visits)
            client.case_ids, client.visit_ids = (list(x) for x in seen[client.username])
            random.Random(client.username).shuffle(client.visit_ids)
            if not client.case_ids or not client.visit_ids:
                raise RuntimeError(f"{client.username} can read no case or no visit")


# ------------------------------------------------------------------------------------------------
# One engine, end to end
# ------------------------------------------------------------------------------------------------


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


def bench_engine(name: str, args: argparse.Namespace) -> EngineResult:
    with engine_context(name, args.pg_url) as engine:
        log(f"{name}: {engine.version}; migrating")
        manage(engine, "migrate", "--noinput")
        engine.settings_note += "; app: " + _db_settings(engine)
        log(f"{name}: seeding the demo council ({args.families} families, real password hashing)")
        started = time.monotonic()
        manage(engine, "seed_demo", "--families", str(args.families))
        seed_s = time.monotonic() - started
        accounts = json.loads(manage(engine, "demo_accounts", "--json"))
        log(f"{name}: seeded in {seed_s:.1f}s; in-process writes ({args.inproc_writes} creates + updates)")
        inproc = run_child(engine, "inproc", "--inproc-writes", str(args.inproc_writes))
        log(
            f"  in-process: {inproc['create_per_s']:.0f} creates/s, {inproc['update_per_s']:.0f} updates/s "
            f"({inproc['queries_per_create']} / {inproc['queries_per_update']} queries each)"
        )
        loadavg = Path("/proc/loadavg").read_text().split()[:3]
        phases: list[Phase] = []
        clients: list[Client] = []
        rng = random.Random(99)
        write_bodies = [{"content": visit_content(rng, i)} for i in range(200)]
        for workers in args.workers:
            with Server(engine, workers) as server:
                log(f"{name}: uvicorn --workers {workers} on {server.base_url}")
                if not clients:
                    clients = login_clients(server.base_url, accounts, args.clients)
                    discover(server.base_url, clients)
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
            run_child(
                engine, "profile", "--profile-out", str(out), "--profile-calls", str(args.profile_calls)
            )
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
            settings_note=engine.settings_note,
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


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def machine_facts() -> dict[str, str]:
    import django
    import httpx
    import psycopg
    import uvicorn

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True)
    return {
        "nproc": nproc,
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "uvicorn": uvicorn.__version__,
        "httpx": httpx.__version__,
        "psycopg": psycopg.__version__,
        "commit": commit.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else ""),
    }


def _f(x: float, digits: int = 1) -> str:
    return "–" if x != x else f"{x:,.{digits}f}"  # NaN → dash


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


def write_doc(section: str, path: Path = DOC) -> None:
    """Replace our ``## `` section of ``path`` (or append it), leaving every other section alone."""
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
    else:
        lines = [
            "# Benchmarks\n",
            "\n",
            "Figures from the benchmarks in `tests/bench/`, run by hand (see `tests/bench/README.md`), "
            "never in CI. Each benchmark owns one `##` section and rewrites only that section.\n",
        ]
    start = end = None
    in_fence = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence or not line.startswith("## "):
            continue
        if start is None and line[3:].strip() == SECTION:
            start = i
        elif start is not None:
            end = i
            break
    new = [line + "\n" for line in section.rstrip("\n").split("\n")]
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["\n", *new]
    else:
        tail = lines[end:] if end is not None else []
        lines = lines[:start] + new + (["\n", *tail] if tail else [])
    path.write_text("".join(lines))


# ------------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


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
    p.add_argument("--workers", type=_ints, default=[1, 2], help="uvicorn --workers values, e.g. 1,2")
    p.add_argument("--clients", type=int, default=20, help="concurrent read clients")
    p.add_argument("--requests", type=int, default=2000, help="measured requests per read scenario")
    p.add_argument("--warmup", type=int, default=200, help="warm-up requests per read scenario")
    p.add_argument("--writers", type=_ints, default=[4, 20], help="concurrent HTTP writers, e.g. 4,20")
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
    p.add_argument("--child", choices=["inproc", "profile"], help=argparse.SUPPRESS)
    p.add_argument("--profile-out", help=argparse.SUPPRESS)  # profile child's report path  # fmt: skip
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.warmup, args.writes, args.write_warmup = 300, 40, 150, 10
        args.inproc_writes, args.profile_calls = 150, 30
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "inproc":
        child_inproc(args)
        return 0
    if args.child == "profile":
        child_profile(args)
        return 0
    # A SIGTERM unwinds like Ctrl-C, so every finally block (servers, database, temp dirs) runs.
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in {"sqlite", "postgres"}:
            raise SystemExit(f"unknown engine {e!r}")
    if args.profile_dir:
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
    facts = machine_facts()
    log(
        f"machine: {facts['nproc']} cores, {facts['cpu']}; Python {facts['python']}, Django {facts['django']}"
    )
    results = [bench_engine(e, args) for e in engines]
    section = render(results, facts, args)
    print("\n" + section)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2, default=str))
    if not args.no_doc:
        write_doc(section, args.doc)
        log(f"wrote section {SECTION!r} of {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
