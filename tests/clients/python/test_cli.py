"""The ``doorstep`` command, run as a subprocess as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from doorstep_client import Remote
from doorstep_client.cli import parse_assignments
from doorstep_client.errors import InvalidInput

from .doubles import FakeDoorstep
from .test_client import CASE, CASE_CONTENT, PASSPHRASE, VISIT, VISIT_CONTENT, Council


def doorstep(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DOORSTEP_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "doorstep_client.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 1


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = doorstep(tmp_path, "--help")
    assert result.returncode == 0
    for command in (
        "login",
        "enrol",
        "sync",
        "cases",
        "show",
        "edit",
        "new-visit",
        "discard",
        "status",
        "wipe",
    ):
        assert command in result.stdout
    assert "exit codes" in result.stdout


def test_an_unreachable_server_is_one_line_and_exit_4(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = doorstep(
        tmp_path,
        "--server",
        f"http://127.0.0.1:{port}",
        "login",
        "-u",
        "amy",
        DOORSTEP_PASSWORD="pw",
        DOORSTEP_RETRIES="1",
    )
    assert result.returncode == 4
    assert result.stderr.startswith(f"doorstep: cannot reach http://127.0.0.1:{port}")
    _no_traceback(result)


def test_reading_before_enrolment_says_what_to_do(tmp_path: Path) -> None:
    result = doorstep(tmp_path, "show", VISIT, DOORSTEP_PASSPHRASE=PASSPHRASE)
    assert result.returncode == 1
    assert "not enrolled" in result.stderr and "doorstep enrol" in result.stderr
    _no_traceback(result)


def test_a_session_from_login_to_wipe(tmp_path: Path, fake_doorstep: FakeDoorstep, couch: Remote) -> None:
    home = tmp_path / "home"
    secrets = {"DOORSTEP_PASSWORD": "correct horse", "DOORSTEP_PASSPHRASE": PASSPHRASE}
    login = doorstep(home, "--server", fake_doorstep.url, "login", "-u", "amy", **secrets)
    assert login.returncode == 0, login.stderr
    assert doorstep(home, "enrol", "--name", "cli tablet", **secrets).returncode == 0
    council = Council(couch, fake_doorstep)
    kid = council.new_key(CASE, 1)
    council.put(CASE, "case", CASE, CASE_CONTENT, kid)
    council.put(VISIT, "visit", CASE, VISIT_CONTENT, kid)

    sync = doorstep(home, "sync", **secrets)
    assert sync.returncode == 0 and "3 received" in sync.stdout
    cases = doorstep(home, "cases", **secrets)
    assert "CP-2026-00042" in cases.stdout and "Featherstonehaugh" in cases.stdout

    wrong = doorstep(home, "show", VISIT, DOORSTEP_PASSPHRASE="not it at all")
    assert wrong.returncode == 3 and wrong.stderr.strip() == "doorstep: wrong passphrase"

    created = doorstep(
        home, "new-visit", CASE, "--type", "statutory", "--set", "duration_minutes=40", **secrets
    )
    assert created.returncode == 2 and "duration_minutes" in created.stderr  # not a visit field
    created = doorstep(home, "new-visit", CASE, "--set", "observations=All well.", **secrets)
    assert created.returncode == 0, created.stderr
    edited = doorstep(home, "edit", VISIT, "--set", "risk_level=medium", **secrets)
    assert edited.returncode == 0, edited.stderr
    status = doorstep(home, "status")
    assert "not sent:   2 edited" in status.stdout

    assert doorstep(home, "sync", "--no-progress", **secrets).returncode == 0
    assert council.open(VISIT)[1]["risk_level"] == "medium"
    assert "not sent:   0 edited" in doorstep(home, "status").stdout

    fake_doorstep.revoked = True
    revoked = doorstep(home, "sync", **secrets)
    assert revoked.returncode == 5 and "revoked" in revoked.stderr
    _no_traceback(revoked)
    assert list(home.iterdir()) == []


def test_assignments_parse_json_values_or_text() -> None:
    assert parse_assignments(["a=45", "b=true", "c=null", "d=hello there", 'e="45"', "f.g=[1]"]) == {
        "a": 45,
        "b": True,
        "c": None,
        "d": "hello there",
        "e": "45",
        "f.g": [1],
    }
    with pytest.raises(InvalidInput):
        parse_assignments(["no-equals-sign"])
