#!/usr/bin/env python3
"""Replication benchmark for ``/sync/caseload``: initial pull, no-change sync, push of offline
edits, the share of server time spent in crypto, and merging 1,000 concurrent edits. Run by
hand, never in CI; see tests/bench/README.md.

For each engine (SQLite in a temporary ``DOORSTEP_VAR_DIR``; PostgreSQL in a fresh ``bench_sync``
database, dropped afterwards) it builds one practitioner's caseload of 10,000 documents (50 cases)
while the database also holds other practitioners' documents — first 10,000 of them (20,000 in
all), then 200,000 (210,000 in all) — with a bulk loader that writes exactly what the document
store writes. Then, against the real server (``uvicorn tests.bench.asgi:application``: the app
under a timing wrapper), PouchDB 9 tablets in Node (tests/bench/pull.mjs) pull, sync with
nothing new, edit offline and push; pouchdb-server (in memory) serves the same documents for
comparison; py-spy samples the server while it serves a pull and pushes; the Python client
decrypts the caseload. It prints the tables and rewrites the sections "Replication
(/sync/caseload)", "Encryption cost" and "Merging concurrent edits" of docs/benchmarks.md.

    .venv/bin/python tests/bench/bench_sync.py                      # both engines, ~45-60 min
    .venv/bin/python tests/bench/bench_sync.py --engine sqlite --quick --no-doc   # smoke run

Servers, Node processes, py-spy, the bench database and temporary directories are cleaned up in
``finally`` blocks, also on failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import io
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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
NODE_DIR = REPO / "tests" / "node"
#: The code that runs (server, children, Node peer): the working tree, or with ``--rev`` a clean
#: export of that commit (plus these bench files), so figures belong to one known version.
CODE = REPO
CODE_NOTE = ""
POUCHDB_SERVER = NODE_DIR / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"
SECTIONS = ("Replication (/sync/caseload)", "Encryption cost", "Merging concurrent edits")
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/bench_sync"
PASSWORD = "bench-sync-password-2026"
PASSPHRASE = "bench sync passphrase 2026"

#: Targets from the issues.
TARGET_PULL_S = 10.0
TARGET_PULL_RATIO = 1.0
TARGET_NOCHANGE_MS = 50.0
TARGET_NOCHANGE_RATIO = 1.5
TARGET_PUSH_S = 3.0
TARGET_CRYPTO_SHARE = 0.20
TARGET_MERGES_PER_S = 500.0

#: One case's documents besides the case document itself: 8 people, then visits and notes
#: (a note every sixth slot), so 199 per case → 8 people, 160 visits, 31 notes.
PEOPLE_PER_CASE = 8
VISIT_STATUSES = ["draft", "submitted", "submitted", "returned", "signed_off"]
EDITABLE = {"draft", "submitted", "returned"}

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


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


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


CLK_TCK = os.sysconf("SC_CLK_TCK")


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


# ------------------------------------------------------------------------------------------------
# Document content: deterministic, realistic sizes (a visit encrypts to ~2 KB of base64)
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
    return " ".join(
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."
        for _ in range(sentences)
    )


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def visit_content(rng: random.Random, n: int, when: datetime, people: list[str]) -> dict[str, Any]:
    """The worker's part of a visit (~1.5 KB of JSON); workflow fields are added by the loader."""
    return {
        "visit_date": _iso(when),
        "visit_type": rng.choice(["statutory", "statutory", "planned", "unannounced"]),
        "people_present": [{"id": people[0], "name": "Parent", "relationship": "mother"}],
        "children_seen": [
            {"person_id": people[1], "seen": True, "seen_alone": False,
             "reason_not_seen_alone": "Too young to be seen alone."}
        ],
        "home_environment": _prose(rng, 2),
        "observations": "\n\n".join(_prose(rng, 2) for _ in range(3)),
        "child_voice": _prose(rng, 1),
        "analysis": _prose(rng, 2),
        "actions": [
            {"id": f"a{n}-{i}", "text": _prose(rng, 1), "owner": "social worker",
             "due_date": (when.date() + timedelta(days=7 + i)).isoformat(), "done": False}
            for i in range(2)
        ],
        "risk_level": rng.choice(["low", "medium", "medium"]),
        "risk_concerns": _prose(rng, 1),
    }  # fmt: skip


def note_content(rng: random.Random, when: datetime) -> dict[str, Any]:
    return {
        "category": rng.choice(["general", "phone_call", "meeting", "correspondence"]),
        "occurred_at": _iso(when),
        "subject": _prose(rng, 1)[:120],
        "text": "\n\n".join(_prose(rng, 3) for _ in range(3)),
    }


def person_content(rng: random.Random, k: int, today: datetime) -> dict[str, Any]:
    child = k % 2 == 0
    dob = today.date() - timedelta(days=rng.randint(200, 6000) if child else rng.randint(7000, 20000))
    return {
        "role": "child" if child else "parent",
        "full_name": f"Person {k} Bench",
        "preferred_name": f"P{k}",
        "date_of_birth": dob.isoformat(),
        "gender": rng.choice(["female", "male"]),
        "relationship": "child of the family" if child else "mother",
        "lives_in_household": True,
        "notes": _prose(rng, 2),
    }


def case_content(rng: random.Random, index: int) -> dict[str, Any]:
    return {
        "case_type": "child_in_need",
        "visit_frequency_days": 20,
        "family_name": f"Bench family {index}",
        "address": {"line1": f"{index} Benchmark Road", "town": "Doorstep", "postcode": "DS1 1AA"},
        "reason_for_involvement": _prose(rng, 3),
        "summary": _prose(rng, 4),
    }


# ------------------------------------------------------------------------------------------------
# Child modes: inside a Django process against the bench database
# ------------------------------------------------------------------------------------------------


def _django_setup() -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    import django

    django.setup()


def _make_cases(
    *, supervisor: Any, team: Any, leads: list[Any], count: int, start: int, coworker: Any = None
) -> list[tuple[str, Any]]:
    """``count`` cases opened and allocated through the real services (case_create,
    allocation_add); ``leads[i % len(leads)]`` leads case i. Returns (case id, lead user)."""
    from backend.audit.services import Actor
    from backend.cases.services import allocation_add, case_create

    actor = Actor(user=supervisor)
    out = []
    for i in range(count):
        index = start + i
        rng = random.Random(f"case-{index}")
        view = case_create(actor=actor, team=team, content=case_content(rng, index))
        lead = leads[i % len(leads)]
        allocation_add(actor=actor, case_id=view.id, user=lead, role="lead")
        if coworker is not None:
            allocation_add(actor=actor, case_id=view.id, user=coworker, role="co_worker")
        out.append((view.id, lead))
    return out


def case_mix(per_case: int) -> dict[str, int]:
    """How many people, visits and notes each case gets besides its case document."""
    rest = max(0, per_case - 1 - PEOPLE_PER_CASE)
    notes = sum(1 for x in range(rest) if x % 6 == 5)
    return {"person": min(PEOPLE_PER_CASE, per_case - 1), "visit": rest - notes, "note": notes}


def _take_seqs(n: int) -> list[int]:
    """``n`` global sequence numbers from the real sequence: ``records.sequence.next_seqs`` where
    the code has it; otherwise ``nextval`` for all of them in one statement on PostgreSQL (setup
    has a single writer, so the advisory lock ``next_seq`` takes adds nothing), ``next_seq()``
    each time on SQLite."""
    from django.db import connection

    from backend.records import sequence
    from backend.records.sequence import PG_SEQUENCE, next_seq

    if hasattr(sequence, "next_seqs"):  # the store's own bulk API, where this version has it
        return list(sequence.next_seqs(n))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT nextval('{PG_SEQUENCE}') FROM generate_series(1, %s)", [n])
            return sorted(int(r[0]) for r in cursor.fetchall())
    return [next_seq() for _ in range(n)]


def _path_leaf(path: Any) -> str:
    """The rev at the end of a linear revision path (what the store names the new revision)."""
    node, pos = path.node, path.pos
    while node.children:
        node, pos = node.children[0], pos + 1
    return f"{pos}-{node.hash}"


