"""CPU accounting for the benchmarks: per process, per PostgreSQL backend, and for the whole machine."""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench.harness import log, pg_admin

CLK_TCK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def proc_cpu(pid: int | None) -> float:
    """utime + stime of one process in seconds (0 if gone)."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process, plus what the postmaster's exited children used."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        if not head.endswith("(postgres"):
            continue
        fields = tail.split()
        total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLK_TCK
    return total


@dataclass
class CpuWindow:
    server: float = 0.0
    node: float = 0.0
    pg: float = 0.0
    wall: float = 0.0


class CpuMeter:
    """CPU seconds used by the server, the Node peers and PostgreSQL during a span."""

    def __init__(self, server_pid: int | None, node_pid: int | None, pg: bool) -> None:
        self.server_pid, self.node_pid, self.pg = server_pid, node_pid, pg

    def __enter__(self) -> CpuMeter:
        self._t = time.perf_counter()
        self._s, self._n = proc_cpu(self.server_pid), proc_cpu(self.node_pid)
        self._p = postgres_cpu() if self.pg else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.result = CpuWindow(
            server=proc_cpu(self.server_pid) - self._s,
            node=proc_cpu(self.node_pid) - self._n,
            pg=(postgres_cpu() - self._p) if self.pg else 0.0,
            wall=time.perf_counter() - self._t,
        )


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
        with pg_admin(self.pg_url) as conn:
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
