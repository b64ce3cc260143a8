"""Fixtures for the web app's browser tests: one live server (tests/live.py) with the demo
council, a practitioner with about 2,000 documents seeded in the background while the other
tests run, and a runner for the Node scenarios in ``scenarios/`` (playwright-core driving the
Debian Chromium), each of which prints one JSON object as its last line."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.live import DEMO_PASSWORD, MANAGE, PYTHON, ROOT, Account, LiveServer
from tests.web.bench_seed import seed_code

WEB = ROOT / "clients" / "web"
HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("DOORSTEP_CHROMIUM", "/usr/bin/chromium")
NODE = os.environ.get("NODE", "node")
SCREENSHOTS = ROOT / "docs" / "screenshots"
#: Size of the benchmark practitioner's caseload (documents, about 40 per case).
BENCH_DOCUMENTS = int(os.environ.get("DOORSTEP_WEB_BENCH_DOCS", "2000"))


def browser_or_fail() -> None:
    """Chromium, the built app and its Node dependencies; a missing one is a failure with the
    fix, not a skip (``make test`` builds the app; CI installs Chromium from Debian)."""
    problems = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        problems.append(
            f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (or set DOORSTEP_CHROMIUM)"
        )
    if not (WEB / "dist" / "index.html").is_file():
        problems.append("the web app is not built: `make web`")
    for package in ("playwright-core", "axe-core"):
        if not (WEB / "node_modules" / package / "package.json").is_file():
            problems.append(f"clients/web/node_modules lacks {package}: `make web`")
    if problems:
        raise AssertionError("browser tests cannot run:\n  " + "\n  ".join(problems))


@dataclass
class WebRig:
    server: LiveServer
    accounts: dict[str, Account]
    allocations: list[dict[str, Any]]
    seeding: subprocess.Popen[str]
    _seeded: dict[str, Any] | None = field(default=None)

    def cases_of(self, username: str) -> list[str]:
        return sorted({a["case_id"] for a in self.allocations if a["username"] == username})

    def supervisor_of(self, practitioner: str) -> str:
        teams = set(self.accounts[practitioner].teams)
        return min(
            a.username for a in self.accounts.values() if a.role == "supervisor" and teams & set(a.teams)
        )

    def admin(self) -> str:
        return min(a.username for a in self.accounts.values() if a.role == "admin")

    def practitioners(self, count: int) -> list[tuple[str, str]]:
        """``count`` practitioners of one team, each with a case of their own: (username, case)."""
        by_team: dict[str, list[str]] = {}
        for account in sorted(self.accounts.values(), key=lambda a: a.username):
            if account.role == "practitioner" and self.cases_of(account.username):
                for team in account.teams:
                    by_team.setdefault(team, []).append(account.username)
        team = max(sorted(by_team), key=lambda t: len(by_team[t]))
        chosen = by_team[team][:count]
        assert len(chosen) == count, f"need {count} practitioners with cases in one team, have {by_team}"
        picked, used = [], set()
        for username in chosen:
            case = next((c for c in self.cases_of(username) if c not in used), self.cases_of(username)[0])
            used.add(case)
            picked.append((username, case))
        return picked

    def practitioners_besides(self, taken: set[str], count: int) -> list[tuple[str, str]]:
        """``count`` more practitioners with a case of their own, none of them in ``taken``."""
        spare = [
            (a.username, self.cases_of(a.username)[0])
            for a in sorted(self.accounts.values(), key=lambda a: a.username)
            if a.role == "practitioner" and a.username not in taken and self.cases_of(a.username)
        ]
        assert len(spare) >= count, f"need {count} more practitioners with cases, have {spare}"
        return spare[:count]

    def pair_in_one_team(self, taken: set[str]) -> tuple[str, str, str]:
        """Two practitioners of one team, neither in ``taken``, the first with a case:
        (author, co-worker, the author's case)."""
        by_team: dict[str, list[str]] = {}
        for account in sorted(self.accounts.values(), key=lambda a: a.username):
            if account.role == "practitioner" and account.username not in taken:
                for team in account.teams:
                    by_team.setdefault(team, []).append(account.username)
        for team in sorted(by_team):
            with_case = [u for u in by_team[team] if self.cases_of(u)]
            if len(by_team[team]) >= 2 and with_case:
                author = with_case[0]
                co_worker = next(u for u in by_team[team] if u != author)
                return author, co_worker, self.cases_of(author)[0]
        raise AssertionError(f"no two spare practitioners in one team: {by_team}")

    def user_id(self, username: str) -> int:
        return int(next(a["user_id"] for a in self.allocations if a["username"] == username))

    def run(self, scenario: str, config: dict[str, Any], *, timeout: float = 240) -> dict[str, Any]:
        """Run ``scenarios/<scenario>.mjs`` against the server; its last line of output, parsed."""
        full = {
            "base": self.server.url,
            "password": DEMO_PASSWORD,
            "chromium": CHROMIUM,
            "screenshots": str(SCREENSHOTS),
            **config,
        }
        env = {**os.environ, "DOORSTEP_WEB_CONFIG": json.dumps(full)}
        started = time.monotonic()
        result = subprocess.run(
            [NODE, str(HERE / "scenarios" / f"{scenario}.mjs")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"scenario {scenario} failed ({result.returncode}) after {time.monotonic() - started:.0f}s:\n"
                f"{result.stderr[-5000:]}\n{result.stdout[-2000:]}\n--- server log ---\n"
                f"{self.server.log_text()[-3000:]}"
            )
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        return json.loads(lines[-1])

    def bench_seeded(self, *, timeout: float = 600) -> dict[str, Any]:
        """Wait for the background seeding of the benchmark practitioner; what it made."""
        if self._seeded is None:
            stdout, stderr = self.seeding.communicate(timeout=timeout)
            assert self.seeding.returncode == 0, f"seeding the benchmark caseload failed:\n{stderr[-3000:]}"
            self._seeded = json.loads([line for line in stdout.splitlines() if line.strip()][-1])
        return self._seeded


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebRig]:
    browser_or_fail()
    server = LiveServer(tmp_path_factory.mktemp("web"), families=12, name="web")
    seeding: subprocess.Popen[str] | None = None
    try:
        server.prepare()
        server.start()
        allocations = server.documents()["allocations"]
        # The benchmark's caseload is made while the other browser tests run (one transaction
        # per case, so the live server is never held up for long).
        seeding = subprocess.Popen(
            [str(PYTHON), str(MANAGE), "shell", "--no-imports", "-c", seed_code(BENCH_DOCUMENTS)],
            cwd=ROOT,
            env=server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        accounts = {a.username: a for a in server.demo_accounts()}
        yield WebRig(server=server, accounts=accounts, allocations=allocations, seeding=seeding)
    finally:
        if seeding is not None and seeding.poll() is None:
            seeding.kill()
            seeding.communicate()
        server.close()


@pytest.fixture(scope="session")
def cast(web: WebRig) -> dict[str, Any]:
    """Who plays which part: four practitioners of one team and more from other teams (one per
    scenario, so scenarios do not disturb each other), their supervisors and an admin."""
    (p1, c1), (p2, c2), (p3, c3), (p4, c4) = web.practitioners(4)
    (p5, c5), (p6, c6) = web.practitioners_besides({p1, p2, p3, p4}, 2)
    author, co_worker, shared = web.pair_in_one_team({p1, p2, p3, p4, p5, p6})
    ((p7, c7),) = web.practitioners_besides({p1, p2, p3, p4, p5, p6, author, co_worker}, 1)
    return {
        "revoke": {"practitioner": p7, "caseId": c7, "admin": web.admin()},
        "attention": {
            "author": author,
            "coWorker": co_worker,
            "coWorkerId": web.user_id(co_worker),
            "caseId": shared,
            "supervisor": web.supervisor_of(author),
        },
        "noLoss": {"practitioner": p5, "caseId": c5, "admin": web.admin()},
        "retire": {"practitioner": p6, "caseId": c6, "admin": web.admin()},
        "lifecycle": {"practitioner": p1, "caseId": c1, "supervisor": web.supervisor_of(p1)},
        "twoDevices": {"practitioner": p2, "caseId": c2, "supervisor": web.supervisor_of(p2)},
        "errors": {
            "practitioner": p3,
            "caseId": c3,
            "admin": web.admin(),
            "supervisor": web.supervisor_of(p3),
        },
        "a11y": {"practitioner": p4, "caseId": c4, "supervisor": web.supervisor_of(p4)},
    }
