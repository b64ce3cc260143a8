"""The sign-in limit holds against a real server process taking 30 guesses at once (issue 10
item 4), on the engine the suite runs on."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.e2e


def test_issue10_item4_thirty_concurrent_guesses_at_a_live_server(server: LiveServer) -> None:
    # A name of its own: the throttle is per account and address, so the session's other
    # tests (same address, demo accounts) are not slowed by this one.
    username = "guesser.target"
    start = threading.Barrier(30)

    def guess(_: int) -> int:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            start.wait()
            response = client.post("/api/auth/token/", json={"username": username, "password": "wrong-guess"})
            return response.status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(guess, range(30)))
    assert set(statuses) == {401, 429}
    assert statuses.count(401) <= 5, statuses
    failed = server.shell(
        "from backend.audit.models import AuditEvent\n"
        "import json\n"
        f"print(json.dumps(AuditEvent.objects.filter(action='login_failed', actor_username={username!r}).count()))"
    )
    assert failed == statuses.count(401)