def bulk_load(
    cases: list[tuple[str, Any]], per_case: int, *, supervisor: Any, batch: int, validate_every: int,
    label: str,
) -> dict[str, Any]:  # fmt: skip
    """Write ``per_case - 1`` documents on each case (the case document exists already), exactly
    as ``records.services.document_create`` would — content sealed by ``records.codec.seal``
    under the case's real key, the revision path from ``new_edit_path``, the tree from
    ``revtree.merge`` stemmed to DOORSTEP_REVS_LIMIT, global sequence numbers, ``Document`` and
    ``Revision`` rows, the ``VisitRecord`` projection and the case's ``last_visit_on``, and the
    ``create`` audit event — but with ``bulk_create`` in batches instead of one transaction and
    ~12 statements per document. Documents of all cases are interleaved in the sequence (case 1
    doc 1, case 2 doc 1, …), as many workers writing at once would leave them."""
    from django.conf import settings
    from django.db import transaction
    from django.db.models import Max
    from django.utils import timezone

    from backend.audit.models import AuditAction, AuditEvent
    from backend.cases.models import Case
    from backend.common.ids import new_id
    from backend.demo.seed import _workflow
    from backend.records import codec, projections
    from backend.records.models import Document, Revision, VisitRecord
    from backend.records.services import new_edit_path
    from sync import revtree

    schemas = codec.schemas()
    # codec.seal looks the case's current key up on every call; during the load each case's
    # key is looked up once through the real service and then reused.
    original_key = codec.case_key_current
    keys: dict[str, tuple[str, bytes]] = {}

    def cached_key(*, case_id: str) -> tuple[str, bytes]:
        if case_id not in keys:
            keys[case_id] = original_key(case_id=case_id)
        return keys[case_id]

    codec.case_key_current = cached_key  # type: ignore[assignment]
    now = timezone.now()
    slots = [(ci, k) for k in range(1, per_case) for ci in range(len(cases))]
    people: dict[str, list[str]] = defaultdict(list)
    visit_no: Counter[str] = Counter()
    sizes: dict[str, list[int]] = defaultdict(list)
    samples: dict[str, dict[str, Any]] = {}
    editable: dict[str, list[str]] = defaultdict(list)  # case id -> editable visit ids
    validated = 0
    started = time.perf_counter()
    try:
        for start in range(0, len(slots), batch):
            chunk = slots[start : start + batch]
            docs, revs, visits, events = [], [], [], []
            with transaction.atomic():
                seqs = _take_seqs(len(chunk))
                for (ci, k), seq in zip(chunk, seqs, strict=True):
                    case_id, lead = cases[ci]
                    rng = random.Random(f"{case_id}-{k}")
                    stamp_dt = now - timedelta(days=rng.randint(1, 365), minutes=rng.randint(0, 600))
                    stamp = _iso(stamp_dt)
                    if k <= PEOPLE_PER_CASE:
                        doc_type = "person"
                        content = person_content(rng, k, now)
                        workflow: dict[str, Any] = {}
                    elif (k - PEOPLE_PER_CASE - 1) % 6 == 5:
                        doc_type, workflow = "note", {}
                        content = note_content(rng, stamp_dt)
                    else:
                        doc_type = "visit"
                        status = VISIT_STATUSES[visit_no[case_id] % len(VISIT_STATUSES)]
                        visit_no[case_id] += 1
                        who = people[case_id] or ["person:unknown", "person:unknown2"]
                        content = visit_content(rng, k, stamp_dt, who[:2])
                        workflow = _workflow(status, author=lead, supervisor=supervisor, at=stamp_dt)
                    doc_id = new_id(doc_type)
                    if doc_type == "person":
                        people[case_id].append(doc_id)
                    full = {
                        **content,
                        "author": lead.ref,
                        "created_at": stamp,
                        "updated_at": stamp,
                        "updated_by": lead.ref,
                        **workflow,
                    }
                    if validate_every and (start + len(docs)) % validate_every == 0:
                        schemas[doc_type].validate(full)  # what document_create does for each
                        validated += 1
                    body = codec.seal(doc_id=doc_id, doc_type=doc_type, case_id=case_id, content=full)
                    body["schema"] = schemas[doc_type].version
                    path = new_edit_path(parent_rev=None, tree=(), body=body, deleted=False)
                    tree, _ = revtree.merge((), path, revs_limit=settings.DOORSTEP_REVS_LIMIT)
                    rev = _path_leaf(path)
                    assert revtree.winning_rev(tree) == rev
                    sizes[doc_type].append(len(body["enc"]["ct"]))
                    docs.append(
                        Document(
                            id=doc_id, case_id=case_id, doc_type=doc_type, seq=seq, rev=rev, deleted=False,
                            tree=revtree.to_json(tree), meta=body["meta"], schema_version=body["schema"],
                            created_at=stamp_dt, updated_at=stamp_dt,
                        )
                    )  # fmt: skip
                    revs.append(
                        Revision(
                            document_id=doc_id, rev=rev, generation=1, parent_rev="", deleted=False, body=body,
                            seq=seq, created_at=stamp_dt, author_id=lead.pk, device=None,
                            origin=Revision.Origin.REST,
                        )
                    )  # fmt: skip
                    if doc_type == "visit":
                        meta = body["meta"]
                        visits.append(
                            VisitRecord(
                                document_id=doc_id, case_id=case_id, status=meta.get("status", "draft"),
                                visit_date=projections._dt(meta.get("visit_date")),
                                author_id=projections._user_id(meta.get("author")),
                                submitted_at=projections._dt(meta.get("submitted_at")),
                                signed_off_at=projections._dt(meta.get("signed_off_at")),
                                deleted=False, needs_decision=bool(meta.get("decisions_pending")),
                            )
                        )  # fmt: skip
                        if meta.get("status") in EDITABLE:
                            editable[case_id].append(doc_id)
                        if len(samples) < 12 and k % 17 == 0:
                            samples[doc_id] = {
                                "case_id": case_id,
                                "observations": content["observations"],
                                "risk_level": content["risk_level"],
                                "status": meta.get("status"),
                            }
                    events.append(
                        AuditEvent(
                            at=timezone.now(), actor_id=lead.pk, actor_username=lead.username, device=None,
                            action=AuditAction.CREATE, object_type=doc_type, object_id=doc_id, case_id=case_id,
                            detail={"rev": rev, "via": Revision.Origin.REST}, ip=None,
                        )
                    )  # fmt: skip
                Document.objects.bulk_create(docs)
                Revision.objects.bulk_create(revs)
                VisitRecord.objects.bulk_create(visits)
                AuditEvent.objects.bulk_create(events)
                if hasattr(projections, "apply_count_deltas"):  # per-case document counters, where kept
                    added: Counter[str] = Counter(d.case_id for d in docs)
                    projections.apply_count_deltas({c: (n, 0) for c, n in added.items()})
            done = start + len(chunk)
            if done % (batch * 20) == 0 or done == len(slots):
                rate = done / (time.perf_counter() - started)
                log(f"    {label}: {done:,}/{len(slots):,} documents ({rate:,.0f}/s)")
        # The case projection's "last visit" (what projections._project_visit keeps up to date).
        with transaction.atomic():
            for case_id, _ in cases:
                latest = (
                    VisitRecord.objects.filter(case_id=case_id, deleted=False, visit_date__lte=timezone.now())
                    .exclude(status="draft")
                    .aggregate(latest=Max("visit_date"))["latest"]
                )
                Case.objects.filter(pk=case_id).update(last_visit_on=latest.date() if latest else None)
    finally:
        codec.case_key_current = original_key  # type: ignore[assignment]
    return {
        "documents": len(slots),
        "seconds": time.perf_counter() - started,
        "ct_sizes": {t: sum(v) / len(v) for t, v in sizes.items() if v},
        "type_counts": {t: len(v) for t, v in sizes.items()},
        "validated": validated,
        "samples": samples,
        "editable": editable,
    }


