"""The device keystore file: the device's X25519 private key, locked under the user's passphrase."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync import DecryptionError, InvalidDocument, WrongPassphrase, lock_private_key, unlock_private_key

from .errors import ClientError, NotConfigured, PassphraseError
from .files import read_json, write_private_json

FILE_VERSION = 1
#: Shortest passphrase accepted at enrolment (NIST SP 800-63B's minimum for chosen secrets).
MIN_PASSPHRASE = 8


def check_new_passphrase(passphrase: str) -> None:
    """Raise PassphraseError if ``passphrase`` is too weak to lock a new keystore."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise PassphraseError(f"the passphrase must be at least {MIN_PASSPHRASE} characters")


@dataclass(frozen=True)
class Keystore:
    """``keystore.json``: ``{"version", "device_id", "public_key" (b64), "locked"}`` where
    ``locked`` is ``sync.lock_private_key``'s scrypt + AES-256-GCM form (see docs/envelope.md)."""

    device_id: str
    public_key: bytes
    locked: dict[str, Any]

    @classmethod
    def create(
        cls, private_key: bytes, public_key: bytes, *, device_id: str, passphrase: str, n: int = 2**15
    ) -> Keystore:
        """Lock ``private_key`` under ``passphrase``. Raises PassphraseError if it is unacceptable."""
        check_new_passphrase(passphrase)
        try:
            locked = lock_private_key(private_key, passphrase=passphrase, device_id=device_id, n=n)
        except InvalidDocument as exc:
            raise PassphraseError(f"the passphrase cannot be used: {exc.reason}") from None
        return cls(device_id=device_id, public_key=public_key, locked=dict(locked))

    def unlock(self, passphrase: str) -> bytes:
        """The raw private key. Raises PassphraseError ("wrong passphrase") or, for a keystore
        that is damaged, PassphraseError saying so."""
        try:
            return unlock_private_key(self.locked, passphrase=passphrase, device_id=self.device_id)
        except WrongPassphrase:
            raise PassphraseError("wrong passphrase") from None
        except DecryptionError:
            raise PassphraseError("the keystore is damaged and cannot be opened") from None

    def save(self, path: Path) -> None:
        data = {
            "version": FILE_VERSION,
            "device_id": self.device_id,
            "public_key": base64.b64encode(self.public_key).decode("ascii"),
            "locked": self.locked,
        }
        write_private_json(path, data)

    @classmethod
    def load(cls, path: Path) -> Keystore:
        """Read ``path``. Raises NotConfigured if there is none, ClientError if it is damaged."""
        data = read_json(path)
        if data is None:
            raise NotConfigured("this device is not enrolled (no keystore): run `doorstep enrol`")
        try:
            if data["version"] != FILE_VERSION:
                raise ClientError(f"{path} has an unsupported version")
            public = base64.b64decode(data["public_key"], validate=True)
            device_id, locked = data["device_id"], data["locked"]
        except (KeyError, TypeError, binascii.Error):
            raise ClientError(f"{path} is damaged") from None
        if not isinstance(device_id, str) or not isinstance(locked, dict):
            raise ClientError(f"{path} is damaged")
        return cls(device_id=device_id, public_key=public, locked=locked)
