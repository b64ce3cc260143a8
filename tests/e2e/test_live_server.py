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
