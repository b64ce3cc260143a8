"""Envelope crypto: AES-256-GCM document bodies, and case keys wrapped for one device (X25519).

The formats (docs/envelope.md is the full spec, with the WebCrypto recipe the tablet follows;
``tests/vectors/envelope.json`` holds known-answer vectors both implementations pass). Every
byte string in a JSON form is standard base64 with padding, and only its canonical spelling
is accepted.

- A case data key is 32 random bytes named by a ``kid`` of ``<case_id>#<N>`` (N = 1, 2, ...
  as the case key is rotated).
- A document body travels and rests as ``enc = {"alg": "A256GCM", "kid", "iv", "ct"}``: the
  secret fields as compact sorted-key JSON (UTF-8), sealed with AES-256-GCM under a 12-byte IV,
  ``ct`` ending in the 16-byte tag (as WebCrypto does). The additional data ``body_aad`` binds
  the ciphertext to the document's ``_id``, ``type``, ``case_id`` and the ``kid``, so a body
  cannot be moved to another document, case or key.
- A device envelope carries one case key to one enrolled device: X25519 between a fresh
  ephemeral key and the device's public key, HKDF-SHA256 (salt = the ephemeral public key,
  info = the binding string of device, case and kid) to a wrapping key, then AES-256-GCM with
  the same binding string as additional data.

Every failure to decrypt or unwrap raises the one opaque ``DecryptionError``. Nothing raised
here chains to another exception (a ``UnicodeDecodeError`` or ``JSONDecodeError`` would carry
the plaintext), so no message, ``repr`` or traceback can show plaintext or key material.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._errors import DecryptionError, InvalidDocument, LocalSyncError, RemoteSyncError

#: ``enc.alg`` of an encrypted body.
ALG = "A256GCM"
#: ``alg`` of a case key wrapped for one device.
DEVICE_KEY_ALG = "ECDH-ES+A256GCM"

KEY_SIZE = 32
IV_SIZE = 12
TAG_SIZE = 16

_BODY_LABEL = "doorstep.body.v1"
_KEYWRAP_LABEL = "doorstep.keywrap.v1"
#: A key version: canonical decimal from 1, at most nine digits.
_VERSION = re.compile(r"[1-9][0-9]{0,8}", re.ASCII)


# -- shared helpers (also used by ``_keystore``) ------------------------------------------


def to_b64(raw: bytes) -> str:
    """Standard base64 with padding, as text."""
    return base64.b64encode(raw).decode("ascii")


def from_b64(value: object, *, size: int | None = None, min_size: int = 0) -> bytes | None:
    """Decode canonical standard base64 of the expected length; ``None`` for anything else."""
    if not isinstance(value, str) or not value.isascii():
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    # Re-encoding rejects non-canonical spellings (stray bits in the last character).
    if to_b64(raw) != value or len(raw) < min_size or (size is not None and len(raw) != size):
        return None
    return raw


def check_key(key: object, *, name: str) -> bytes:
    """Our own key must be 32 bytes; a wrong one is a bug on our side, not a bad ciphertext."""
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise LocalSyncError(f"{name} must be {KEY_SIZE} bytes")
    return key


def fresh_iv(iv: bytes | None) -> bytes:
    """A random 12-byte IV, or the fixed one a known-answer test passes (never reuse one)."""
    if iv is None:
        return os.urandom(IV_SIZE)
    if not isinstance(iv, bytes) or len(iv) != IV_SIZE:
        raise LocalSyncError(f"iv must be {IV_SIZE} bytes")
    return iv


def seal(key: bytes, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return AESGCM(key).encrypt(iv, plaintext, aad)


def open_sealed(key: bytes, iv: bytes, ct: bytes, aad: bytes) -> bytes | None:
    """AES-256-GCM open; ``None`` when the tag does not verify."""
    try:
        return AESGCM(key).decrypt(iv, ct, aad)
    except InvalidTag:
        return None


def is_binding_field(value: object) -> TypeGuard[str]:
    """Fit to be one line of a binding string: non-empty text, no line break, valid Unicode.

    Refusing ``\\n`` keeps the newline-joined binding strings unambiguous.
    """
    if not isinstance(value, str) or not value or "\n" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def binding(label: str, *fields: object) -> bytes | None:
    """UTF-8 of ``label`` and ``fields`` joined by ``\\n``; ``None`` if a field is unfit."""
    if not all(is_binding_field(field) for field in fields):
        return None
    return "\n".join((label, *(str(field) for field in fields))).encode("utf-8")


def _require_binding(label: str, **fields: str) -> bytes:
    for name, value in fields.items():
        if not is_binding_field(value):
            raise InvalidDocument(f"{name} must be non-empty text without line breaks", field=name)
    return "\n".join((label, *fields.values())).encode("utf-8")


# -- key ids and data keys ----------------------------------------------------------------


def _split_kid(kid: object) -> tuple[str, int] | None:
    if not is_binding_field(kid):
        return None
    case_id, _, version = kid.rpartition("#")
    if not case_id or "#" in case_id or not _VERSION.fullmatch(version):
        return None
    return case_id, int(version)


def kid_for(case_id: str, version: int) -> str:
    """The key id of version ``version`` (from 1) of ``case_id``'s data key: ``case_id#version``.

    Raises ``InvalidDocument`` for a case id that is empty or holds ``#`` or a line break, and
    ``LocalSyncError`` for a version outside 1..999999999.
    """
    if not is_binding_field(case_id) or "#" in case_id:
        raise InvalidDocument("case_id must be non-empty text without '#' or line breaks", field="case_id")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 10**9:
        raise LocalSyncError("key version must be an integer from 1 to 999999999")
    return f"{case_id}#{version}"


def parse_kid(kid: str) -> tuple[str, int]:
    """``(case_id, version)`` of a key id; raises ``RemoteSyncError`` if it is malformed."""
    parts = _split_kid(kid)
    if parts is None:
        raise RemoteSyncError("malformed key id (expected '<case_id>#<version>')", field="kid")
    return parts


def generate_data_key() -> bytes:
    """A fresh random 32-byte AES-256-GCM case data key."""
    return AESGCM.generate_key(bit_length=256)


# -- document bodies ----------------------------------------------------------------------


def body_aad(*, doc_id: str, doc_type: str, case_id: str, kid: str) -> bytes:
    """The additional data binding a body to its document:
    UTF-8 of ``"doorstep.body.v1\\n" + doc_id + "\\n" + doc_type + "\\n" + case_id + "\\n" + kid``.

    Raises ``InvalidDocument`` for a field that is empty or holds a line break.
    """
    return _require_binding(_BODY_LABEL, doc_id=doc_id, doc_type=doc_type, case_id=case_id, kid=kid)


def _serialise(secret: Mapping[str, Any]) -> bytes | None:
    try:
        text = json.dumps(
            dict(secret),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
        return text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None


def encrypt_body(
    secret: Mapping[str, Any],
    *,
    key: bytes,
    kid: str,
    doc_id: str,
    doc_type: str,
    case_id: str,
    iv: bytes | None = None,
) -> dict[str, str]:
    """Encrypt a document's secret fields: ``{"alg": "A256GCM", "kid", "iv", "ct"}``.

    ``key`` is the data key named by ``kid``, which must be a key of ``case_id``. ``iv`` is for
    known-answer tests only; ``None`` draws a random one. Raises ``InvalidDocument`` when the
    identity fields are unfit or ``secret`` cannot be serialised as JSON (a set, a NaN, a lone
    surrogate ...), ``RemoteSyncError`` for a malformed kid, and ``LocalSyncError`` for a key
    or iv of the wrong size or a kid of another case.
    """
    key = check_key(key, name="key")
    iv = fresh_iv(iv)
    aad = body_aad(doc_id=doc_id, doc_type=doc_type, case_id=case_id, kid=kid)
    if parse_kid(kid)[0] != case_id:
        raise LocalSyncError("kid names a key of another case", field="kid")
    plaintext = _serialise(secret) if isinstance(secret, Mapping) else None
    if plaintext is None:
        # Raised outside the ``except`` above so that no exception carrying the text is chained.
        raise InvalidDocument("the secret fields cannot be serialised as JSON")
    return {
        "alg": ALG,
        "kid": kid,
        "iv": to_b64(iv),
        "ct": to_b64(seal(key, iv, plaintext, aad)),
    }


def _parse_object(plaintext: bytes) -> dict[str, Any] | None:
    def refuse(constant: str) -> Any:
        raise ValueError("non-finite number")

    try:
        value = json.loads(plaintext.decode("utf-8"), parse_constant=refuse)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _open_body(
    enc: object, key: bytes, doc_id: object, doc_type: object, case_id: object
) -> dict[str, Any] | None:
    if not isinstance(enc, Mapping) or enc.get("alg") != ALG:
        return None
    kid = enc.get("kid")
    parts = _split_kid(kid)
    iv = from_b64(enc.get("iv"), size=IV_SIZE)
    ct = from_b64(enc.get("ct"), min_size=TAG_SIZE)
    aad = binding(_BODY_LABEL, doc_id, doc_type, case_id, kid)
    if parts is None or parts[0] != case_id or iv is None or ct is None or aad is None:
        return None
    plaintext = open_sealed(key, iv, ct, aad)
    return None if plaintext is None else _parse_object(plaintext)


def decrypt_body(
    enc: Mapping[str, Any], *, key: bytes, doc_id: str, doc_type: str, case_id: str
) -> dict[str, Any]:
    """The secret fields of an encrypted body, after checking it belongs to this document.

    Raises ``DecryptionError`` for every failure: wrong ``alg``, a missing or malformed kid or
    one of another case, bad base64 or sizes, a tag that does not verify (wrong key, tampered
    ``ct``/``iv``, or a body moved from another document, type, case or kid) and plaintext that
    is not a JSON object. ``LocalSyncError`` if ``key`` is not 32 bytes.
    """
    key = check_key(key, name="key")
    secret = _open_body(enc, key, doc_id, doc_type, case_id)
    if secret is None:
        raise DecryptionError()
    return secret


# -- case keys wrapped for a device -------------------------------------------------------


def generate_device_keypair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair for a device, as raw 32-byte ``(private, public)``."""
    private = X25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


