"""The REST benchmark's load: the server, logged-in clients and closed-loop phases with their CPU accounting."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.bench.cpu import CORES, CpuAccount, PgConnSampler, wait_quiet
from tests.bench.harness import AppServer, Engine, log, percentile

PASSWORD_ENV = "BENCH_REST_PASSWORD"


class RestServer(AppServer):
    """``uvicorn backend.asgi:application --workers N``: the app as deployed, nothing wrapped."""

    ready_path = "/api/me/"
    ready_statuses = (401, 403)
    settle_s = 1.0

    def __init__(self, engine: Engine, workers: int) -> None:
        super().__init__(
            engine, app="backend.asgi:application", workers=workers, logname=f"uvicorn-w{workers}.log"
        )


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
    server: RestServer, clients: list[Client], *, scenario: str, concurrency: int, make: RequestFn,
    count: int, warmup: int, max_seconds: float, expect: int, quiet_wait: float, note: str = "",
) -> Phase:  # fmt: skip
    engine = server.engine
    if warmup:
        asyncio.run(_drive(server.url, clients, concurrency, make, warmup, max_seconds))
    if quiet_wait > 0:
        wait_quiet(quiet_wait, server.proc.pid if server.proc else None, engine.dbname)
    assert server.proc is not None
    account = CpuAccount(server.proc.pid, engine.dbname)
    sampler = PgConnSampler(engine.pg_url, engine.dbname) if engine.dbname else contextlib.nullcontext()
    with sampler:
        account.start()
        latencies, statuses, wall = asyncio.run(
            _drive(server.url, clients, concurrency, make, count, max_seconds)
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
