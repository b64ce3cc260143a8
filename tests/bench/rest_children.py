"""The REST benchmark's in-process children: visit writes through the document services, and cProfile of each scenario."""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.bench.content import rest_prose, rest_visit_content
from tests.bench.harness import django_setup


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
    contents = [rest_visit_content(rng, i) for i in range(n)]
    edits = [{**c, "observations": c["observations"] + " " + rest_prose(rng, 2)} for c in contents]

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


def child_inproc(p: dict[str, Any]) -> dict[str, Any]:
    django_setup()
    from django.db import connection

    result = _inproc_writes(int(p["writes"]))
    result["vendor"] = connection.vendor
    return result


def _profile_block(title: str, prof: cProfile.Profile, out: io.StringIO, calls: int) -> None:
    out.write(f"\n{'=' * 100}\n{title}  ({calls} calls)\n{'=' * 100}\n")
    for sort in ("cumulative", "tottime"):
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.strip_dirs().sort_stats(sort).print_stats(35)
        text = buf.getvalue()
        out.write(f"--- sorted by {sort} ---\n" + text[text.find("   ncalls") :])


def child_profile(p: dict[str, Any]) -> dict[str, Any]:
    """cProfile of each scenario through Django's test client (no ASGI server), plus the SQL of
    one request of each. Writes a text report to ``p["out"]``."""
    django_setup()
    from django.db import connection
    from rest_framework.test import APIClient

    from backend.accounts.models import Role, User
    from backend.accounts.services import token_issue
    from backend.records.models import Document

    out = io.StringIO()
    out.write(f"Profile of the REST scenarios on {connection.vendor} (Django test client, in-process)\n")
    n = int(p["calls"])

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
    bodies = [{"content": rest_visit_content(rng, i)} for i in range(n + 1)]
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
    Path(p["out"]).write_text(out.getvalue())
    return {"profile": p["out"]}
