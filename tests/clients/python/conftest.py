"""Fixtures: a real pouchdb-server (Node) for the session, a fresh database per test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from doorstep_client import Remote

from .doubles import FakeDoorstep

NODE_MODULES = Path(__file__).resolve().parents[2] / "node" / "node_modules"
POUCHDB_SERVER = NODE_MODULES / "pouchdb-server" / "bin" / "pouchdb-server"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PouchServer:
    def __init__(self, url: str) -> None:
        self.url = url

    def new_database(self) -> str:
        url = f"{self.url}/t{uuid.uuid4().hex[:16]}"
        httpx.put(url).raise_for_status()
        return url


def _start(node: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    log = open(workdir / f"pouchdb-server-{port}.log", "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [node, str(POUCHDB_SERVER), "--in-memory", "--no-color", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    process.wait()
    log.close()
    return process, ""


@pytest.fixture(scope="session")
def pouchdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PouchServer]:
    """pouchdb-server 4.2 in memory on a free loopback port; fails (never skips) without Node deps."""
    if not POUCHDB_SERVER.exists():
        pytest.fail(f"{POUCHDB_SERVER} is missing: run `make node-deps` (npm ci in tests/node)")
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the Python client tests replicate with a real pouchdb-server")
    workdir = tmp_path_factory.mktemp("pouchdb-server")
    for _attempt in range(3):  # a port picked free can be taken before node binds it
        process, url = _start(node, workdir)
        if url:
            break
    else:
        logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in workdir.glob("*.log"))
        pytest.fail(f"pouchdb-server did not start:\n{logs}")
    try:
        yield PouchServer(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def couch_url(pouchdb_server: PouchServer) -> str:
    """The URL of a fresh, empty database on pouchdb-server."""
    return pouchdb_server.new_database()


@pytest.fixture
def couch(couch_url: str) -> Iterator[Remote]:
    with Remote(couch_url, retries=0) as remote:
        yield remote


@pytest.fixture
def fake_doorstep(couch_url: str) -> Iterator[FakeDoorstep]:
    double = FakeDoorstep(
        couch_url, users={"amy": ("correct horse", {"id": 17, "ref": "u:17", "username": "amy"})}
    )
    try:
        yield double
    finally:
        double.close()
