"""A real Doorstep server process for end-to-end tests.

``LiveServer`` owns one fresh database (an SQLite file in its own ``DOORSTEP_VAR_DIR``, or,
when ``DATABASE_URL`` names PostgreSQL, a database ``doorstep_e2e_<pid>_<n>`` created for it
and dropped at ``close()``), migrates it, loads the demo council (``seed_demo``) and serves it
with uvicorn on a free loopback port. ``stop()``/``kill()`` end the process (SIGTERM, or
SIGKILL for the interruption test) and ``start()`` serves the same database on the same port
again. Everything the server prints goes to ``server.log`` in its directory (``log_text()``).

The helpers speak to it over HTTP like any client: ``login`` (``POST /api/auth/token/``),
``enrol`` (``POST /api/devices/`` with an X25519 key from ``sync.generate_device_keypair``),
``api`` (REST with a token) and ``demo_accounts`` (``manage.py demo_accounts --json`` against
the same database). ``documents()`` is the ground truth for assertions: what the server's
database holds, read by a management shell in a separate process.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from sync import generate_device_keypair

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
MANAGE = ROOT / "backend" / "manage.py"
NODE_DIR = ROOT / "tests" / "node"
DEMO_PASSWORD = "doorstep-demo-2026"

_counter = itertools.count(1)


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
        except Exception as exc:  # the server may not be listening yet
            value, last_error = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})"
            )
        time.sleep(interval)


def postgres_url() -> str | None:
    """``DATABASE_URL`` when it names PostgreSQL (the suite's second engine), else None."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


@dataclass
class Device:
    """An enrolled device: its id (``d:<pk>``), token and raw X25519 key pair."""

    id: str
    pk: int
    token: str
    private_key: bytes
    public_key: bytes
    user_id: int

    @property
    def private_b64(self) -> str:
        return base64.b64encode(self.private_key).decode()

    @property
    def user_ref(self) -> str:
        return f"u:{self.user_id}"


@dataclass
class Account:
    username: str
    password: str
    role: str
    name: str
    teams: list[str] = field(default_factory=list)


class LiveServer:
    def __init__(self, base_dir: Path, *, families: int = 12, name: str = "server") -> None:
        self.dir = Path(base_dir) / name
        self.var_dir = self.dir / "var"
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "server.log"
        self.families = families
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._admin_url = postgres_url()
        self.database_url: str | None = None
        self.database_name: str | None = None
        if self._admin_url is not None:
            self.database_name = f"doorstep_e2e_{os.getpid()}_{next(_counter)}"
            parts = urlsplit(self._admin_url)
            self.database_url = urlunsplit(parts._replace(path=f"/{self.database_name}"))
        self.env = self._environment()

    # --- addresses ---
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sync_url(self) -> str:
        return f"{self.url}/sync/caseload"

    @property
    def engine(self) -> str:
        return "postgresql" if self.database_url else "sqlite"

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOORSTEP_"))}
        env.pop("DATABASE_URL", None)
        env.update(
            DOORSTEP_VAR_DIR=str(self.var_dir),
            DOORSTEP_FAST_PASSWORD_HASHER="1",
            DOORSTEP_LOG_LEVEL="INFO",
            DJANGO_SETTINGS_MODULE="backend.settings",
            PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            PYTHONUNBUFFERED="1",
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    # --- database ---
    def _admin_connect(self) -> Any:
        import psycopg

        assert self._admin_url is not None
        parts = urlsplit(self._admin_url)
        # The maintenance database, so the one named in DATABASE_URL need not exist.
        return psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)

    def create_database(self) -> None:
        if self.database_name is None:
            return
        with self._admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.database_name}"')

    def drop_database(self) -> None:
        if self.database_name is None:
            return
        with self._admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')

    def manage(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``backend/manage.py`` against this server's database."""
        result = subprocess.run(
            [str(PYTHON), str(MANAGE), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def shell(self, code: str, *, timeout: float = 300) -> Any:
        """Run Python in ``manage.py shell`` against this database; it must print one JSON value
        as its last line of output, which is returned."""
        result = self.manage("shell", "--no-imports", "-c", code, timeout=timeout)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert lines, f"shell printed nothing:\n{result.stderr}"
        return json.loads(lines[-1])

    def prepare(self) -> None:
        """A fresh database: create (PostgreSQL), migrate, seed the demo council."""
        self.create_database()
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("seed_demo", "--families", str(self.families))

    # --- process ---
    def start(self, *, timeout: float = 60) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        self.process = subprocess.Popen(
            [
                str(PYTHON),
                "-m",
                "uvicorn",
                "backend.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "2",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.log_text()[-3000:]}"
                )
            return httpx.get(f"{self.url}/sync/", timeout=2).status_code == 200

        try:
            wait_until(ready, timeout=timeout, what=f"the server on port {self.port}")
        except RuntimeError as exc:
            raise AssertionError(str(exc)) from None

    def _reap(self, sig: int, timeout: float) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        """Graceful stop (SIGTERM; SIGKILL if it lingers)."""
        self._reap(signal.SIGTERM, timeout=10)

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, with no chance to finish a response."""
        self._reap(signal.SIGKILL, timeout=10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def close(self) -> None:
        self.stop()
        self.drop_database()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- HTTP helpers ---
    def client(self, token: str | None = None, *, timeout: float = 30) -> httpx.Client:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def api(self, method: str, path: str, token: str, *, expect: int | None = 200, **kwargs: Any) -> Any:
        """A REST call; asserts the status (``expect=None`` to skip) and returns the JSON body."""
        with self.client(token) as client:
            response = client.request(method, path, **kwargs)
        if expect is not None:
            assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def login(self, username: str, password: str = DEMO_PASSWORD) -> tuple[str, dict[str, Any]]:
        """``(token, user)`` from ``POST /api/auth/token/``."""
        response = httpx.post(
            f"{self.url}/api/auth/token/", json={"username": username, "password": password}, timeout=30
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return body["token"], body["user"]

    def enrol(self, user_token: str, name: str = "tablet") -> Device:
        """Enrol a device for the token's user with a fresh X25519 key pair."""
        private_key, public_key = generate_device_keypair()
        body = self.api(
            "POST",
            "/api/devices/",
            user_token,
            expect=201,
            json={"name": name, "public_key": base64.b64encode(public_key).decode(), "app_version": "e2e"},
        )
        me = self.api("GET", "/api/me/", user_token)
        return Device(
            id=body["device"]["id"],
            pk=int(body["device"]["pk"]),
            token=body["token"],
            private_key=private_key,
            public_key=public_key,
            user_id=int(me["id"]),
        )

    def demo_accounts(self) -> list[Account]:
        result = self.manage("demo_accounts", "--json")
        return [Account(**row) for row in json.loads(result.stdout)]

    def documents(self) -> dict[str, Any]:
        """Ground truth from the database: every document (id, rev, case, deleted) and every
        live allocation (case, username)."""
        return self.shell(_DUMP)


_DUMP = """
import json
from backend.records.models import Document
from backend.cases.models import Allocation
docs = [
    {"id": d[0], "rev": d[1], "case_id": d[2], "deleted": d[3], "type": d[4], "status": (d[5] or {}).get("status")}
    for d in Document.objects.values_list("id", "rev", "case_id", "deleted", "doc_type", "meta")
]
allocations = [
    {"case_id": a[0], "username": a[1], "user_id": a[2]}
    for a in Allocation.objects.filter(ended_seq__isnull=True).values_list("case_id", "user__username", "user_id")
]
print(json.dumps({"documents": docs, "allocations": allocations}))
"""


@contextmanager
def live_server(base_dir: Path, **kwargs: Any) -> Iterator[LiveServer]:
    """A prepared and started server, closed (and its database dropped) afterwards."""
    server = LiveServer(base_dir, **kwargs)
    try:
        server.prepare()
        server.start()
        yield server
    finally:
        server.close()


def node_modules_or_fail() -> Path:
    """The Node peers' dependencies; a missing install is a failure, not a skip (CI installs
    them with ``make test`` → ``npm ci`` in tests/node)."""
    modules = NODE_DIR / "node_modules"
    needed = ["pouchdb", "pouchdb-adapter-memory", "pouchdb-server", "@noble/hashes"]
    missing = [name for name in needed if not (modules / name / "package.json").exists()]
    if missing:
        raise AssertionError(
            f"tests/node/node_modules lacks {', '.join(missing)}: run `make node-deps` "
            "(npm ci in tests/node) before the e2e tests"
        )
    return modules
