"""Keys at rest: the server's key-encryption keyring, and a device's passphrase-locked private key.

- ``Keyring`` wraps case data keys under key-encryption keys (KEKs), the first one primary,
  and rotates by composition as ``MultiFernet`` does: a keyring with a new primary still
  unwraps what older KEKs wrapped, and ``rewrap`` moves a wrapped key to the primary without
  touching any document. A wrapped key is the text ``v1.<kek_id>.<b64 iv>.<b64 ct>``: AES-256-GCM
  under that KEK with additional data ``"doorstep.kek.v1\\n" + kek_id + "\\n"`` followed by the
  caller's ``aad`` (which should name what the key is for, such as its kid).
- A keystore locks a device's X25519 private key under a passphrase: scrypt (tunable ``n``,
  ``r``, ``p`` and a random 16-byte salt, all stored in the keystore) derives an AES-256-GCM
  key; the additional data is ``"doorstep.keystore.v1\\n" + device_id``. The passphrase is
  NFKC-normalised before UTF-8 encoding, so the same typed text opens it on any platform.

See docs/envelope.md for the formats and ``tests/vectors/envelope.json`` for vectors.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ._envelope import (
    IV_SIZE,
    KEY_SIZE,
    TAG_SIZE,
    binding,
    check_key,
    fresh_iv,
    from_b64,
    generate_data_key,
    open_sealed,
    seal,
    to_b64,
)
from ._errors import DecryptionError, InvalidDocument, LocalSyncError

_KEK_ID = re.compile(r"[A-Za-z0-9_-]{1,32}", re.ASCII)
_WRAP_VERSION = "v1"
_KEK_LABEL = "doorstep.kek.v1"
_KEYRING_SHAPE = 'a keyring is JSON {"keys": [{"id": "...", "key": "<base64>"}, ...]}, primary first'


class Keyring:
    """Key-encryption keys that wrap case data keys; the first is primary (wraps new keys).

    ``keks`` is a sequence of ``(kek_id, key)``: ids of 1-32 characters from ``A-Z a-z 0-9 _ -``,
    keys of 32 bytes. Raises ``LocalSyncError`` for an empty, malformed or duplicated entry.
    The ``repr`` names the ids only.
    """

    __slots__ = ("_keys",)

    def __init__(self, keks: Sequence[tuple[str, bytes]]) -> None:
        keys: dict[str, bytes] = {}
        for kek_id, key in keks:
            if not isinstance(kek_id, str) or not _KEK_ID.fullmatch(kek_id):
                raise LocalSyncError("key-encryption key ids are 1-32 of A-Z a-z 0-9 _ -")
            if kek_id in keys:
                raise LocalSyncError(f"duplicate key-encryption key id {kek_id!r}")
            keys[kek_id] = check_key(key, name=f"key-encryption key {kek_id!r}")
        if not keys:
            raise LocalSyncError("a keyring needs at least one key-encryption key")
        self._keys = keys

    def __repr__(self) -> str:
        return f"Keyring(ids={self.ids!r})"

    @property
    def primary_id(self) -> str:
        """The id of the KEK that wraps new keys."""
        return next(iter(self._keys))

    @property
    def ids(self) -> tuple[str, ...]:
        """Every KEK id, primary first."""
        return tuple(self._keys)

    @classmethod
    def generate(cls, *, kek_id: str) -> Keyring:
        """A keyring of one fresh random KEK (a development keyring, or a new deployment's)."""
        return cls([(kek_id, generate_data_key())])

    @classmethod
    def from_json(cls, text: str | bytes) -> Keyring:
        """Load the key file format ``{"keys": [{"id": ..., "key": <b64>}, ...]}``, primary first.

        Raises ``LocalSyncError`` (whose message never quotes a key) if it is malformed.
        """
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            document = None
        # Raised outside the ``except``: a JSONDecodeError carries the whole text, keys and all.
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise LocalSyncError(_KEYRING_SHAPE)
        keks: list[tuple[str, bytes]] = []
        for entry in entries:
            kek_id = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(kek_id, str) or not _KEK_ID.fullmatch(kek_id):
                raise LocalSyncError(_KEYRING_SHAPE + "; ids are 1-32 of A-Z a-z 0-9 _ -")
            key = from_b64(entry.get("key"), size=KEY_SIZE)
            if key is None:
                raise LocalSyncError(f"keyring key {kek_id!r} must be 32 bytes in standard base64")
            keks.append((kek_id, key))
        return cls(keks)

    def to_json(self) -> str:
        """The key file format (secret: store it readable by the server process only)."""
        keys = [{"id": kek_id, "key": to_b64(key)} for kek_id, key in self._keys.items()]
        return json.dumps({"keys": keys}, indent=2) + "\n"

    def with_new_primary(self, kek_id: str, *, key: bytes | None = None) -> Keyring:
        """A rotated keyring: a new primary KEK (random unless given) ahead of the old ones."""
        new_key = generate_data_key() if key is None else key
        return Keyring([(kek_id, new_key), *self._keys.items()])

    def without(self, kek_id: str) -> Keyring:
        """This keyring less a retired KEK, once ``needs_rewrap`` holds for nothing it wrapped.

        Raises ``LocalSyncError`` for the primary or an unknown id.
        """
        if kek_id not in self._keys or kek_id == self.primary_id:
            raise LocalSyncError("only a known KEK that is not the primary can be retired")
        return Keyring([(i, key) for i, key in self._keys.items() if i != kek_id])

    @staticmethod
    def _aad(kek_id: str, aad: bytes) -> bytes:
        return f"{_KEK_LABEL}\n{kek_id}\n".encode("ascii") + aad

    @staticmethod
    def _parse(wrapped: object) -> tuple[str, bytes, bytes] | None:
        parts = wrapped.split(".") if isinstance(wrapped, str) else []
        if len(parts) != 4 or parts[0] != _WRAP_VERSION or not _KEK_ID.fullmatch(parts[1]):
            return None
        iv = from_b64(parts[2], size=IV_SIZE)
        ct = from_b64(parts[3], size=KEY_SIZE + TAG_SIZE)
        return None if iv is None or ct is None else (parts[1], iv, ct)

    def wrap(self, data_key: bytes, *, aad: bytes, iv: bytes | None = None) -> str:
        """Wrap a 32-byte data key under the primary KEK: ``v1.<kek_id>.<b64 iv>.<b64 ct>``.

        ``aad`` must be given again to unwrap. ``iv`` is for known-answer tests only.
        """
        data_key = check_key(data_key, name="data_key")
        if not isinstance(aad, bytes):
            raise LocalSyncError("aad must be bytes")
        kek_id = self.primary_id
        iv = fresh_iv(iv)
        ct = seal(self._keys[kek_id], iv, data_key, self._aad(kek_id, aad))
        return f"{_WRAP_VERSION}.{kek_id}.{to_b64(iv)}.{to_b64(ct)}"

    def unwrap(self, wrapped: str, *, aad: bytes) -> bytes:
        """The data key in ``wrapped``, under whichever KEK of this keyring it names.

        Raises ``DecryptionError`` if it is malformed, names a KEK not in the keyring, or does
        not verify (tampered, or another ``aad``).
        """
        parsed = self._parse(wrapped)
        key = None
        if parsed is not None and parsed[0] in self._keys and isinstance(aad, bytes):
            kek_id, iv, ct = parsed
            key = open_sealed(self._keys[kek_id], iv, ct, self._aad(kek_id, aad))
        if key is None:
            raise DecryptionError()
        return key

    def rewrap(self, wrapped: str, *, aad: bytes, iv: bytes | None = None) -> str:
        """Unwrap, then wrap again under the primary KEK (keyring rotation; documents untouched)."""
        return self.wrap(self.unwrap(wrapped, aad=aad), aad=aad, iv=iv)

    def needs_rewrap(self, wrapped: str) -> bool:
        """Whether ``wrapped`` is under a non-primary KEK (``DecryptionError`` if malformed)."""
        parsed = self._parse(wrapped)
        if parsed is None:
            raise DecryptionError()
        return parsed[0] != self.primary_id


# -- a device's private key under a passphrase --------------------------------------------

#: ``alg`` of a passphrase keystore.
KEYSTORE_ALG = "scrypt+A256GCM"
#: Default scrypt cost: 32 MiB and a fraction of a second on a tablet.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_SIZE = 16
_KEYSTORE_LABEL = "doorstep.keystore.v1"
#: Bounds on stored scrypt parameters, so an altered keystore cannot exhaust the device.
_MAX_SCRYPT_MEMORY = 256 * 2**20


class WrongPassphrase(DecryptionError):
    """The passphrase does not open this keystore (or the keystore was altered)."""

    def __init__(self, reason: str = "wrong passphrase") -> None:
        super().__init__(reason)


def _scrypt_params(n: object, r: object, p: object) -> tuple[int, int, int] | None:
    """``(n, r, p)`` when within bounds, else ``None``."""
    if not (isinstance(n, int) and isinstance(r, int) and isinstance(p, int)):
        return None
    if any(isinstance(v, bool) for v in (n, r, p)):
        return None
    if n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
        return None
    return (n, r, p) if 128 * n * r <= _MAX_SCRYPT_MEMORY else None


def _passphrase_bytes(passphrase: object) -> bytes | None:
    if not isinstance(passphrase, str):
        return None
    try:
        return unicodedata.normalize("NFKC", passphrase).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None


def _derive(passphrase: bytes, *, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=KEY_SIZE, n=n, r=r, p=p).derive(passphrase)


def lock_private_key(
    private_key: bytes,
    *,
    passphrase: str,
    device_id: str,
    n: int = SCRYPT_N,
    r: int = SCRYPT_R,
    p: int = SCRYPT_P,
    salt: bytes | None = None,
    iv: bytes | None = None,
) -> dict[str, Any]:
    """Lock a device's raw 32-byte private key under a passphrase.

    Returns ``{"alg": "scrypt+A256GCM", "n", "r", "p", "salt", "iv", "ct"}``. ``salt`` and
    ``iv`` are for known-answer tests only. Raises ``LocalSyncError`` for an empty passphrase,
    scrypt parameters out of bounds (``n`` a power of two, ``128 * n * r`` at most 256 MiB,
    ``r`` 1-32, ``p`` 1-16) or wrong sizes, ``InvalidDocument`` for an unfit ``device_id``.
    """
    private_key = check_key(private_key, name="private_key")
    secret = _passphrase_bytes(passphrase)
    if not secret:
        raise LocalSyncError("the passphrase must be non-empty, valid Unicode text")
    if _scrypt_params(n, r, p) is None:
        raise LocalSyncError("scrypt parameters out of bounds")
    if salt is None:
        salt = os.urandom(SALT_SIZE)
    elif not isinstance(salt, bytes) or len(salt) != SALT_SIZE:
        raise LocalSyncError(f"salt must be {SALT_SIZE} bytes")
    iv = fresh_iv(iv)
    aad = binding(_KEYSTORE_LABEL, device_id)
    if aad is None:
        raise InvalidDocument("device_id must be non-empty text without line breaks", field="device_id")
    wrapping_key = _derive(secret, salt=salt, n=n, r=r, p=p)
    return {
        "alg": KEYSTORE_ALG,
        "n": n,
        "r": r,
        "p": p,
        "salt": to_b64(salt),
        "iv": to_b64(iv),
        "ct": to_b64(seal(wrapping_key, iv, private_key, aad)),
    }


def unlock_private_key(keystore: Mapping[str, Any], *, passphrase: str, device_id: str) -> bytes:
    """The raw private key locked in ``keystore`` for ``device_id``.

    Raises ``WrongPassphrase`` (a ``DecryptionError``) when the passphrase does not open it
    (GCM cannot tell that from an altered ``ct`` or another ``device_id``), and plain
    ``DecryptionError`` for a malformed keystore.
    """
    fields: Mapping[str, Any] = keystore if isinstance(keystore, Mapping) else {}
    params = _scrypt_params(fields.get("n"), fields.get("r"), fields.get("p"))
    salt = from_b64(fields.get("salt"), size=SALT_SIZE)
    iv = from_b64(fields.get("iv"), size=IV_SIZE)
    ct = from_b64(fields.get("ct"), size=KEY_SIZE + TAG_SIZE)
    aad = binding(_KEYSTORE_LABEL, device_id)
    if (
        fields.get("alg") != KEYSTORE_ALG
        or params is None
        or salt is None
        or iv is None
        or ct is None
        or aad is None
    ):
        raise DecryptionError()
    secret = _passphrase_bytes(passphrase)
    private_key = None
    if secret:
        n, r, p = params
        wrapping_key = _derive(secret, salt=salt, n=n, r=r, p=p)
        private_key = open_sealed(wrapping_key, iv, ct, aad)
    if private_key is None:
        raise WrongPassphrase()
    return private_key
