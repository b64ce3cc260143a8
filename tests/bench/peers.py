"""The sync benchmark's processes: the timed app server, pouchdb-server and the PouchDB tablets in Node."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.bench.harness import NODE_DIR, AppServer, Engine, code, free_port, stop_group
from tests.bench.sync_load import PASSWORD

POUCHDB_SERVER = NODE_DIR / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"


class SyncServer(AppServer):
    """``uvicorn tests.bench.asgi:application`` (one process): the real app under the timing
    wrapper, which logs each request's server-side time to ``timing_log``."""

    ready_path = "/sync/"
    ready_statuses = (200,)

    def __init__(self, engine: Engine) -> None:
        self.timing_log = engine.tmp / "server-timing.jsonl"
        env = dict(
            engine.env, DJANGO_SETTINGS_MODULE="tests.bench.settings", BENCH_TIMING_LOG=str(self.timing_log)
        )
        super().__init__(engine, app="tests.bench.asgi:application", env=env)
        self.sync_url = f"{self.url}/sync/caseload"

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
def running(server: SyncServer) -> Iterator[SyncServer]:
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
        stop_group(self.proc, timeout=15)

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
            ["node", "--max-old-space-size=4096", str(code.path / "tests" / "bench" / "pull.mjs")], cwd=code.path, env=env,
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