def child_setup(p: dict[str, Any]) -> dict[str, Any]:
    """The bench council (one team, its supervisor, the bench practitioner, a co-worker on the
    bench cases, other practitioners), the bench caseload and the first batch of others."""
    _django_setup()
    from backend.accounts.models import Role, Team, User
    from backend.accounts.services import team_manager_add

    def user(username: str, role: str) -> User:
        return User.objects.create_user(
            username=username, password=PASSWORD, role=role, first_name=username.split(".")[-1].title(),
            last_name="Bench",
        )  # fmt: skip

    started = time.perf_counter()
    supervisor = user("bench.supervisor", Role.SUPERVISOR)
    worker = user("bench.worker", Role.PRACTITIONER)
    coworker = user("bench.coworker", Role.PRACTITIONER)
    others = [user(f"bench.other{i:02d}", Role.PRACTITIONER) for i in range(p["other_practitioners"])]
    team = Team.objects.create(name="Bench team", service=Team.Service.CHILD_IN_NEED)
    team.members.add(worker, coworker, *others)
    team_manager_add(team=team, user=supervisor)
    log(f"  opening {p['own_cases']} + {p['other_cases']} cases through case_create / allocation_add")
    own = _make_cases(
        supervisor=supervisor, team=team, leads=[worker], count=p["own_cases"], start=0, coworker=coworker
    )
    other = _make_cases(
        supervisor=supervisor, team=team, leads=others, count=p["other_cases"], start=p["own_cases"]
    )
    cases_s = time.perf_counter() - started
    # Own and other documents interleaved in the sequence.
    mixed = [c for pair in zip(own, other, strict=False) for c in pair]
    mixed += own[len(other) :] + other[len(own) :]
    loaded = bulk_load(
        mixed, p["per_case"], supervisor=supervisor, batch=p["batch"], validate_every=p["validate_every"],
        label="bulk load",
    )  # fmt: skip
    own_ids = {c for c, _ in own}
    return {
        "worker": {"username": worker.username, "id": worker.pk},
        "coworker": {"username": coworker.username, "id": coworker.pk},
        "own_cases": sorted(own_ids),
        "cases_seconds": cases_s,
        "load": {**loaded, "editable": None},
        "editable": [v for c in sorted(own_ids) for v in loaded["editable"].get(c, [])],
        "samples": {k: v for k, v in loaded["samples"].items() if v["case_id"] in own_ids},
        "counts": _counts(),
    }


def child_grow(p: dict[str, Any]) -> dict[str, Any]:
    """More of other practitioners' cases and documents (the bench caseload does not change)."""
    _django_setup()
    from backend.accounts.models import Role, Team, User

    started = time.perf_counter()
    supervisor = User.objects.get(username="bench.supervisor")
    team = Team.objects.get(name="Bench team")
    others = list(
        User.objects.filter(role=Role.PRACTITIONER, username__startswith="bench.other").order_by("pk")
    )
    start = int(p["start"])
    log(f"  opening {p['cases']} more cases of other practitioners")
    cases = _make_cases(supervisor=supervisor, team=team, leads=others, count=p["cases"], start=start)
    cases_s = time.perf_counter() - started
    loaded = bulk_load(
        cases, p["per_case"], supervisor=supervisor, batch=p["batch"], validate_every=p["validate_every"],
        label="bulk load (growth)",
    )  # fmt: skip
    return {
        "cases_seconds": cases_s,
        "load": {**loaded, "editable": None, "samples": None},
        "counts": _counts(),
    }


def _counts() -> dict[str, int]:
    from backend.audit.models import AuditEvent
    from backend.cases.models import Allocation, Case
    from backend.keys.models import KeyEnvelope
    from backend.records.models import Document, Revision, VisitRecord

    return {
        "documents": Document.objects.count(),
        "revisions": Revision.objects.count(),
        "visit_records": VisitRecord.objects.count(),
        "cases": Case.objects.count(),
        "allocations": Allocation.objects.count(),
        "audit_events": AuditEvent.objects.count(),
        "key_envelopes": KeyEnvelope.objects.count(),
    }


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


def _lower_bound(since_seq: int, eff: int, doc: int) -> int:
    """The smallest document seq (exclusive) of a case that can follow the token (eff, doc):
    feed rows are ``eff > E or (eff = E and seq > D)`` with ``eff = max(seq, since_seq)``."""
    if since_seq > eff:
        return 0  # newly granted after the checkpoint: the whole case
    if since_seq == eff:
        return doc
    return eff - 1 if doc < eff else eff


def candidate_changes(access: dict[str, int], since: Any, limit: int, variant: str) -> tuple[str, list[Any]]:
    """A rewrite of ``feed.document_changes``'s SQL (same rows, same order), for the bench only:
    ``sargable`` gives each case its own lower bound on ``seq``, so the join can range-scan the
    (case_id, seq) index; ``per_case`` also stops each case after ``limit`` rows in seq order
    (LATERAL on PostgreSQL, a UNION ALL of per-case subqueries on SQLite)."""
    from django.db import connection

    eff = "CASE WHEN d.seq > a.since_seq THEN d.seq ELSE a.since_seq END"
    cols = "d.id, d.rev, d.deleted, d.seq, d.case_id"
    bounds = [(c, s_, _lower_bound(s_, since.eff, since.doc)) for c, s_ in access.items()]
    tail = f"AND ({eff} > %s OR ({eff} = %s AND d.seq > %s)) ORDER BY eff, d.seq LIMIT %s"
    tail_params = [since.eff, since.eff, since.doc, limit]
    if variant == "per_case" and connection.vendor == "sqlite":
        parts, params = [], []
        for case_id, since_seq, lower in bounds:
            parts.append(
                f"SELECT * FROM (SELECT {cols}, d.tree, CAST(%s AS BIGINT) AS since_seq FROM records_document d "
                "WHERE d.case_id = %s AND d.seq > %s ORDER BY d.seq LIMIT %s)"
            )
            params += [since_seq, case_id, lower, limit]
        # eff is computed over each branch's own since_seq column.
        sql = (
            f"SELECT d.id, d.rev, d.deleted, d.seq, d.case_id, "
            f"CASE WHEN d.seq > d.since_seq THEN d.seq ELSE d.since_seq END AS eff, d.tree "
            f"FROM ({' UNION ALL '.join(parts)}) d WHERE (CASE WHEN d.seq > d.since_seq THEN d.seq ELSE d.since_seq END > %s "
            "OR (CASE WHEN d.seq > d.since_seq THEN d.seq ELSE d.since_seq END = %s AND d.seq > %s)) "
            "ORDER BY eff, d.seq LIMIT %s"
        )
        return sql, params + tail_params
    values = ", ".join(["(CAST(%s AS TEXT), CAST(%s AS BIGINT), CAST(%s AS BIGINT))"] * len(bounds))
    params = [x for b in bounds for x in b]
    head = f"WITH access(case_id, since_seq, lower_seq) AS (VALUES {values}) "
    if variant == "per_case":  # PostgreSQL
        sql = (
            head + f"SELECT {cols}, {eff} AS eff, d.tree FROM access a CROSS JOIN LATERAL ("
            "SELECT d.id, d.rev, d.deleted, d.seq, d.case_id, d.tree FROM records_document d "
            "WHERE d.case_id = a.case_id AND d.seq > a.lower_seq ORDER BY d.seq LIMIT %s) d WHERE TRUE "
            + tail
        )
        return sql, [*params, limit, *tail_params]
    sql = (
        head + f"SELECT {cols}, {eff} AS eff, d.tree FROM access a JOIN records_document d "
        "ON d.case_id = a.case_id AND d.seq > a.lower_seq WHERE TRUE " + tail
    )
    return sql, params + tail_params


