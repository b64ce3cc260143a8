"""Running the Node peers (tests/node/*.mjs) from pytest.

A script gets its parameters as JSON in ``DOORSTEP_PARAMS`` and prints one JSON object per
line on stdout; the last line is its result. ``run_node`` runs one to completion;
``NodeProcess`` talks to a long-running one line by line (events out, commands in).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.live import NODE_DIR, ROOT, node_modules_or_fail

NODE = os.environ.get("NODE", "node")


def _env(params: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env["DOORSTEP_PARAMS"] = json.dumps(params)
    env.pop("NODE_OPTIONS", None)
    return env


def _script(name: str) -> Path:
    node_modules_or_fail()
    path = NODE_DIR / name
    assert path.exists(), path
    return path


def run_node(name: str, params: dict[str, Any], *, timeout: float = 90) -> dict[str, Any]:
    """Run ``tests/node/<name>`` to completion; its last stdout line, parsed. Fails (with its
    stderr) on a non-zero exit."""
    result = subprocess.run(
        [NODE, str(_script(name))],
        cwd=ROOT,
        env=_env(params),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{name} exited {result.returncode}\nstderr:\n{result.stderr[-4000:]}"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, f"{name} printed nothing\nstderr:\n{result.stderr[-4000:]}"
    return json.loads(lines[-1])


class NodeProcess:
    """A running Node script: ``expect(event)`` waits for a JSON line, ``send(obj)`` writes one."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [NODE, str(_script(name))],
            cwd=ROOT,
            env=_env(params),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip():
                self.lines.put(line)
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def expect(self, event: str, *, timeout: float = 60) -> dict[str, Any]:
        """The next line whose ``event`` is ``event`` (earlier lines are kept in ``events``)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: no {event!r} within {timeout}s; saw {self.events[-5:]}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.process.wait(timeout=10)
                raise AssertionError(
                    f"{self.name} exited ({self.process.returncode}) before {event!r}; "
                    f"events {self.events[-5:]}\nstderr:\n{''.join(self.stderr)[-4000:]}"
                )
            message = json.loads(line)
            self.events.append(message)
            if message.get("event") == event:
                return message

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def finish(self, *, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(
                f"{self.name} did not exit; stderr:\n{''.join(self.stderr)[-4000:]}"
            ) from None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class PouchServer:
    """pouchdb-server 4.2 (express-pouchdb), in memory, on a free loopback port: a real
    third-party CouchDB-protocol server. It writes config.json and log.txt in its cwd."""

    def __init__(self, workdir: Path) -> None:
        from tests.live import free_port

        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        node_modules = node_modules_or_fail()
        self._log = open(self.dir / "pouchdb-server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                NODE,
                str(node_modules / "pouchdb-server" / "bin" / "pouchdb-server"),
                "--in-memory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=self.dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import httpx

        from tests.live import wait_until

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"pouchdb-server exited: {self.log_text()[-2000:]}")
            return httpx.get(self.url + "/", timeout=2).status_code == 200

        wait_until(ready, timeout=30, what="pouchdb-server")

    def database(self, name: str) -> str:
        """Create database ``name``; its URL."""
        import httpx

        response = httpx.put(f"{self.url}/{name}", timeout=10)
        assert response.status_code in (201, 412), response.text
        return f"{self.url}/{name}"

    def log_text(self) -> str:
        return (self.dir / "pouchdb-server.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
