"""Shared benchmark harness: engines, child processes, the app server, machine facts, the doc writer."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
NODE_DIR = REPO / "tests" / "node"
DOC_PREAMBLE = (
    "# Benchmarks\n",
    "\n",
    "Figures from the benchmarks in `tests/bench/`, run by hand (see `tests/bench/README.md`), "
    "never in CI. Each benchmark owns one `##` section and rewrites only that section.\n",
)


@dataclass
class CodeTree:
    """The code that runs (server, children, Node peer): the working tree, or with ``--rev`` a
    clean export of that commit (plus the bench files), so figures belong to one known version."""

    path: Path = REPO
    note: str = ""


code = CodeTree()


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(x: float, digits: int = 1) -> str:
    return "–" if x != x else f"{x:,.{digits}f}"  # NaN → dash


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def load_text(load: tuple[float, float, float] | None = None) -> str:
    one, five, fifteen = load or loadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def wait_load(threshold: float, max_wait: float, what: str) -> tuple[float, float, float]:
    """Wait (bounded) until the 1-minute load average is under ``threshold``; returns the load
    average at the end of the wait (recorded next to the figure that follows)."""
    deadline = time.monotonic() + max_wait
    told = False
    while True:
        load = loadavg()
        if load[0] < threshold or time.monotonic() >= deadline:
            if told:
                verdict = "quiet enough" if load[0] < threshold else "still busy, going ahead"
                log(f"  load {load_text(load)} ({verdict})")
            return load
        if not told:
            log(f"  load {load_text(load)} ≥ {threshold}: waiting up to {max_wait:.0f}s before {what}")
            told = True
        time.sleep(5)


def stop_group(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop a child started in its own session (its process group is its pid, ours alone)."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def interrupt_on_sigterm() -> None:
    """A SIGTERM unwinds like Ctrl-C, so every finally block (servers, database, temp dirs) runs."""

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _interrupt)


# ------------------------------------------------------------------------------------------------
# Engines: a fresh database each, always dropped
# ------------------------------------------------------------------------------------------------


@dataclass
class Engine:
    name: str  # "sqlite" | "postgres"
    env: dict[str, str]
    tmp: Path
    version: str = ""
    notes: str = ""
    pg_url: str = ""
    dbname: str | None = None  # PostgreSQL only
    pg_settings: dict[str, str] = field(default_factory=dict)

    @property
    def is_pg(self) -> bool:
        return self.name == "postgres"


def base_env(*, fast_hasher: bool) -> dict[str, str]:
    """The environment of every child (server, manage.py, child modes): the app's settings and
    nothing of the caller's Django/Doorstep settings. ``fast_hasher`` skips PBKDF2's cost where
    logins are not what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOORSTEP_", "BENCH_"))}
    env.pop("DATABASE_URL", None)
    env.pop("NODE_OPTIONS", None)
    env.update(
        DJANGO_SETTINGS_MODULE="backend.settings",
        DJANGO_DEBUG="0",
        DOORSTEP_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(p for p in (str(code.path), os.environ.get("PYTHONPATH", "")) if p),
        PYTHONUNBUFFERED="1",
    )
    if fast_hasher:
        env["DOORSTEP_FAST_PASSWORD_HASHER"] = "1"
    return env


def pg_admin(url: str) -> Any:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres", query=""))
    return psycopg.connect(admin.replace("postgres://", "postgresql://", 1), autocommit=True)