def _feed_experiment(access: dict[str, int], checkpoint: Any, limit: int, repeat: int) -> dict[str, Any]:
    """Current feed query against the two candidate rewrites at three positions of the feed:
    the no-change case, the start of an initial pull and its middle. Checks the rows are the
    same (ids and order) and times each (median of ``repeat``)."""
    from django.db import connection

    from backend.syncapi import feed
    from backend.syncapi.params import SeqToken

    total = len(feed.document_changes(access, SeqToken.zero(), limit=100_000))
    middle_rows = feed.document_changes(access, SeqToken.zero(), limit=max(1, total // 2))
    positions = {
        "no-change (the device's checkpoint)": checkpoint,
        "initial pull, first batch (since=0)": SeqToken.zero(),
        f"initial pull, middle (after {len(middle_rows):,} rows)": middle_rows[-1].token
        if middle_rows
        else SeqToken.zero(),
    }
    out: dict[str, Any] = {"positions": {}, "plans": {}}
    for label, since in positions.items():
        current = [
            (r.doc_id, str(r.token))
            for r in feed.document_changes(access, since, limit=limit + 1, with_tree=True)
        ]
        row: dict[str, Any] = {"rows": len(current)}
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            feed.document_changes(access, since, limit=limit + 1, with_tree=True)
            times.append((time.perf_counter() - t0) * 1000)
        row["current_ms"] = median(times)
        for variant in ("sargable", "per_case"):
            sql, params = candidate_changes(access, since, limit + 1, variant)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                got = [(r[0], f"{int(r[5])}-{int(r[3])}") for r in cursor.fetchall()]
                times = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    cursor.execute(sql, params)
                    cursor.fetchall()
                    times.append((time.perf_counter() - t0) * 1000)
                if label.startswith("no-change"):
                    prefix = (
                        "EXPLAIN (ANALYZE, BUFFERS) "
                        if connection.vendor == "postgresql"
                        else "EXPLAIN QUERY PLAN "
                    )
                    cursor.execute(prefix + sql, params)
                    plan = cursor.fetchall()
                    out["plans"][variant] = (
                        [r[0] for r in plan]
                        if connection.vendor == "postgresql"
                        else [str(r[3]) for r in plan]
                    )
            row[f"{variant}_ms"] = median(times)
            row[f"{variant}_same"] = got == current
        out["positions"][label] = row
    out["caseload_rows"] = total
    return out


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
    _django_setup()
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
    experiment = _feed_experiment(access, since, p["limit"], p["repeat"]) if p.get("experiment") else None
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
        "experiment": experiment,
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
        "documents": _counts()["documents"],
    }


def child_check(p: dict[str, Any]) -> dict[str, Any]:
    """What the server holds for ``ids`` after a conflicting push: merge audit events, review
    items, documents with more than one live leaf, documents waiting for a decision."""
    _django_setup()
    from backend.audit.models import AuditAction, AuditEvent
    from backend.records.models import Document
    from backend.review.models import ConflictItem
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
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "clients" / "python"))
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
    _django_setup()
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from backend.accounts.models import Device, User
    from backend.accounts.services import token_issue
    from backend.records.codec import schema_for, seal
    from backend.records.models import Document
    from backend.records.services import view_of
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
        content["updated_at"] = _iso(timezone.now())
        content["updated_by"] = user.ref
        body = seal(doc_id=doc_id, doc_type="visit", case_id=document.case_id, content=content)
        body["schema"] = schema_for("visit").version
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


CHILDREN = {
    "setup": child_setup,
    "grow": child_grow,
    "explain": child_explain,
    "check": child_check,
    "pyclient": child_pyclient,
    "writes": child_writes,
}


# ------------------------------------------------------------------------------------------------
# Engines, servers and peers (each cleaned up by its context manager)
# ------------------------------------------------------------------------------------------------


