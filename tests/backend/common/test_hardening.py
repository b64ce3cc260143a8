"""Request size limits that hold for chunked bodies, a private SQLite file, and production settings
that pass Django's deployment checks (issue 10 item 10)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend.asgi import application

ROOT = Path(__file__).resolve().parents[3]
MANAGE = ROOT / "backend" / "manage.py"


def chunked_request(path: str, *, chunk: bytes, most_chunks: int) -> tuple[int, dict[str, Any], int]:
    """POST ``path`` through the ASGI application with a chunked body (no Content-Length) of
    ``chunk`` repeated, from a client that sends at most ``most_chunks`` and then keeps the
    request open. Returns (status, JSON body, chunks the application read)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read >= most_chunks:
            await asyncio.Event().wait()  # the client is still sending: never done
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await asyncio.wait_for(application(scope, receive, send), timeout=20)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), read


@pytest.mark.parametrize(
    ("path", "limit_setting", "expected"),
    [
        ("/sync/caseload/_bulk_docs", "DOORSTEP_MAX_SYNC_BODY", {"error": "too_large"}),
        ("/api/auth/token/", "DOORSTEP_MAX_REST_BODY", {"code": "payload_too_large"}),
    ],
    ids=["sync", "rest"],
)
def test_issue10_item10_chunked_body_over_the_limit_is_413_json_before_it_is_all_read(
    settings, path, limit_setting, expected
):
    """A chunked body has no Content-Length to refuse up front: it is counted as it arrives
    and refused with the documented 413 as soon as it passes the limit (before, the whole body
    was read — here it never ends — and then answered with Django's HTML 400)."""
    setattr(settings, limit_setting, 64 * 1024)
    chunk = b" " * 16 * 1024
    status, body, read = chunked_request(path, chunk=chunk, most_chunks=1000)
    assert status == 413
    assert expected.items() <= body.items()
    assert read <= 64 * 1024 // len(chunk) + 1  # stopped reading just past the limit


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOORSTEP_", "DATABASE_URL"))}
    env["DOORSTEP_VAR_DIR"] = str(tmp_path)
    return env


def test_issue10_item10_sqlite_database_and_its_wal_and_shm_are_private(tmp_path):
    """``make run``'s database holds ciphertext and the audit trail: created 0600 like the
    keyring beside it (it was 0644), and SQLite gives its -wal and -shm the same mode (the
    keyring's own 0600 is tested with the keyring)."""
    env = _clean_env(tmp_path)
    migrated = _run(["migrate", "--verbosity", "0"], env)
    assert migrated.returncode == 0, migrated.stderr
    probe = (
        "import os, stat\n"
        "from django.db import connection\n"
        "with connection.cursor() as c: c.execute('CREATE TABLE IF NOT EXISTS probe (x int)')\n"
        "d = os.environ['DOORSTEP_VAR_DIR']\n"
        "for n in ('doorstep.sqlite3', 'doorstep.sqlite3-wal', 'doorstep.sqlite3-shm'):\n"
        "    p = os.path.join(d, n)\n"
        "    print(n, oct(stat.S_IMODE(os.stat(p).st_mode)) if os.path.exists(p) else 'absent')\n"
    )
    shown = _run(["shell", "-c", probe], env)
    assert shown.returncode == 0, shown.stderr
    modes = dict(line.split() for line in shown.stdout.splitlines() if line.startswith("doorstep."))
    assert modes == {
        "doorstep.sqlite3": "0o600",
        "doorstep.sqlite3-wal": "0o600",
        "doorstep.sqlite3-shm": "0o600",
    }


def test_issue10_item10_an_existing_world_readable_database_is_made_private(tmp_path):
    env = _clean_env(tmp_path)
    assert _run(["migrate", "--verbosity", "0"], env).returncode == 0
    database = tmp_path / "doorstep.sqlite3"
    database.chmod(0o644)
    assert _run(["check"], env).returncode == 0
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_issue10_item10_production_settings_pass_the_deployment_checks(tmp_path):
    """deploy/doorstep.env.example, as a council fills it in, passes ``check --deploy`` with no
    warning: Secure session and CSRF cookies, HSTS, HTTPS redirect (before: W004, W008, W012,
    W016)."""
    env = _clean_env(tmp_path)
    for line in (ROOT / "deploy" / "doorstep.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    # What the council fills in: a real secret and keyring, and (here) a local database.
    env["DJANGO_SECRET_KEY"] = "k" * 20 + "-deploy-check-" + "z9" * 20
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'deploy.sqlite3'}"
    keyring = subprocess.run(
        [sys.executable, "-c", "from sync import Keyring; print(Keyring.generate(kek_id='k1').to_json())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key_file = tmp_path / "keyring.json"
    key_file.write_text(keyring)
    key_file.chmod(0o600)
    env["DOORSTEP_KEY_FILE"] = str(key_file)
    checked = _run(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shown = _run(
        [
            "shell",
            "-c",
            "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_SSL_REDIRECT)",
        ],
        env,
    )
    assert shown.stdout.splitlines()[-1].split() == ["True", "True", "True", "True"], shown.stderr
