"""The live server helper itself: a real process on a fresh database, restartable."""

from __future__ import annotations

import httpx
import pytest

from tests.live import DEMO_PASSWORD, LiveServer, postgres_url

pytestmark = pytest.mark.e2e


def test_server_serves_the_demo_council(server: LiveServer, accounts, seeded) -> None:
    root = httpx.get(f"{server.url}/sync/", timeout=10).json()
    assert root["couchdb"] == "Welcome"
    roles = {a.role for a in accounts.values()}
    assert roles == {"admin", "supervisor", "practitioner"}
    assert all(a.password == DEMO_PASSWORD for a in accounts.values())
    assert len({d["case_id"] for d in seeded.documents}) == 12
    assert server.engine == ("postgresql" if postgres_url() else "sqlite")
    practitioner = next(a for a in accounts.values() if a.role == "practitioner")
    token, user = server.login(practitioner.username)
    device = server.enrol(token, "probe")
    assert device.id == f"d:{device.pk}" and device.user_ref == f"u:{user['id']}"
    info = httpx.get(server.sync_url + "/", headers={"Authorization": f"Token {device.token}"}, timeout=10)
    assert info.status_code == 200 and info.json()["db_name"] == "caseload"


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("path", "key"),
    [("/sync/caseload/_bulk_docs", "error"), ("/api/auth/token/", "code")],
)
def test_oversize_body_is_refused_before_it_is_sent(server: LiveServer, path: str, key: str) -> None:
    """The server answers 413 from the Content-Length alone: it never waits for (or reads) a
    body over the limit — the client below never sends one."""
    import json
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 500000000\r\n\r\n"
            ).encode()
        )
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert key in json.loads(body)
