"""The Python client (clients/python) and a real server through the device lifecycle: a
retired device sends what it holds and erases itself; a revoked one locks and keeps its data
until re-admitted; one ordered to wipe erases itself. The admin sees each outcome."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from doorstep_client import DeviceLocked, DeviceRetired, DeviceWiped, DoorstepClient

from tests.e2e.conftest import Snapshot
from tests.live import DEMO_PASSWORD, Account, LiveServer

pytestmark = pytest.mark.e2e

PASSPHRASE = "lifecycle tests passphrase 2026"


def _practitioner(seeded: Snapshot, accounts: dict[str, Account], index: int) -> tuple[str, str]:
    """A practitioner with a case (by name order, so two tests do not share one)."""
    names = sorted(
        {a["username"] for a in seeded.allocations if accounts[a["username"]].role == "practitioner"}
    )
    username = names[-1 - index]
    return username, sorted(seeded.cases_of(username))[0]


def _admin(server: LiveServer, accounts: dict[str, Account]) -> str:
    username = next(a.username for a in accounts.values() if a.role == "admin")
    return server.login(username)[0]


def _device(server: LiveServer, admin: str, device_id: str) -> dict[str, Any]:
    devices = server.api("GET", "/api/devices/", admin)
    return next(d for d in devices if d["id"] == device_id)


def _tablet(server: LiveServer, home: Path, username: str) -> DoorstepClient:
    client = DoorstepClient(home, server.url, retries=1, progress=False)
    client.login(username, DEMO_PASSWORD)
    client.enrol(PASSPHRASE, name=f"lifecycle {uuid.uuid4().hex[:6]}")
    client.sync()
    return client


def test_a_retired_device_sends_its_unsent_note_then_erases_itself(
    server: LiveServer, seeded: Snapshot, accounts: dict[str, Account], tmp_path: Path
) -> None:
    username, case_id = _practitioner(seeded, accounts, 0)
    admin = _admin(server, accounts)
    client = _tablet(server, tmp_path / "home", username)
    device_id = str(client.config.device_id)
    text = f"Handover before leaving ({uuid.uuid4().hex[:8]})."
    note = client.create("note", case_id, {"category": "general", "text": text})
    client.sync()  # reports the unsent note… and sends it, as any sync does
    second = client.create("note", case_id, {"category": "general", "text": text + " Second."})
    server.api("POST", f"/api/devices/{device_id.removeprefix('d:')}/retire/", admin)

    with pytest.raises(DeviceRetired):
        client.sync()

    token, _ = server.login(username)
    for note_id, expected in ((note.id, text), (second.id, text + " Second.")):
        assert server.api("GET", f"/api/notes/{note_id}/", token)["content"]["text"] == expected
    assert sorted(path.name for path in client.home.root.iterdir()) == []
    shown = _device(server, admin, device_id)
    assert shown["status"] == "wiped" and shown["wiped_at"] and shown["retire_ordered_at"]


def test_a_revoked_device_keeps_its_data_locked_until_readmitted(
    server: LiveServer, seeded: Snapshot, accounts: dict[str, Account], tmp_path: Path
) -> None:
    username, case_id = _practitioner(seeded, accounts, 1)
    admin = _admin(server, accounts)
    client = _tablet(server, tmp_path / "home", username)
    pk = str(client.config.device_id).removeprefix("d:")
    text = f"Written on a tablet about to be revoked ({uuid.uuid4().hex[:8]})."
    note = client.create("note", case_id, {"category": "general", "text": text})
    server.api("POST", f"/api/devices/{pk}/revoke/", admin)

    with pytest.raises(DeviceLocked):
        client.sync()
    with pytest.raises(DeviceLocked):
        client.read(note.id)
    assert client.home.keystore_path.exists() and client.home.replica_path.exists()
    assert _device(server, admin, f"d:{pk}")["status"] == "revoked"

    server.api("POST", f"/api/devices/{pk}/readmit/", admin)
    client.login(username, DEMO_PASSWORD)
    client.unlock(PASSPHRASE)
    assert client.read(note.id).content["text"] == text
    assert client.sync().push.docs_written == 1
    token, _ = server.login(username)
    assert server.api("GET", f"/api/notes/{note.id}/", token)["content"]["text"] == text


def test_a_device_ordered_to_wipe_erases_itself_and_confirms(
    server: LiveServer, seeded: Snapshot, accounts: dict[str, Account], tmp_path: Path
) -> None:
    username, _ = _practitioner(seeded, accounts, 2)
    admin = _admin(server, accounts)
    client = _tablet(server, tmp_path / "home", username)
    device_id = str(client.config.device_id)
    server.api("POST", f"/api/devices/{device_id.removeprefix('d:')}/wipe/", admin)

    with pytest.raises(DeviceWiped):
        client.sync()

    assert sorted(path.name for path in client.home.root.iterdir()) == []
    assert _device(server, admin, device_id)["status"] == "wiped"
