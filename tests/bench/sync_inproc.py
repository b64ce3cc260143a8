"""The sync benchmark's in-process children: SQL and plans of the feed, replayed requests and writes, checks, the Python client."""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.bench.content import iso
from tests.bench.harness import code, django_setup, median, percentile
from tests.bench.sync_load import PASSPHRASE, PASSWORD, counts


def _capture_sql() -> tuple[Any, list[tuple[float, str, Any]]]:
    """An execute wrapper recording (ms, sql, params) of every statement on this thread's connection."""
    entries: list[tuple[float, str, Any]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entries.append(((time.perf_counter() - t0) * 1000, sql, params))

    return wrapper, entries


def _explain(sql: str, params: Any) -> list[str]:
    """The plan of one statement: EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL (run inside a
    rolled-back transaction, so a write explains without effect), EXPLAIN QUERY PLAN on SQLite."""
    from django.db import connection, transaction

    if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with transaction.atomic():
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = [r[0] for r in cursor.fetchall()]
                transaction.set_rollback(True)
            return plan
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return [str(r[3]) for r in cursor.fetchall()]


def _document_indexes() -> dict[str, list[str]]:
    """Indexes of records_document: name -> columns."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'records_document'")
            return {
                name: [c.strip().strip('"') for c in definition.rsplit("(", 1)[1].rstrip(")").split(",")]
                for name, definition in cursor.fetchall()
            }
        cursor.execute("PRAGMA index_list('records_document')")
        names = [row[1] for row in cursor.fetchall()]
        out = {}
        for name in names:
            cursor.execute(f"PRAGMA index_info('{name}')")
            out[name] = [row[2] for row in cursor.fetchall()]
        return out


def _collapse_values(sql: str) -> str:
    """``VALUES (…), (…), …`` with one group per case shown once, with a count."""
    start = sql.find("VALUES (")
    if start < 0:
        return sql
    pos, depth = start + len("VALUES "), 0
    for end in range(pos, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        if depth == 0:
            break
    group = sql[pos : end + 1]
    count, cursor = 1, end + 1
    while sql.startswith(", " + group, cursor):
        count, cursor = count + 1, cursor + 2 + len(group)
    return sql[:pos] + f"<{count} × {group}>" + sql[cursor:]


def child_explain(p: dict[str, Any]) -> dict[str, Any]:
    """The feed query of a no-change sync (``feed.document_changes`` with the device's
    checkpoint): its SQL, its plan (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on
    SQLite) and its in-process time; then the statements of each request of a no-change sync,
    through Django's test client (in-process, no server)."""
    django_setup()
    from django.db import connection
    from django.test import Client

    from backend.accounts.models import Device, User
    from backend.accounts.services import token_issue
    from backend.syncapi import feed
    from backend.syncapi.params import parse_since
    from backend.syncapi.subset import case_access

    user = User.objects.get(username=p["username"])
    access = case_access(user)
    since = parse_since(p["since"])
    assert since is not None
    wrapper, entries = _capture_sql()
    with connection.execute_wrapper(wrapper):
        rows = feed.document_changes(access, since, limit=p["limit"] + 1, with_tree=True)
    # The feed query is the first statement document_changes runs (trees may follow it).
    sql, params = entries[0][1], entries[0][2]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = [r[0] for r in cursor.fetchall()]
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = [f"{'  ' * 0}{r[3]}  (id {r[0]}, parent {r[1]})" for r in cursor.fetchall()]
    times = []
    for _ in range(p["repeat"]):
        t0 = time.perf_counter()
        feed.document_changes(access, since, limit=p["limit"] + 1, with_tree=True)
        times.append((time.perf_counter() - t0) * 1000)
    shown_sql = _collapse_values(re.sub(r"\s+", " ", sql).strip())
    # One no-change sync's requests, in-process, with their SQL.
    device = Device.objects.get(pk=p["device_pk"])
    secret, _ = token_issue(user=user, device=device)
    client = Client(HTTP_AUTHORIZATION=f"Token {secret}")
    requests = []
    for method, path in p["requests"]:
        wrapper, entries = _capture_sql()
        # Warm once (connection, caches), then measure.
        client.generic(method, path)
        with connection.execute_wrapper(wrapper):
            t0 = time.perf_counter()
            response = client.generic(method, path)
            ms = (time.perf_counter() - t0) * 1000
        body = response.content[:300].decode(errors="replace")
        requests.append(
            {
                "method": method,
                "path": path,
                "status": response.status_code,
                "ms": ms,
                "db_ms": sum(e[0] for e in entries),
                "statements": [(round(e[0], 2), re.sub(r"\s+", " ", e[1])[:160]) for e in entries],
                "body": body,
            }
        )
    # Where the in-process time of those requests goes (cProfile over repeated no-change syncs).
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(p["profile_repeat"]):
        for method, path in p["requests"]:
            client.generic(method, path)
    profile.disable()
    buf = io.StringIO()
    stats = pstats.Stats(profile, stream=buf)
    stats.sort_stats("cumulative").print_stats(r"(backend|sync)/", 25)
    text = buf.getvalue()
    buf2 = io.StringIO()
    pstats.Stats(profile, stream=buf2).sort_stats("tottime").print_stats(15)
    text2 = buf2.getvalue()
    # One batch of an initial pull, in-process: _changes from since=0 and the _bulk_get that follows
    # (PouchDB's parameters), with their SQL; median of a few runs (audit events are written, as live).
    from backend.syncapi.params import SeqToken

    first = feed.document_changes(access, SeqToken.zero(), limit=p["limit"])
    docs = [{"id": r.doc_id, "rev": r.rev} for r in first]
    pull_batch = []
    for method, path, body in (
        ("GET", f"/sync/caseload/_changes?style=all_docs&since=0&limit={p['limit']}", None),
        ("POST", "/sync/caseload/_bulk_get?revs=true&latest=true", json.dumps({"docs": docs})),
        ("GET", "/sync/caseload/", None),
    ):
        runs, entries = [], []
        for _ in range(7):
            wrapper, entries = _capture_sql()
            with connection.execute_wrapper(wrapper):
                t0 = time.perf_counter()
                if body is None:
                    response = client.generic(method, path)
                else:
                    response = client.generic(method, path, body, content_type="application/json")
                runs.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.content[:300]
        slowest = max(entries, key=lambda e: e[0])
        pull_batch.append(
            {
                "method": method, "path": path.split("?")[0], "ms": median(runs[2:]),
                "bytes": len(response.content), "db_ms": sum(e[0] for e in entries),
                "statements": [(round(e[0], 2), re.sub(r"\s+", " ", e[1])[:160]) for e in entries],
                "slowest": re.sub(r"\s+", " ", slowest[1])[:300], "slowest_plan": _explain(slowest[1], slowest[2]),
            }
        )  # fmt: skip
    return {
        "indexes": _document_indexes(),
        "pull_batch": pull_batch,
        "profile_cumulative": text[text.find("   ncalls") :],
        "profile_tottime": text2[text2.find("   ncalls") :],
        "profile_syncs": p["profile_repeat"],
        "vendor": connection.vendor,
        "cases": len(access),
        "rows": len(rows),
        "sql": shown_sql,
        "plan": plan,
        "query_ms_median": median(times),
        "query_ms_p95": percentile(times, 95),
        "requests": requests,
        "documents": counts()["documents"],
    }


def child_check(p: dict[str, Any]) -> dict[str, Any]:
    """What the server holds for ``ids`` after a conflicting push: merge audit events, review
    items, documents with more than one live leaf, documents waiting for a decision."""
    django_setup()
    from backend.audit.models import AuditAction, AuditEvent
    from backend.records.models import ConflictItem, Document
    from sync import revtree

    ids = p["ids"]
    merges = AuditEvent.objects.filter(action=AuditAction.MERGE, object_id__in=ids)
    merge_outcomes = Counter((e.detail or {}).get("outcome", "merged") for e in merges.only("detail"))
    items = ConflictItem.objects.filter(document_id__in=ids)
    multi = pending = 0
    for document in Document.objects.filter(id__in=ids).only("id", "tree", "meta"):
        live = [leaf for leaf in revtree.leaves(revtree.from_json(document.tree)) if not leaf.deleted]
        multi += len(live) != 1
        pending += bool((document.meta or {}).get("decisions_pending"))
    return {
        "ids": len(ids),
        "merge_events": merges.count(),
        "merge_outcomes": dict(merge_outcomes),
        "conflict_items": items.count(),
        "conflict_fields": dict(Counter(items.values_list("field", flat=True))),
        "docs_with_several_live_leaves": multi,
        "docs_waiting_for_decision": pending,
        "sync_push_events": AuditEvent.objects.filter(
            action=AuditAction.SYNC_PUSH, object_id__in=ids
        ).count(),
    }


def child_pyclient(p: dict[str, Any]) -> dict[str, Any]:
    """The Python client (clients/python) as a device: login, enrol, pull the caseload, then
    open every document (``DoorstepClient.records``, the caseload path: replica read + decrypt +
    join), ``open_content`` on documents already in memory, and bare ``sync.decrypt_body``."""
    sys.path.insert(0, str(code.path))
    sys.path.insert(0, str(code.path / "clients" / "python"))
    from doorstep_client import DoorstepClient
    from doorstep_client.caseload import open_content

    from sync import decrypt_body, load_schemas

    client = DoorstepClient(Path(p["home"]), p["url"], retries=1, timeout=300)
    try:
        client.login(p["username"], PASSWORD)
        client.enrol(PASSPHRASE, name="bench-python")
        t0 = time.perf_counter()
        summary = client.sync(progress=False)
        pull_s = time.perf_counter() - t0
        docs = [d for d in client.replica.docs() if isinstance(d.get("enc"), dict)]
        keys = client._case_keys()
        for kid in {d["enc"]["kid"] for d in docs}:
            keys.key(kid)  # unwrap every case key once (X25519 + HKDF), as a session would
        out: dict[str, Any] = {"pull_s": pull_s, "pulled": summary.pull.docs_written, "docs": len(docs)}
        for _attempt in range(p["repeat"]):
            t0 = time.perf_counter()
            records = client.records()
            records_s = time.perf_counter() - t0
            readable = sum(1 for r in records if r.readable)
            schemas = load_schemas()
            t0 = time.perf_counter()
            for doc in docs:
                open_content(doc, keys=keys, schema=schemas[doc["type"]])
            open_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            for doc in docs:
                decrypt_body(
                    doc["enc"], key=keys.key(doc["enc"]["kid"]), doc_id=doc["_id"], doc_type=doc["type"],
                    case_id=doc["case_id"],
                )  # fmt: skip
            raw_s = time.perf_counter() - t0
            out.setdefault("runs", []).append(
                {"records": readable, "records_s": records_s, "open_s": open_s, "raw_s": raw_s}
            )
        return out
    finally:
        client.close()


def _statement_kinds(entries: list[tuple[float, str, Any]]) -> dict[str, int]:
    """Statements by kind and table, e.g. ``SELECT records_revision``."""
    kinds: Counter[str] = Counter()
    for _, sql, _ in entries:
        text = re.sub(r"\s+", " ", sql).strip()
        verb = text.split(" ", 1)[0].upper()
        m = re.search(r'(?:FROM|INTO|UPDATE) "?([a-z_]+)"?', text, re.IGNORECASE)
        f = re.match(r"SELECT (\w+)\(", text, re.IGNORECASE)
        target = m.group(1) if m and m.group(1) != "generate_series" else (f"{f.group(1)}()" if f else "")
        kinds[f"{verb} {target}".strip()] += 1
    return dict(kinds.most_common())


def child_writes(p: dict[str, Any]) -> dict[str, Any]:
    """Replicated writes replayed in-process (Django's test client, ``_bulk_docs`` with
    ``new_edits=false`` and one document per request, as a tablet's push sends them): the SQL
    statements and time of a clean edit, and of an edit that conflicts with a sibling edit of
    the same parent (so the server merges), plus a cProfile of each kind."""
    django_setup()
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from backend.accounts.models import Device, User
    from backend.accounts.services import token_issue
    from backend.records.models import Document
    from backend.records.services import view_of
    from backend.records.store import seal_body
    from sync import revtree

    user = User.objects.get(username=p["username"])
    secret, _ = token_issue(user=user, device=Device.objects.get(pk=p["device_pk"]))
    client = Client(HTTP_AUTHORIZATION=f"Token {secret}")

    def edited(doc_id: str, parent: str, text: str) -> dict[str, Any]:
        document = Document.objects.get(pk=doc_id)
        content = dict(view_of(document).content) if parent == document.rev else {}
        if not content:
            from backend.records.codec import open_body
            from backend.records.models import Revision

            body = Revision.objects.get(document=document, rev=parent).body
            content = open_body(doc_id=doc_id, doc_type="visit", case_id=document.case_id, body=body)
        content["analysis"] = f"{content.get('analysis', '')} {text}".strip()
        content["updated_at"] = iso(timezone.now())
        content["updated_by"] = user.ref
        body = seal_body(doc_id=doc_id, doc_type="visit", case_id=document.case_id, content=content)
        pos, parent_hash = revtree.parse_rev(parent)
        rev_hash = revtree.new_rev_hash(parent=parent, deleted=False, body=body)
        return {
            "_id": doc_id, "_rev": f"{pos + 1}-{rev_hash}", "_revisions": {"start": pos + 1, "ids": [rev_hash, parent_hash]},
            "type": "visit", "case_id": document.case_id, **body,
        }  # fmt: skip

    def post(doc: dict[str, Any]) -> tuple[float, list[tuple[float, str, Any]]]:
        wrapper, entries = _capture_sql()
        with connection.execute_wrapper(wrapper):
            t0 = time.perf_counter()
            response = client.post(
                "/sync/caseload/_bulk_docs", data=json.dumps({"docs": [doc], "new_edits": False}),
                content_type="application/json",
            )  # fmt: skip
            ms = (time.perf_counter() - t0) * 1000
        assert response.status_code == 201 and response.json() == [], response.content[:300]
        return ms, entries

    ids = p["ids"]
    half = len(ids) // 2
    out: dict[str, Any] = {}
    for kind, chosen in (("clean", ids[:half]), ("merge", ids[half:])):
        times, counts, db_ms = [], [], []
        example: list[tuple[float, str, Any]] = []
        profile = cProfile.Profile()
        for i, doc_id in enumerate(chosen):
            base = Document.objects.get(pk=doc_id).rev
            if kind == "merge":  # a sibling edit of the same parent first (not measured)
                post(edited(doc_id, base, "Edit from the first device."))
            doc = edited(doc_id, base, "Edit from the second device.")
            # The first two warm up; then every other write is timed, the others run under cProfile.
            profiled = i >= 2 and i % 2 == 1
            if profiled:
                profile.enable()
            ms, entries = post(doc)
            if profiled:
                profile.disable()
            elif i >= 2:
                times.append(ms)
                counts.append(len(entries))
                db_ms.append(sum(e[0] for e in entries))
                example = entries
        buf = io.StringIO()
        pstats.Stats(profile, stream=buf).sort_stats("cumulative").print_stats(r"(backend|sync)/", 30)
        text = buf.getvalue()
        out[kind] = {
            "writes": len(times),
            "ms_median": median(times),
            "statements_median": median(counts),
            "db_ms_median": median(db_ms),
            "kinds": _statement_kinds(example),
            "statements": [(round(e[0], 2), re.sub(r"\s+", " ", e[1])[:140]) for e in example],
            "profile": text[text.find("   ncalls") :],
        }
    out["vendor"] = connection.vendor
    return out