# Any scalar will do: clamping makes it a multiple of the cofactor, so a low-order point
# always yields the all-zero secret, which ``exchange`` refuses.
_PROBE = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _device_public(public_key: object) -> X25519PublicKey | None:
    if not isinstance(public_key, bytes) or len(public_key) != KEY_SIZE:
        return None
    peer = X25519PublicKey.from_public_bytes(public_key)
    try:
        _PROBE.exchange(peer)
    except ValueError:
        return None
    return peer


def check_device_public_key(public_key: bytes) -> None:
    """Refuse (``RemoteSyncError``) what is not a usable raw 32-byte X25519 public key.

    Call it at enrolment; a low-order point would make every key agreement all zeros.
    """
    if _device_public(public_key) is None:
        raise RemoteSyncError("not a usable X25519 public key", field="public_key")


def _wrapping_key(shared_secret: bytes, *, epk: bytes, info: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=epk, info=info)
    return hkdf.derive(shared_secret)


def wrap_key_for_device(
    data_key: bytes,
    *,
    device_public_key: bytes,
    device_id: str,
    case_id: str,
    kid: str,
    ephemeral_private_key: bytes | None = None,
    iv: bytes | None = None,
) -> dict[str, str]:
    """Wrap a case data key for one device (X25519 ECDH-ES + HKDF-SHA256 + AES-256-GCM).

    Returns ``{"alg": "ECDH-ES+A256GCM", "kid", "case_id", "device_id", "epk", "iv", "ct"}``.
    ``ephemeral_private_key`` and ``iv`` are for known-answer tests only. Raises
    ``InvalidDocument`` for unfit identity fields, ``RemoteSyncError`` for a malformed kid or an
    unusable device public key, and ``LocalSyncError`` for a key or iv of the wrong size or a
    kid of another case.
    """
    data_key = check_key(data_key, name="data_key")
    info = _require_binding(_KEYWRAP_LABEL, device_id=device_id, case_id=case_id, kid=kid)
    if parse_kid(kid)[0] != case_id:
        raise LocalSyncError("kid names a key of another case", field="kid")
    peer = _device_public(device_public_key)
    if peer is None:
        raise RemoteSyncError("not a usable X25519 public key", field="public_key")
    if ephemeral_private_key is None:
        ephemeral = X25519PrivateKey.generate()
    else:
        ephemeral = X25519PrivateKey.from_private_bytes(
            check_key(ephemeral_private_key, name="ephemeral_private_key")
        )
    iv = fresh_iv(iv)
    epk = ephemeral.public_key().public_bytes_raw()
    wrapping_key = _wrapping_key(ephemeral.exchange(peer), epk=epk, info=info)
    return {
        "alg": DEVICE_KEY_ALG,
        "kid": kid,
        "case_id": case_id,
        "device_id": device_id,
        "epk": to_b64(epk),
        "iv": to_b64(iv),
        "ct": to_b64(seal(wrapping_key, iv, data_key, info)),
    }