@dataclass
class Engine:
    name: str  # "sqlite" | "postgres"
    env: dict[str, str]
    tmp: Path
    version: str = ""
    notes: str = ""
    pg_url: str = ""

    @property
    def is_pg(self) -> bool:
        return self.name == "postgres"


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOORSTEP_", "BENCH_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        DJANGO_SETTINGS_MODULE="backend.settings",
        DJANGO_DEBUG="0",
        DOORSTEP_LOG_LEVEL="WARNING",
        # Setup makes ~25 users: skip PBKDF2's cost there (logins are not what is measured).
        DOORSTEP_FAST_PASSWORD_HASHER="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(CODE), os.environ.get("PYTHONPATH", "")) if p),
        PYTHONUNBUFFERED="1",
    )
    env.pop("NODE_OPTIONS", None)
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
    tmp = Path(tempfile.mkdtemp(prefix=f"bench_sync_{name}_"))
    env = base_env()
    env["DOORSTEP_VAR_DIR"] = str(tmp / "var")
    dbname = None
    try:
        if name == "sqlite":
            engine = Engine(name, env, tmp, version=f"SQLite {sqlite3.sqlite_version}")
            engine.notes = (
                "WAL, synchronous=NORMAL, BEGIN IMMEDIATE (backend/settings.py), file on local disk"
            )
        else:
            dbname = _pg_dbname(pg_url)
            with _pg_admin(pg_url) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{dbname}"')
                show = {k: conn.execute(f"SHOW {k}").fetchone()[0] for k in
                        ("server_version", "shared_buffers", "work_mem", "fsync", "synchronous_commit")}  # fmt: skip
            env["DATABASE_URL"] = pg_url
            engine = Engine(
                name, env, tmp, version=f"PostgreSQL {show['server_version'].split()[0]}", pg_url=pg_url
            )
            engine.notes = (
                f"shared_buffers={show['shared_buffers']}, work_mem={show['work_mem']}, fsync={show['fsync']}, "
                f"synchronous_commit={show['synchronous_commit']}; same machine, TCP loopback; app's pool "
                "(backend/settings.py)"
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
    cmd = [sys.executable, str(CODE / "backend" / "manage.py"), *argv]
    result = subprocess.run(cmd, cwd=CODE, env=engine.env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def run_child(
    engine: Engine, mode: str, params: dict[str, Any], *, timeout: float = 7200, nice: int = 0
) -> dict[str, Any]:
    """Run a child mode of this script against the engine's database; its result comes back
    through a JSON file (stderr streams through for progress). ``nice`` lowers the priority of
    the data loading, which nothing measures, so it disturbs other work on the machine less."""
    params_path = engine.tmp / f"params-{mode}.json"
    out_path = engine.tmp / f"out-{mode}.json"
    params_path.write_text(json.dumps(params))
    out_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(CODE / "tests" / "bench" / "bench_sync.py"), "--child", mode, "--params",
           str(params_path), "--out", str(out_path)]  # fmt: skip
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    result = subprocess.run(cmd, cwd=CODE, env=engine.env, stdout=subprocess.PIPE, text=True, timeout=timeout)
    if result.returncode != 0 or not out_path.exists():
        raise RuntimeError(f"child {mode} failed ({result.returncode}); see its output above")
    return dict(json.loads(out_path.read_text()))


class Server:
    """``uvicorn tests.bench.asgi:application`` (one process) on a fixed loopback port, in its
    own session; restartable on the same port so a Node peer's remote handle stays valid."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sync_url = f"{self.url}/sync/caseload"
        self.timing_log = engine.tmp / "server-timing.jsonl"
        self.logfile = engine.tmp / "uvicorn.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = dict(engine.env, DJANGO_SETTINGS_MODULE="tests.bench.settings",
                        BENCH_TIMING_LOG=str(self.timing_log))  # fmt: skip

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        import httpx

        cmd = [sys.executable, "-m", "uvicorn", "tests.bench.asgi:application", "--host", "127.0.0.1",
               "--port", str(self.port), "--no-access-log", "--log-level", "warning"]  # fmt: skip
        with self.logfile.open("ab") as logf:
            self.proc = subprocess.Popen(
                cmd, cwd=CODE, env=self.env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/sync/", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"uvicorn not ready:\n{self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.logfile.read_text(errors="replace")[-3000:]
        return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)

    def timings(self, tag_prefix: str, layer: str = "asgi") -> list[dict[str, Any]]:
        """Server-side request timings whose tag starts with ``tag_prefix``."""
        if not self.timing_log.exists():
            return []
        out = []
        for line in self.timing_log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry["layer"] == layer and entry["tag"].startswith(tag_prefix):
                    out.append(entry)
        return out

    # --- HTTP helpers ---
    def login(self, username: str) -> tuple[str, dict[str, Any]]:
        import httpx

        r = httpx.post(
            f"{self.url}/api/auth/token/", json={"username": username, "password": PASSWORD}, timeout=60
        )
        r.raise_for_status()
        return r.json()["token"], r.json()["user"]

    def enrol(self, user_token: str, name: str) -> dict[str, Any]:
        import httpx

        from sync import generate_device_keypair

        private, public = generate_device_keypair()
        r = httpx.post(
            f"{self.url}/api/devices/",
            headers={"Authorization": f"Token {user_token}"},
            json={"name": name, "public_key": base64.b64encode(public).decode(), "app_version": "bench"},
            timeout=60,
        )
        r.raise_for_status()
        body = r.json()
        return {
            "device_id": body["device"]["id"],
            "pk": int(body["device"]["pk"]),
            "token": body["token"],
            "private_key": base64.b64encode(private).decode(),
        }


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


class PouchServer:
    """pouchdb-server 4.2 in memory on a loopback port (its own session)."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tmp / "pouchdb-server"
        self.dir.mkdir(exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PouchServer:
        import httpx

        cmd = ["node", str(POUCHDB_SERVER), "--in-memory", "--host", "127.0.0.1", "--port", str(self.port)]
        with (self.dir / "out.log").open("wb") as logf:
            self.proc = subprocess.Popen(
                cmd, cwd=self.dir, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("pouchdb-server exited: " + (self.dir / "out.log").read_text()[-2000:])
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(self.url + "/", timeout=2).status_code == 200:
                        return self
                time.sleep(0.2)
            raise RuntimeError("pouchdb-server did not start")
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


class NodePeers:
    """tests/bench/pull.mjs: PouchDB tablets, one command at a time."""

    def __init__(self, tmp: Path) -> None:
        self.stderr_path = tmp / "node-peers.log"
        self.proc: subprocess.Popen[str] | None = None
        self._seq = 0

    def __enter__(self) -> NodePeers:
        env = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            ["node", "--max-old-space-size=4096", str(CODE / "tests" / "bench" / "pull.mjs")], cwd=CODE, env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, start_new_session=True,
        )  # fmt: skip
        ready = self._line(timeout=60)
        assert ready.get("event") == "ready", ready
        return self

    def _line(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not box or not box[0]:
            raise RuntimeError(f"Node peer gave no answer within {timeout}s:\n{self.stderr_tail()}")
        return dict(json.loads(box[0]))

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.stderr_path.read_text(errors="replace")[-3000:]
        return ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def call(self, cmd: str, timeout: float = 1800, **params: Any) -> Any:
        assert self.proc is not None and self.proc.stdin is not None
        self._seq += 1
        self.proc.stdin.write(json.dumps({"cmd": cmd, "seq": self._seq, **params}) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self._line(timeout)
            if line.get("event") == "reply" and line.get("seq") == self._seq:
                if not line["ok"]:
                    raise RuntimeError(f"Node {cmd} failed: {json.dumps(line['error'])[:3000]}")
                return line["result"]

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._stderr.close()


# ------------------------------------------------------------------------------------------------
# Profiling the server with py-spy
# ------------------------------------------------------------------------------------------------

#: Where a sample counts as crypto: these files (AES-GCM, X25519, HKDF, scrypt calls from
#: `cryptography`, and the base64/JSON/binding work our envelope functions do around them).
#: py-spy writes paths relative to their sys.path entry ("sync/_envelope.py", "cryptography/…").
CRYPTO_FILES = ("sync/_envelope.py", "sync/_keystore.py", "backend/keys/keyring.py", "cryptography/")

#: Leaf frames of a thread that is waiting for work, not working. py-spy's own idle detection
#: does not work on this machine's kernel (it kept such samples), so they are dropped here.
IDLE_LEAVES = {
    ("Condition.wait", "threading.py"),
    ("Event.wait", "threading.py"),
    ("Thread._wait_for_tstate_lock", "threading.py"),
    ("Thread.join", "threading.py"),
    ("_worker", "concurrent/futures/thread.py"),
    ("Runner.run", "asyncio/runners.py"),
    ("BaseSelector.select", "selectors.py"),
    ("EpollSelector.select", "selectors.py"),
}
#: Leaf frames of a request thread waiting for PostgreSQL's answer (server wall time, not CPU).
DB_WAIT_LEAVES = {
    ("Connection.wait", "psycopg/connection.py"),
    ("BaseConnection.wait", "psycopg/_connection_base.py"),
}

#: Wrappers that every request passes through: left out of the "hottest functions" lists.
WRAPPER_FRAMES = (
    "backend/common/middleware.py",
    "couch_view.<locals>",
    "<listcomp>",
    "<genexpr>",
    "<dictcomp>",
)


def py_spy_path() -> Path | None:
    found = Path(sys.executable).parent / "py-spy"
    return found if found.exists() else (Path(shutil.which("py-spy")) if shutil.which("py-spy") else None)


@contextlib.contextmanager
def py_spy(pid: int, out: Path, rate: int) -> Iterator[None]:
    """Sample every thread of ``pid`` into a raw (collapsed stacks) file until the block ends."""
    exe = py_spy_path()
    if exe is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    proc = subprocess.Popen(
        [str(exe), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # let it attach
        if proc.poll() is not None:
            raise RuntimeError(f"py-spy failed: {proc.stderr.read() if proc.stderr else ''}")
        yield
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _frames(stack: str) -> list[tuple[str, str]]:
    """(function, file) of each frame of a collapsed stack, outermost first."""
    out = []
    for frame in stack.split(";"):
        m = _FRAME.match(frame.strip())
        out.append((m.group("func"), m.group("file")) if m else (frame.strip(), ""))
    return out


#: Categories for "where the server's CPU time goes": crypto, then the merge engine, if any
#: frame of the stack is theirs; otherwise the first frame from the leaf up that matches one of
#: LEAF_CATEGORIES (so the ORM's own work and the driver calls it makes are told apart).
LEAF_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("database driver (psycopg; SQLite's engine runs inside these calls)",
     ("psycopg/", "psycopg_pool/", "backends/sqlite3/")),
    ("revision trees (sync._revtree*)", ("sync/_revtree",)),
    ("schema validation (jsonschema)", ("jsonschema/", "referencing/", "rpds")),
    ("Django ORM (query building, model instances)", ("django/db/",)),
    ("JSON encode/decode", ("json/",)),
    ("Django request/response handling", ("django/", "whitenoise/")),
    ("our own code (backend/, sync/)", ("backend/", "sync/")),
    ("ASGI/threads (asgiref, uvicorn, asyncio)", ("asgiref/", "uvicorn/", "asyncio/", "concurrent/", "threading.py")),
]  # fmt: skip


def _category(frames: list[tuple[str, str]]) -> str:
    files = [f for _, f in frames]
    if any(marker in f for f in files for marker in CRYPTO_FILES):
        return "crypto"
    if any(f.startswith("sync/_merge") for f in files):
        return "merge rules (sync._merge*)"
    for _, file in reversed(frames):
        for name, markers in LEAF_CATEGORIES:
            if any(marker in file for marker in markers):
                return name
    return "other (stdlib)"


def analyse_profile(path: Path) -> dict[str, Any]:
    """Split a py-spy raw profile of the server: samples of threads waiting for work are dropped
    (*idle*); of the rest (*busy*: the request threads' wall time), those waiting for
    PostgreSQL's answer are *db wait*, the others *CPU*. Crypto (CRYPTO_FILES anywhere in the
    stack) is given as a share of CPU and of busy; the other categories split CPU exclusively
    (first match); our own functions are ranked by inclusive busy samples, leaves by CPU."""
    total = idle = db_wait = crypto = 0
    cats: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    if not path.exists():
        return {"samples": 0}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        n = int(count_text)
        frames = _frames(stack)
        total += n
        if not frames or frames[-1] in IDLE_LEAVES:
            idle += n
            continue
        waiting = frames[-1] in DB_WAIT_LEAVES
        files = [f for _, f in frames]
        if any(marker in f for f in files for marker in CRYPTO_FILES):
            crypto += n
        seen = set()
        for func, file in frames:
            if file.startswith(("backend/", "sync/")) and not any(
                w in file or w in func for w in WRAPPER_FRAMES
            ):
                key = f"{file}:{func}"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += n
        if waiting:
            db_wait += n
            continue
        cats[_category(frames)] += n
        func, file = frames[-1]
        leaf[f"{func} ({file})"] += n
    busy = total - idle
    cpu = busy - db_wait
    return {
        "samples": total,
        "idle": idle,
        "busy": busy,
        "db_wait": db_wait,
        "cpu": cpu,
        "crypto": crypto,
        "crypto_share": crypto / cpu if cpu else float("nan"),
        "crypto_share_busy": crypto / busy if busy else float("nan"),
        "categories": cats.most_common(),
        "inclusive": inclusive.most_common(30),
        "leaf": leaf.most_common(20),
    }


# ------------------------------------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------------------------------------


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
    """Server time by request kind: count, total ms, median and p95 ms."""
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


def verify_caseload(server: Server, device: dict[str, Any], user_token: str, setup: dict[str, Any],
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


def nochange_stats(node_runs: list[dict[str, Any]], server: Server, tag: str, load: str) -> dict[str, Any]:
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
    node: NodePeers, server: Server, engine: Engine, *, cmd: str, name: str, tag: str, kind: str, target: str,
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


def bench_engine(name: str, args: argparse.Namespace) -> EngineResult:
    with contextlib.ExitStack() as stack:
        engine = stack.enter_context(engine_context(name, args.pg_url))
        res = EngineResult(engine=name, version=engine.version, notes=engine.notes)
        log(f"{name}: {engine.version}; migrating")
        manage(engine, "migrate", "--noinput")
        # --- state 1: the caseload + `small_others` other documents ----------------------------
        per = args.per_case
        small_cases = args.small_others // per
        big_cases = args.others // per
        log(f"{name}: bulk-loading {args.cases} × {per} own + {small_cases} × {per} other documents")
        t0 = time.perf_counter()
        setup = run_child(
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

        server = Server(engine)
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
            res.explain["20k"] = run_child(
                engine, "explain",
                {"username": worker["username"], "since": since, "limit": 100, "repeat": 30, "profile_repeat": 50, "experiment": True,
                 "device_pk": main["pk"], "requests": nochange_requests(res.nochange["20k"])},
            )  # fmt: skip
        # --- state 2: 200,000 other documents ----------------------------------------------------
        log(f"{name}: growing to {args.others:,} other documents ({big_cases - small_cases} more cases)")
        t0 = time.perf_counter()
        grow = run_child(
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
            res.explain["210k"] = run_child(
                engine, "explain",
                {"username": worker["username"], "since": since, "limit": 100, "repeat": 30, "profile_repeat": 50, "experiment": True,
                 "device_pk": main["pk"], "requests": nochange_requests(res.nochange["210k"])},
            )  # fmt: skip
            measure_pulls(res, node, server, engine, args, user_token, expected_docs)
            measure_pushes(res, node, server, engine, args, worker, editable)
            measure_merges(res, node, server, engine, args, worker, coworker, editable, main["pk"])
            if not args.skip_pyclient:
                log(f"{name}: Python client (clients/python): pull, then open every document")
                wait_load(args.load_threshold, args.quiet_wait_between, "the Python client")
                home = engine.tmp / "pyclient"
                res.pyclient = run_child(
                    engine, "pyclient",
                    {"url": server.url, "username": worker["username"], "home": str(home), "repeat": 3},
                )  # fmt: skip
                res.pyclient["load"] = load_text()
                log(f"  python client: {summarise_pyclient(res.pyclient)}")
        return res


def nochange_requests(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The requests one no-change sync made (method, path and query string from the server's
    log), to replay in-process with their SQL."""
    return [(m, p) for m, p in stats["one_sync"] if m == "GET"]


def measure_nochange(
    node: NodePeers, server: Server, engine: Engine, tag: str, args: argparse.Namespace
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
    res: EngineResult, node: NodePeers, server: Server, engine: Engine, args: argparse.Namespace, user_token: str,
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


def keep_profile(path: Path, args: argparse.Namespace, name: str) -> None:
    if args.profile_dir and path.exists():
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(args.profile_dir) / f"pyspy-{name}.txt")


def edit_sets(editable: list[str], size: int, count: int) -> list[list[str]]:
    if len(editable) < size * count:
        raise SystemExit(f"only {len(editable)} editable visits for {count} sets of {size}")
    return [editable[i * size : (i + 1) * size] for i in range(count)]


def measure_pushes(
    res: EngineResult, node: NodePeers, server: Server, engine: Engine, args: argparse.Namespace,
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
    res: EngineResult, node: NodePeers, server: Server, engine: Engine, args: argparse.Namespace,
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
        check = run_child(engine, "check", {"ids": ids})
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
        res.merge["writes"] = run_child(
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


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def machine_facts() -> dict[str, str]:
    import cryptography
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

    def pkg(name: str) -> str:
        with contextlib.suppress(OSError, ValueError, KeyError):
            return str(json.loads((NODE_DIR / "node_modules" / name / "package.json").read_text())["version"])
        return "?"

    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    spy = py_spy_path()
    spy_version = (
        subprocess.run([str(spy), "--version"], capture_output=True, text=True).stdout.strip()
        if spy
        else "absent"
    )
    if CODE_NOTE:
        code = CODE_NOTE
    else:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        diff = subprocess.run(["git", "diff", "HEAD", "--", "backend", "sync", "clients", "schemas"],
                              cwd=REPO, capture_output=True, text=True).stdout  # fmt: skip
        untracked = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "--", "backend", "sync", "clients", "schemas"],
            cwd=REPO, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        code = f"working tree at {head.stdout.strip()}"
        if diff or untracked:
            import hashlib

            code += (
                f" with uncommitted changes to the application (diff sha1 {hashlib.sha1(diff.encode()).hexdigest()[:10]}"
                f"{', new files ' + ', '.join(untracked) if untracked else ''})"
            )
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "uvicorn": uvicorn.__version__,
        "psycopg": psycopg.__version__,
        "cryptography": cryptography.__version__,
        "node": node,
        "pouchdb": pkg("pouchdb"),
        "pouchdb_server": pkg("pouchdb-server"),
        "py_spy": spy_version,
        "commit": code,
    }


def _f(x: float, digits: int = 1) -> str:
    return "–" if x != x else f"{x:,.{digits}f}"  # NaN → dash


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _pct(x: float) -> str:
    return "–" if x != x else f"{x * 100:.1f} %"


def _runs(res: EngineResult, kind: str, target: str = "doorstep", batch: int | None = None) -> list[Run]:
    return [
        r for r in res.runs if r.kind == kind and r.target == target and (batch is None or r.batch == batch)
    ]


def _median_run(runs: list[Run]) -> Run | None:
    if not runs:
        return None
    ordered = sorted(runs, key=lambda r: r.ms)
    return ordered[(len(ordered) - 1) // 2]


def _header(
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


def render_replication(
    results: list[EngineResult], facts: dict[str, str], args: argparse.Namespace, script: str, cmdline: str
) -> str:
    lines = [f"## {SECTIONS[0]}", "", *_header(facts, results, args, f"{script} {cmdline}")]
    if not results:
        return "\n".join(lines) + "\n"
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
        "- **Why a bulk load**: writing 210,000 documents through `document_create` costs ~12 statements and a "
        "transaction each (hours on this machine), so the bench loader writes the same rows in batches of "
        f"{args.load_batch:,} with `bulk_create`: bodies sealed by `backend.records.codec.seal` under each case's "
        "real key (looked up once per case through `case_key_current`), revision paths from "
        "`records.services.new_edit_path` and trees from `sync.revtree.merge` (stemmed to DOORSTEP_REVS_LIMIT), "
        "sequence numbers from the real sequence (`records.sequence.next_seqs` for a whole batch; before that "
        "existed, `nextval('doorstep_change_seq')` in one statement on PostgreSQL and `next_seq()` on SQLite), `Document` and `Revision` rows as `store_revision` writes "
        "them, the `VisitRecord` projection and each case's `last_visit_on`, and the `create` audit events. "
        f"Every {args.validate_every}th document is also validated against its schema. Cases, case keys and "
        "allocations go through the real services (`case_create`, `allocation_add`).",
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
            d = _runs(r, "pull", "doorstep", batch)
            p = _runs(r, "pull", "pouchdb-server", batch)
            dm = median([x.ms / 1000 for x in d])
            pm = median([x.ms / 1000 for x in p])
            ratio = dm / pm if pm else float("nan")
            lines.append(
                f"| {r.engine} | {batch} | {', '.join(_f(x.ms / 1000, 2) for x in d)} | **{_f(dm, 2)} s** "
                f"| {', '.join(_f(x.ms / 1000, 2) for x in p)} | {_f(pm, 2)} s | **{_f(ratio, 2)}** "
                f"| {_verdict(dm <= TARGET_PULL_S)} | {_verdict(ratio <= TARGET_PULL_RATIO)} "
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
            d = _median_run(_runs(r, "pull", "doorstep", batch))
            p = _median_run(_runs(r, "pull", "pouchdb-server", batch))
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
    # --- no-change ---
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
                f"{st['server_whole_ms']['p95']:.1f} ms** | {_verdict(st['server_whole_ms']['p95'] <= TARGET_NOCHANGE_MS)} "
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
            f"| {r.engine} | **{ratio:.2f}** | {ratio95:.2f} | {_verdict(ratio <= TARGET_NOCHANGE_RATIO)} |"
        )
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
    exp_rows = []
    for r in results:
        for state, label in (("20k", "20k"), ("210k", "200k")):
            exp = (r.explain.get(state) or {}).get("experiment")
            if not exp:
                continue
            for position, row in exp["positions"].items():
                same = row["sargable_same"] and row["per_case_same"]
                exp_rows.append(
                    f"| {r.engine} | {label} | {position} | {row['rows']} | {row['current_ms']:.2f} "
                    f"| {row['sargable_ms']:.2f} | {row['per_case_ms']:.2f} | {'yes' if same else '**no**'} |"
                )
    if exp_rows:
        lines += [
            "Two rewrites of the feed query carried by the bench (`candidate_changes`, not used by the "
            "application), measured against the current query on the same data: *sargable* gives each case in the `VALUES` list its own lower bound on `seq` "
            "(the checkpoint for cases held before it, 0 for cases granted after it), so the join becomes "
            "`d.case_id = a.case_id AND d.seq > a.lower_seq`, a range on the (case_id, seq) index; *per case* "
            "also takes at most `limit` rows per case in seq order (PostgreSQL: `CROSS JOIN LATERAL (… ORDER BY "
            "d.seq LIMIT n)`; SQLite: a `UNION ALL` of per-case subqueries) before the final sort. *Same rows*: "
            "both rewrites returned the current query's rows (ids and seq tokens, in order) at that position. "
            "In-process times, median of 30.",
            "",
            "| engine | state | feed position | rows | current (ms) | sargable (ms) | per case (ms) | same rows |",
            "|---|---|---|---:|---:|---:|---:|---|",
            *exp_rows,
            "",
        ]
        for r in results:
            variant = "per_case" if r.engine == "postgres" else "sargable"
            plan = ((r.explain.get("210k") or {}).get("experiment") or {}).get("plans", {}).get(variant)
            if plan:
                lines += [
                    f"*{'Per case' if variant == 'per_case' else 'Sargable'}* plan for the no-change case, "
                    f"{r.engine}, 200k state:",
                    "",
                    "```",
                    *plan,
                    "```",
                    "",
                ]
    # --- push ---
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
        runs = _runs(r, "push")
        if not runs:
            continue
        m = _median_run(runs)
        assert m is not None
        bulk = m.breakdown.get("POST _bulk_docs", {}).get("total_ms", float("nan"))
        med = median([x.ms / 1000 for x in runs])
        lines.append(
            f"| {r.engine} | {', '.join(_f(x.ms / 1000, 2) for x in runs)} | **{med:.2f} s** | {_verdict(med <= TARGET_PUSH_S)} "
            f"| {m.docs_written:,} | {m.server_ms / 1000:.2f} s | {bulk / 1000:.2f} s | {bulk / max(1, m.docs_written):.1f} ms "
            f"| {'; '.join(x.load for x in runs)} |"
        )
    warm = [(r.engine, _runs(r, "warm-push")) for r in results]
    warm_text = "; ".join(f"{e}: {w[0].ms / 1000:.1f} s ({w[0].requests} requests)" for e, w in warm if w)
    if warm_text:
        lines += ["", f"(The first push after the initial pull, with nothing to send, took {warm_text}: PouchDB asks "
                  "`_revs_diff` about every pulled document once.)"]  # fmt: skip
    lines += _writes_lines(results, "clean", "A clean replicated write")
    lines += ["", "### Against the targets", ""]
    for r in results:
        for batch in args.batch_sizes:
            dm = median([x.ms / 1000 for x in _runs(r, "pull", "doorstep", batch)])
            pm = median([x.ms / 1000 for x in _runs(r, "pull", "pouchdb-server", batch)])
            lines.append(
                f"- {r.engine}, initial pull (batch_size {batch}): {dm:.2f} s against ≤ {TARGET_PULL_S:.0f} s — "
                f"{_verdict(dm <= TARGET_PULL_S)}; {dm / pm:.2f}× pouchdb-server ({pm:.2f} s) against ≤ "
                f"{TARGET_PULL_RATIO:.1f} — {_verdict(dm / pm <= TARGET_PULL_RATIO)}."
            )
        a, b = r.nochange.get("20k"), r.nochange.get("210k")
        if a and b:
            worst = max(a["server_whole_ms"]["p95"], b["server_whole_ms"]["p95"])
            ratio = b["server_whole_ms"]["median"] / a["server_whole_ms"]["median"]
            lines.append(
                f"- {r.engine}, no-change sync: server time per sync {a['server_whole_ms']['median']:.1f} ms "
                f"(20k) and {b['server_whole_ms']['median']:.1f} ms (200k) median, p95 up to {worst:.1f} ms, against "
                f"≤ {TARGET_NOCHANGE_MS:.0f} ms — {_verdict(worst <= TARGET_NOCHANGE_MS)}; 200k/20k "
                f"{ratio:.2f} against ≤ {TARGET_NOCHANGE_RATIO} — {_verdict(ratio <= TARGET_NOCHANGE_RATIO)}."
            )
        runs = _runs(r, "push")
        if runs:
            med = median([x.ms / 1000 for x in runs])
            lines.append(
                f"- {r.engine}, push of {args.edits:,} edited visits: {med:.2f} s against ≤ {TARGET_PUSH_S:.0f} s — "
                f"{_verdict(med <= TARGET_PUSH_S)}."
            )
    return "\n".join(lines) + "\n"


def _writes_lines(results: list[EngineResult], kind: str, label: str) -> list[str]:
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


def _categories(profile: dict[str, Any], top: int = 6) -> str:
    cpu = profile.get("cpu") or 0
    if not cpu:
        return "–"
    return "; ".join(f"{name} {n / cpu:.0%}" for name, n in profile.get("categories", [])[:top])


def _hottest(profile: dict[str, Any], top: int = 10) -> str:
    busy = profile.get("busy") or 0
    return (
        ", ".join(f"`{name}` {n / busy:.0%}" for name, n in profile.get("inclusive", [])[:top])
        if busy
        else "–"
    )


def render_crypto(
    results: list[EngineResult], facts: dict[str, str], args: argparse.Namespace, script: str
) -> str:
    lines = [f"## {SECTIONS[1]}", "", *_header(facts, results, args, script)]
    lines += [
        "- **What counts as crypto**: a sample of the server whose stack passes through "
        "`sync/_envelope.py` (body encryption and decryption, key wraps: the AES-GCM, X25519 and HKDF calls "
        "and the base64, JSON and binding-string work those functions do around them), `sync/_keystore.py` "
        "(scrypt), `backend/keys/keyring.py` (case keys unwrapped under the server's KEKs) or the "
        "`cryptography` package itself. JSON and base64 outside those functions (parsing request bodies, "
        "writing responses) are not counted.",
        f"- **Method**: `py-spy record --rate {args.spy_rate} --format raw --pid <uvicorn>` (every thread) "
        "during one extra initial pull of the caseload (batch_size 100, a freshly enrolled device, so its key "
        f"envelopes are wrapped inside it) and one extra push of {args.edits:,} edited visits, in the 200k "
        "state; these profiled runs are not among the timed runs of the other sections. py-spy's own idle "
        "detection does not work on this machine's kernel, so samples whose innermost frame is a thread "
        "waiting for work (`threading.Condition.wait`, the thread pool's `_worker`, the event loop's "
        "`Runner.run`) are dropped as *idle*; the rest is the server's *busy* time, split into *DB wait* "
        "(innermost frame psycopg's `Connection.wait`: waiting for PostgreSQL's answer) and *CPU* (the "
        "rest; SQLite's engine runs in-process, so its work is CPU here). The verdict uses the share of CPU "
        "samples, the larger of the two shares. *Where the CPU goes* splits the CPU samples: crypto, then "
        "the merge engine if any frame is theirs, otherwise the first category met from the innermost frame "
        "outwards.",
        "",
        "| engine | scenario | wall (profiled run) | samples: busy (DB wait) | crypto: share of CPU | share of busy | "
        "≤ 20 % | where the CPU goes |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        for key, label in (
            ("pull", f"initial pull, {args.cases * args.per_case:,} documents"),
            ("push", f"push of {args.edits:,} edited visits"),
        ):
            prof = r.profiles.get(key)
            if not prof or not prof.get("samples"):
                continue
            share = prof.get("crypto_share", float("nan"))
            lines.append(
                f"| {r.engine} | {label} | {prof['run']['ms'] / 1000:.2f} s | {prof['busy']:,} ({prof['db_wait']:,}) "
                f"| **{_pct(share)}** | {_pct(prof.get('crypto_share_busy', float('nan')))} "
                f"| {_verdict(share <= TARGET_CRYPTO_SHARE)} | {_categories(prof)} |"
            )
    lines += ["", "Our own functions by inclusive share of the busy samples (request wrappers left out):", ""]
    for r in results:
        for key in ("pull", "push"):
            prof = r.profiles.get(key)
            if prof and prof.get("busy"):
                lines.append(f"- {r.engine}, {key}: {_hottest(prof)}.")
    lines += [
        "",
        "### Python client decryption rate",
        "",
        "The Python client (`clients/python`, `DoorstepClient`) logged in as the practitioner, enrolled (scrypt "
        "keystore), pulled the caseload with `sync()`, unwrapped each case key once, then opened every document "
        "three times; the best of three is shown. *records()* is the caseload path (`DoorstepClient.records()`: "
        "read each winning revision from the SQLite replica, decrypt, join with the clear meta); "
        "*open_content* the same decrypt-and-join on documents already in memory; *decrypt_body* the bare "
        "`sync.decrypt_body` (AES-256-GCM + JSON) on the same bodies.",
        "",
        "| engine | documents | `records()` docs/s | `open_content` docs/s | `sync.decrypt_body` docs/s | the client's pull (`sync()`) | load |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        p = r.pyclient
        if not p or not p.get("runs"):
            continue
        best_rec = min(p["runs"], key=lambda x: x["records_s"])
        best_open = min(x["open_s"] for x in p["runs"])
        best_raw = min(x["raw_s"] for x in p["runs"])
        n = p["docs"]
        lines.append(
            f"| {r.engine} | {n:,} | {best_rec['records'] / best_rec['records_s']:,.0f} | {n / best_open:,.0f} "
            f"| {n / best_raw:,.0f} | {p['pulled']:,} documents in {p['pull_s']:.1f} s | {p.get('load', '')} |"
        )
    return "\n".join(lines) + "\n"


def render_merging(
    results: list[EngineResult], facts: dict[str, str], args: argparse.Namespace, script: str
) -> str:
    lines = [f"## {SECTIONS[2]}", "", *_header(facts, results, args, script)]
    lines += [
        f"- **Method**: device A (the practitioner's tablet) and device B (a co-worker's tablet on the same "
        f"cases), both PouchDB 9 in Node with the caseload pulled and a current push checkpoint, edit the same "
        f"{args.edits:,} visits offline: A rewrites the first paragraph of the observations, sets the visit type "
        "to `planned` (rule `latest`) and the risk level to `high` (rule `review`); B, a moment later, rewrites "
        "the last paragraph, sets `unannounced` and `critical`. A pushes (a clean push), then B pushes its "
        f"{args.edits:,} conflicting edits in one replication (`batch_size` 100); the server merges each "
        "document inside `_bulk_docs` (three-way text merge, `latest`, a review item for the risk level, the "
        "merged revision on the winning leaf, a tombstone on the other). The database is in the 200k state.",
        "- **Proof that the merges happened**: after B's push the script counts, for those visits, the `merge` "
        "audit events, the open review items (`ConflictItem`) and the documents left with more than one live "
        "leaf.",
        "- **Merges per second**: merged documents divided by the server's own time for B's `_bulk_docs` "
        "requests (where the merges run; the writes of B's revisions are included); the client-side figure "
        "divides by B's whole replication. *Extra cost*: B's push over A's, wall time.",
        "",
        "| engine | visits | A push (clean) | B push (conflicting) | B / A | B `_bulk_docs` server time | merge events | "
        "review items | several live leaves after | merges/s (server `_bulk_docs`) | ≥ 500/s | merges/s (client wall) | load A; B |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in results:
        m = r.merge.get("timed")
        if not m:
            continue
        a, b, c = m["A"], m["B"], m["check"]
        bulk = b["breakdown"].get("POST _bulk_docs", {}).get("total_ms", float("nan")) / 1000
        merges = c["merge_events"]
        rate = merges / bulk if bulk else float("nan")
        lines.append(
            f"| {r.engine} | {c['ids']:,} | {a['ms'] / 1000:.2f} s | {b['ms'] / 1000:.2f} s | **{b['ms'] / a['ms']:.2f}×** "
            f"| {bulk:.2f} s | {merges:,} | {c['conflict_items']:,} ({', '.join(f'{k}: {v}' for k, v in c['conflict_fields'].items())}) "
            f"| {c['docs_with_several_live_leaves']} | **{rate:,.0f}** | {_verdict(rate >= TARGET_MERGES_PER_S)} "
            f"| {merges / (b['ms'] / 1000):,.0f} | {a['load']}; {b['load']} |"
        )
    lines += [
        "",
        "Where B's push spends the server's CPU (py-spy during a second, profiled round on other visits):",
        "",
    ]
    for r in results:
        prof = r.profiles.get("merge")
        if not prof or not prof.get("samples"):
            continue
        lines.append(
            f"- {r.engine} ({prof['run']['ms'] / 1000:.2f} s under py-spy; {prof['busy']:,} busy samples, "
            f"{prof['db_wait']:,} of them waiting for the database; crypto {_pct(prof['crypto_share'])} of CPU): "
            f"CPU: {_categories(prof, 8)}. Inclusive: {_hottest(prof, 12)}."
        )
    lines += _writes_lines(
        results, "merge", "A write that conflicts with a sibling edit (so the server merges)"
    )
    lines += ["", "### Against the targets", ""]
    for r in results:
        m = r.merge.get("timed")
        if not m:
            continue
        b = m["B"]
        bulk = b["breakdown"].get("POST _bulk_docs", {}).get("total_ms", float("nan")) / 1000
        rate = m["check"]["merge_events"] / bulk if bulk else float("nan")
        lines.append(
            f"- {r.engine}: {rate:,.0f} merges/s against ≥ {TARGET_MERGES_PER_S:.0f}/s — "
            f"{_verdict(rate >= TARGET_MERGES_PER_S)}; a conflicting push costs {b['ms'] / m['A']['ms']:.2f}× a "
            f"clean one ({b['ms'] / 1000:.2f} s vs {m['A']['ms'] / 1000:.2f} s)."
        )
    return "\n".join(lines) + "\n"


def write_section(path: Path, title: str, section: str) -> None:
    """Replace the ``## title`` section of ``path`` (or append it), leaving every other section alone."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else ["# Benchmarks\n"]
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


# ------------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


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
        "--batch-sizes", type=_ints, default=[100, 500], help="PouchDB batch_size values to pull with"
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


@contextlib.contextmanager
def code_snapshot(rev: str | None) -> Iterator[None]:
    """With ``rev``: export that commit (``git archive``, read-only on the repository) into a
    temporary directory, add this bench's files and a link to tests/node/node_modules, and run
    everything from there; removed afterwards."""
    global CODE, CODE_NOTE
    if not rev:
        yield
        return
    full = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    snap = Path(tempfile.mkdtemp(prefix="bench_sync_code_"))
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", full], cwd=REPO, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(snap)], input=archive.stdout, check=True)
        bench = snap / "tests" / "bench"
        bench.mkdir(parents=True, exist_ok=True)
        for name in ("bench_sync.py", "pull.mjs", "settings.py", "timing.py", "asgi.py"):
            shutil.copy(REPO / "tests" / "bench" / name, bench / name)
        (snap / "tests" / "node" / "node_modules").symlink_to(NODE_DIR / "node_modules")
        subject = subprocess.run(["git", "log", "-1", "--format=%h %s", full], cwd=REPO, capture_output=True,
                                 text=True).stdout.strip()  # fmt: skip
        short = subject if len(subject) <= 70 else subject[:69] + "…"
        CODE, CODE_NOTE = snap, f"commit {short} (a clean export of it; the working tree was not used)"
        log(f"running commit {full[:10]} from {snap}")
        yield
    finally:
        CODE, CODE_NOTE = REPO, ""
        shutil.rmtree(snap, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        params = json.loads(Path(args.params).read_text())
        result = CHILDREN[args.child](params)
        Path(args.out).write_text(json.dumps(result, default=str))
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    with code_snapshot(args.rev):
        facts = machine_facts()
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
