"""Sampling the server with py-spy and splitting its samples: idle, waiting for the database, crypto, the rest by category."""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.bench.harness import stop_group

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
        raise RuntimeError(
            "py-spy is not installed: make install (it is a dev extra), or run with --no-profile"
        )
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
        stop_group(proc, signal.SIGINT, timeout=60)  # SIGINT: py-spy writes its file, then exits


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


def keep_profile(path: Path, args: argparse.Namespace, name: str) -> None:
    if args.profile_dir and path.exists():
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(args.profile_dir) / f"pyspy-{name}.txt")