def _unwrap_for_device(envelope: object, private: X25519PrivateKey, device_id: object) -> bytes | None:
    if not isinstance(envelope, Mapping) or envelope.get("alg") != DEVICE_KEY_ALG:
        return None
    case_id, kid = envelope.get("case_id"), envelope.get("kid")
    parts = _split_kid(kid)
    info = binding(_KEYWRAP_LABEL, device_id, case_id, kid)
    epk = from_b64(envelope.get("epk"), size=KEY_SIZE)
    iv = from_b64(envelope.get("iv"), size=IV_SIZE)
    ct = from_b64(envelope.get("ct"), size=KEY_SIZE + TAG_SIZE)
    if (
        envelope.get("device_id") != device_id
        or parts is None
        or parts[0] != case_id
        or info is None
        or epk is None
        or iv is None
        or ct is None
    ):
        return None
    try:
        shared_secret = private.exchange(X25519PublicKey.from_public_bytes(epk))
    except ValueError:  # a low-order ephemeral key
        return None
    return open_sealed(_wrapping_key(shared_secret, epk=epk, info=info), iv, ct, info)


def unwrap_key_for_device(envelope: Mapping[str, Any], *, device_private_key: bytes, device_id: str) -> bytes:
    """The case data key in a device envelope addressed to ``device_id``.

    On success the envelope's ``case_id`` and ``kid`` are authenticated and name the key.
    Raises ``DecryptionError`` for every failure (another device's envelope, the wrong private
    key, tampering, missing or malformed fields); ``LocalSyncError`` if ``device_private_key``
    is not 32 bytes.
    """
    private = X25519PrivateKey.from_private_bytes(check_key(device_private_key, name="device_private_key"))
    data_key = _unwrap_for_device(envelope, private, device_id)
    if data_key is None:
        raise DecryptionError()
    return data_key
