"""Fixtures for the end-to-end tests: a real server process (tests/live.py) with the demo
council, and a snapshot of what its database holds to assert against."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.live import Account, LiveServer, live_server

# One INFO line per request from httpx would drown a failure's report.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass
class Snapshot:
    """What the server's database holds (``LiveServer.documents()``), indexed."""

    documents: list[dict[str, Any]]
    allocations: list[dict[str, Any]]

    @classmethod
    def of(cls, server: LiveServer) -> Snapshot:
        return cls(**server.documents())

    def cases_of(self, username: str) -> set[str]:
        return {a["case_id"] for a in self.allocations if a["username"] == username}

    def docs_in(self, case_ids: set[str], *, live_only: bool = True) -> dict[str, dict[str, Any]]:
        return {
            d["id"]: d
            for d in self.documents
            if d["case_id"] in case_ids and not (live_only and d["deleted"])
        }

    def holders(self) -> dict[str, set[str]]:
        """case id → usernames of the practitioners allocated to it."""
        result: dict[str, set[str]] = defaultdict(set)
        for a in self.allocations:
            result[a["case_id"]].add(a["username"])
        return result

    def user_id(self, username: str) -> int:
        return next(a["user_id"] for a in self.allocations if a["username"] == username)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the session's e2e tests (each test enrols its own devices and touches
    its own documents); tests that kill or load a server make their own."""
    with live_server(tmp_path_factory.mktemp("e2e"), name="shared") as live:
        yield live


@pytest.fixture(scope="session")
def accounts(server: LiveServer) -> dict[str, Account]:
    return {a.username: a for a in server.demo_accounts()}


@pytest.fixture(scope="session")
def seeded(server: LiveServer) -> Snapshot:
    """The database as seeded, before any test wrote to it."""
    return Snapshot.of(server)


@pytest.fixture
def fresh_server(tmp_path) -> Iterator[LiveServer]:
    """A server of the test's own (it may be killed, restarted, or loaded with data)."""
    with live_server(tmp_path, name="own") as live:
        yield live
