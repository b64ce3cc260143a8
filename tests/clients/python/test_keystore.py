"""The passphrase-locked device keystore file."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from doorstep_client.errors import NotConfigured, PassphraseError
from doorstep_client.keystore import Keystore

from sync import generate_device_keypair

FAST = 2**10  # scrypt cost for tests; the client uses 2**15


def test_lock_save_load_unlock(tmp_path: Path) -> None:
    private, public = generate_device_keypair()
    path = tmp_path / "keystore.json"
    Keystore.create(private, public, device_id="d:7", passphrase="correct horse 7", n=FAST).save(path)

    loaded = Keystore.load(path)

    assert loaded.unlock("correct horse 7") == private
    assert loaded.device_id == "d:7" and loaded.public_key == public
    assert os.stat(path).st_mode & 0o777 == 0o600
    text = path.read_text()
    assert base64.b64encode(private).decode() not in text
    assert json.loads(text)["locked"]["alg"] == "scrypt+A256GCM"


def test_the_passphrase_is_normalised(tmp_path: Path) -> None:
    private, public = generate_device_keypair()
    keystore = Keystore.create(private, public, device_id="d:7", passphrase="Zoe\u0308 sees all", n=FAST)
    assert keystore.unlock("Zo\u00eb sees all") == private


def test_a_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    private, public = generate_device_keypair()
    keystore = Keystore.create(private, public, device_id="d:7", passphrase="correct horse 7", n=FAST)
    with pytest.raises(PassphraseError) as caught:
        keystore.unlock("correct horse 8")
    assert str(caught.value) == "wrong passphrase"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert caught.value.exit_code == 3


def test_a_keystore_moved_to_another_device_id_does_not_open() -> None:
    private, public = generate_device_keypair()
    keystore = Keystore.create(private, public, device_id="d:7", passphrase="correct horse 7", n=FAST)
    moved = Keystore(device_id="d:8", public_key=public, locked=keystore.locked)
    with pytest.raises(PassphraseError):
        moved.unlock("correct horse 7")


def test_short_passphrases_and_damaged_files_are_refused(tmp_path: Path) -> None:
    private, public = generate_device_keypair()
    with pytest.raises(PassphraseError, match="at least 8"):
        Keystore.create(private, public, device_id="d:7", passphrase="short", n=FAST)
    with pytest.raises(NotConfigured, match="not enrolled"):
        Keystore.load(tmp_path / "missing.json")
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"version": 1}')
    with pytest.raises(Exception, match="damaged"):
        Keystore.load(damaged)
    keystore = Keystore.create(private, public, device_id="d:7", passphrase="correct horse 7", n=FAST)
    broken = Keystore(device_id="d:7", public_key=public, locked={**keystore.locked, "ct": "not base64!"})
    with pytest.raises(PassphraseError, match="damaged"):
        broken.unlock("correct horse 7")