def pg_dbname(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith("bench_"):
        raise SystemExit(f"refusing to use database {name!r}: bench databases must be named bench_*")
    return name


PG_SHOWN = ("server_version", "shared_buffers", "work_mem", "fsync", "synchronous_commit")


@contextlib.contextmanager
def engine_context(name: str, pg_url: str, *, prefix: str, fast_hasher: bool) -> Iterator[Engine]:
    """SQLite in a temporary ``DOORSTEP_VAR_DIR``, or the PostgreSQL database of ``pg_url``
    dropped and re-created; dropped and removed again at the end, also on failure."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}_{name}_"))
    env = base_env(fast_hasher=fast_hasher)
    env["DOORSTEP_VAR_DIR"] = str(tmp / "var")
    dbname = None
    try:
        if name == "sqlite":
            engine = Engine(name, env, tmp, version=f"SQLite {sqlite3.sqlite_version}")
        else:
            dbname = pg_dbname(pg_url)
            with pg_admin(pg_url) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{dbname}"')
                shown = {k: str(conn.execute(f"SHOW {k}").fetchone()[0]) for k in PG_SHOWN}
            env["DATABASE_URL"] = pg_url
            engine = Engine(
                name, env, tmp, version=f"PostgreSQL {shown['server_version'].split()[0]}", pg_url=pg_url,
                dbname=dbname, pg_settings=shown,
            )  # fmt: skip
        yield engine
    finally:
        if dbname:
            try:
                with pg_admin(pg_url) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                log(f"dropped database {dbname}")
            except Exception as exc:
                log(f"could not drop database {dbname}: {exc}")
        shutil.rmtree(tmp, ignore_errors=True)


def manage(engine: Engine, *argv: str, timeout: float = 1800) -> str:
    cmd = [sys.executable, str(code.path / "backend" / "manage.py"), *argv]
    result = subprocess.run(
        cmd, cwd=code.path, env=engine.env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def run_child(
    engine: Engine, script: str, mode: str, params: dict[str, Any], *, timeout: float = 7200, nice: int = 0
) -> dict[str, Any]:
    """Run child mode ``mode`` of ``tests/bench/<script>`` against the engine's database; its result
    comes back through a JSON file (stderr streams through for progress). ``nice`` lowers the
    priority of work nothing measures (data loading), so it disturbs other work less."""
    params_path = engine.tmp / f"params-{mode}.json"
    out_path = engine.tmp / f"out-{mode}.json"
    params_path.write_text(json.dumps(params))
    out_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(code.path / "tests" / "bench" / script), "--child", mode, "--params",
           str(params_path), "--out", str(out_path)]  # fmt: skip
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    result = subprocess.run(
        cmd, cwd=code.path, env=engine.env, stdout=subprocess.PIPE, text=True, timeout=timeout
    )
    if result.returncode != 0 or not out_path.exists():
        raise RuntimeError(f"child {mode} failed ({result.returncode}); see its output above")
    return dict(json.loads(out_path.read_text()))


def child_main(children: dict[str, Any], args: Any) -> int:
    """The child side of ``run_child``: read the params, run the mode, write its result."""
    params = json.loads(Path(args.params).read_text())
    result = children[args.child](params)
    Path(args.out).write_text(json.dumps(result, default=str))
    return 0


def django_setup() -> None:
    """Django against the engine's database (a child process: the environment names it)."""
    sys.path.insert(0, str(code.path))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    import django

    django.setup()


# ------------------------------------------------------------------------------------------------
# The app server
# ------------------------------------------------------------------------------------------------


class AppServer:
    """``uvicorn <app>`` on a fixed loopback port, in its own session; restartable on the same
    port (so a Node peer's remote handle stays valid) and a context manager."""

    ready_path = "/sync/"
    ready_statuses: tuple[int, ...] = (200,)
    settle_s = 0.0

    def __init__(self, engine: Engine, *, app: str, workers: int = 1, env: dict[str, str] | None = None,
                 logname: str = "uvicorn.log") -> None:  # fmt: skip
        self.engine, self.app, self.workers = engine, app, workers
        self.env = env if env is not None else engine.env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logfile = engine.tmp / logname
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        import httpx

        cmd = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port),
               "--no-access-log", "--log-level", "warning"]  # fmt: skip
        if self.workers != 1:
            cmd += ["--workers", str(self.workers)]
        with self.logfile.open("ab") as logf:
            self.proc = subprocess.Popen(
                cmd,
                cwd=code.path,
                env=self.env,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"uvicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(self.url + self.ready_path, timeout=2).status_code in self.ready_statuses:
                        # With several workers, give the others time to finish importing too.
                        time.sleep(self.settle_s if self.workers == 1 else 3.0)
                        return
                time.sleep(0.2)
            raise RuntimeError(f"uvicorn not ready:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.logfile.read_text(errors="replace")[-3000:]
        return ""

    def stop(self) -> None:
        stop_group(self.proc)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------------
# Machine facts and the code that ran
# ------------------------------------------------------------------------------------------------


def code_description() -> str:
    """Which code ran: the exported commit, or the working tree's commit plus a hash of any
    uncommitted change to the application."""
    if code.note:
        return code.note
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    where = ["--", "backend", "sync", "clients", "schemas"]
    diff = subprocess.run(["git", "diff", "HEAD", *where], cwd=REPO, capture_output=True, text=True).stdout
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", *where],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.split()
    text = f"working tree at {head.stdout.strip()}"
    if diff or untracked:
        text += (
            f" with uncommitted changes to the application (diff sha1 {hashlib.sha1(diff.encode()).hexdigest()[:10]}"
            f"{', new files ' + ', '.join(untracked) if untracked else ''})"
        )
    return text


def machine_facts() -> dict[str, str]:
    """Cores, CPU, memory, kernel, the Python stack's versions and the code that ran."""
    import django
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
    return {
        "nproc": nproc,
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "uvicorn": uvicorn.__version__,
        "psycopg": psycopg.__version__,
        "commit": code_description(),
    }


def node_package_version(name: str) -> str:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return str(json.loads((NODE_DIR / "node_modules" / name / "package.json").read_text())["version"])
    return "?"


@contextlib.contextmanager
def code_snapshot(rev: str | None) -> Iterator[None]:
    """With ``rev``: export that commit (``git archive``, read-only on the repository) into a
    temporary directory, add this bench's files and a link to tests/node/node_modules, and run
    everything from there; removed afterwards."""
    if not rev:
        yield
        return
    full = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    snap = Path(tempfile.mkdtemp(prefix="bench_code_"))
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", full], cwd=REPO, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(snap)], input=archive.stdout, check=True)
        bench = snap / "tests" / "bench"
        bench.mkdir(parents=True, exist_ok=True)
        for path in (REPO / "tests" / "bench").iterdir():
            if path.suffix in (".py", ".mjs"):
                shutil.copy(path, bench / path.name)
        (snap / "tests" / "node" / "node_modules").symlink_to(NODE_DIR / "node_modules")
        subject = subprocess.run(["git", "log", "-1", "--format=%h %s", full], cwd=REPO, capture_output=True,
                                 text=True).stdout.strip()  # fmt: skip
        short = subject if len(subject) <= 70 else subject[:69] + "…"
        code.path, code.note = snap, f"commit {short} (a clean export of it; the working tree was not used)"
        log(f"running commit {full[:10]} from {snap}")
        yield
    finally:
        code.path, code.note = REPO, ""
        shutil.rmtree(snap, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# The doc writer
# ------------------------------------------------------------------------------------------------


def write_section(path: Path, title: str, section: str) -> None:
    """Replace the ``## title`` section of ``path`` (or append it), leaving every other section alone."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else list(DOC_PREAMBLE)
    start = end = None
    in_fence = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence or not line.startswith("## "):
            continue
        if start is None and line[3:].strip() == title:
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
