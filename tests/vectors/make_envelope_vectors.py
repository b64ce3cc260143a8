"""Regenerate ``tests/vectors/envelope.json``: known-answer vectors for the envelope format.

Run from the repository root: ``python tests/vectors/make_envelope_vectors.py`` (``--check``
exits 1 if the file differs from what this script makes). Output is deterministic: every key,
IV, salt and ephemeral key is derived from a fixed label.

This script deliberately does not import ``sync``: it spells each format out again on the bare
``cryptography`` primitives, following docs/envelope.md, so that the vectors are a second
implementation that ``sync`` (tests/sync/test_envelope.py) and the tablet's WebCrypto code
must both agree with.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

PATH = Path(__file__).with_name("envelope.json")

DESCRIPTION = [
    "Known-answer vectors for Doorstep's envelope format (docs/envelope.md is the spec).",
    "Made by tests/vectors/make_envelope_vectors.py; do not edit by hand.",
    "Byte strings are standard base64 with padding. Text fields ('aad', 'info', 'plaintext') "
    "are the exact strings whose UTF-8 bytes are used.",
    "body: enc = {alg: 'A256GCM', kid, iv, ct}. plaintext = UTF-8 of JSON of 'secret' with keys "
    "sorted by Unicode code point, separators ',' and ':', no whitespace, non-ASCII unescaped. "
    "aad = 'doorstep.body.v1\\n' + doc_id + '\\n' + doc_type + '\\n' + case_id + '\\n' + kid. "
    "ct = AES-256-GCM(key, iv (12 bytes), plaintext, aad) with the 16-byte tag appended.",
    "device_keywrap: shared_secret = X25519(ephemeral_private_key, device_public_key); "
    "info = 'doorstep.keywrap.v1\\n' + device_id + '\\n' + case_id + '\\n' + kid; "
    "wrapping_key = HKDF-SHA256(ikm = shared_secret, salt = ephemeral public key (epk), info, "
    "32 bytes); envelope.ct = AES-256-GCM(wrapping_key, iv, data_key, aad = info) + tag.",
    "keyring (server only): wrapped = 'v1.' + kek_id + '.' + b64(iv) + '.' + b64(ct), ct = "
    "AES-256-GCM(kek, iv, data_key, gcm_aad) + tag, gcm_aad = UTF-8 of 'doorstep.kek.v1\\n' + "
    "kek_id + '\\n' followed by the caller's aad bytes. The first key of 'keys' is primary.",
    "keystore: passphrase bytes = UTF-8 of NFKC(passphrase); derived_key = scrypt(passphrase "
    "bytes, salt, n, r, p, 32 bytes); ct = AES-256-GCM(derived_key, iv, private_key, aad) + tag, "
    "aad = 'doorstep.keystore.v1\\n' + device_id. Vectors use n = 1024 to stay fast; the "
    "default is n = 32768, r = 8, p = 1.",
    "invalid: inputs that must be refused with the named error (every decrypt or unwrap "
    "failure is DecryptionError; a keystore that does not open is WrongPassphrase).",
]

CASE_A = "case:01JC5Z9W4ZQ2G8N1B5V7XK3M2D"
CASE_B = "case:01JC60B7TQH3Y4E2R8W5N6M1PA"


def fixed(label: str, size: int = 32) -> bytes:
    """Deterministic test bytes: SHA-256 of a label, cut to ``size``."""
    return hashlib.sha256(f"doorstep envelope vectors: {label}".encode()).digest()[:size]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def flip(text: str, index: int) -> str:
    """Base64 of the decoded bytes with one bit of byte ``index`` flipped."""
    raw = bytearray(base64.b64decode(text))
    raw[index] ^= 0x01
    return b64(bytes(raw))


# -- body encryption ----------------------------------------------------------------------

BODIES: list[dict[str, Any]] = [
    {
        "name": "visit, ASCII",
        "doc_id": "visit:01JD2T4K8M6N0P3R5S7V9X1Z3B",
        "doc_type": "visit",
        "case_id": CASE_A,
        "version": 1,
        "secret": {
            "summary": "Home visit. Child seen alone in her bedroom; room clean and warm.",
            "child_seen_alone": True,
            "seen": ["person:01JC5ZA0000000000000000001", "person:01JC5ZA0000000000000000002"],
            "duration_minutes": 45,
        },
    },
    {
        "name": "note, non-ASCII text, emoji and nested objects",
        "doc_id": "note:01JD2T9QH1C4D7F0G3J6K9M2N5",
        "doc_type": "note",
        "case_id": CASE_A,
        "version": 2,
        "secret": {
            "text": "Zoë's café visit — she said “I like it here” 😊",
            "child_voice": {
                "words": "Zoë drew her family 👨‍👩‍👧 and the dog 🐕",
                "language": "en",
                "observed": {"mood": "cheerful", "weight_kg": 18.5, "concerns": None},
            },
            "tags": ["école", "naïve", "Łódź"],
            "actions": [{"owner": "u:17", "due": "2026-12-01", "text": "Refer to CAMHS"}],
        },
    },
    {
        "name": "key order by code point, JSON escapes",
        "doc_id": "person:01JC60C2D3E4F5G6H7J8K9M0N1",
        "doc_type": "person",
        "case_id": CASE_B,
        "version": 1,
        "secret": {
            # Code point order: "10" < "9" < "B" < "b" < "é" < "Ω" < "\uff21" (full-width
            # A) < "😀" (U+1F600). UTF-16 order, JavaScript's default sort, puts "😀" first,
            # and JavaScript objects put integer-like keys ("9", "10") first in numeric order.
            "😀": "emoji key",
            "\uff21": "full-width A",
            "Ω": "omega",
            "é": "e acute",
            "b": "lower b",
            "B": "upper B",
            "9": 9,
            "10": [10, -1, 0, True, False, None],
            "escapes": 'quote " backslash \\ newline \n tab \t cr \r ctrl \u0001 \u001f del \u007f'
            " line-sep \u2028 slash /",
        },
    },
    {
        "name": "empty object",
        "doc_id": "visit:01JD2TB0000000000000000000",
        "doc_type": "visit",
        "case_id": CASE_B,
        "version": 3,
        "secret": {},
    },
]


def body_vector(spec: dict[str, Any]) -> dict[str, Any]:
    kid = f"{spec['case_id']}#{spec['version']}"
    key = fixed(f"data key {kid}")
    iv = fixed(f"body iv {spec['doc_id']}", 12)
    aad = "\n".join(("doorstep.body.v1", spec["doc_id"], spec["doc_type"], spec["case_id"], kid))
    plaintext = canonical_json(spec["secret"])
    ct = AESGCM(key).encrypt(iv, plaintext, aad.encode("utf-8"))
    return {
        "name": spec["name"],
        "key": b64(key),
        "kid": kid,
        "doc_id": spec["doc_id"],
        "doc_type": spec["doc_type"],
        "case_id": spec["case_id"],
        "iv": b64(iv),
        "secret": spec["secret"],
        "aad": aad,
        "plaintext": plaintext.decode("utf-8"),
        "enc": {"alg": "A256GCM", "kid": kid, "iv": b64(iv), "ct": b64(ct)},
    }


# -- device key wrapping ------------------------------------------------------------------


def device_keypair(device_id: str) -> tuple[bytes, bytes]:
    private = fixed(f"device private key {device_id}")
    public = X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
    return private, public


KEYWRAPS = [
    {"name": "tablet 1, case A key 1", "device_id": "dev:01JCZX0T1", "case_id": CASE_A, "v": 1},
    {"name": "tablet 2, case B key 3", "device_id": "dev:01JCZX0T2", "case_id": CASE_B, "v": 3},
]


def keywrap_vector(spec: dict[str, Any]) -> dict[str, Any]:
    device_id, case_id = spec["device_id"], spec["case_id"]
    kid = f"{case_id}#{spec['v']}"
    data_key = fixed(f"data key {kid}")
    device_private, device_public = device_keypair(device_id)
    ephemeral = X25519PrivateKey.from_private_bytes(fixed(f"ephemeral {device_id} {kid}"))
    epk = ephemeral.public_key().public_bytes_raw()
    iv = fixed(f"keywrap iv {device_id} {kid}", 12)
    shared_secret = ephemeral.exchange(X25519PublicKey.from_public_bytes(device_public))
    info = "\n".join(("doorstep.keywrap.v1", device_id, case_id, kid))
    wrapping_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=epk, info=info.encode("utf-8")).derive(
        shared_secret
    )
    ct = AESGCM(wrapping_key).encrypt(iv, data_key, info.encode("utf-8"))
    return {
        "name": spec["name"],
        "data_key": b64(data_key),
        "device_id": device_id,
        "device_private_key": b64(device_private),
        "device_public_key": b64(device_public),
        "case_id": case_id,
        "kid": kid,
        "ephemeral_private_key": b64(ephemeral.private_bytes_raw()),
        "iv": b64(iv),
        "shared_secret": b64(shared_secret),
        "info": info,
        "wrapping_key": b64(wrapping_key),
        "envelope": {
            "alg": "ECDH-ES+A256GCM",
            "kid": kid,
            "case_id": case_id,
            "device_id": device_id,
            "epk": b64(epk),
            "iv": b64(iv),
            "ct": b64(ct),
        },
    }


# -- server keyring -----------------------------------------------------------------------


def keyring_vector(name: str, kek_ids: list[str], kid: str) -> dict[str, Any]:
    keys = [{"id": kek_id, "key": b64(fixed(f"kek {kek_id}"))} for kek_id in kek_ids]
    primary = kek_ids[0]
    data_key = fixed(f"data key {kid}")
    aad = f"doorstep.casekey.v1\n{kid}".encode()
    gcm_aad = f"doorstep.kek.v1\n{primary}\n".encode() + aad
    iv = fixed(f"keyring iv {primary} {kid}", 12)
    ct = AESGCM(fixed(f"kek {primary}")).encrypt(iv, data_key, gcm_aad)
    return {
        "name": name,
        "keyring": {"keys": keys},
        "data_key": b64(data_key),
        "aad": b64(aad),
        "iv": b64(iv),
        "gcm_aad": b64(gcm_aad),
        "wrapped": f"v1.{primary}.{b64(iv)}.{b64(ct)}",
    }


# -- passphrase keystore ------------------------------------------------------------------

KEYSTORES = [
    {"name": "ASCII passphrase", "device_id": "dev:01JCZX0T1", "passphrase": "correct horse 7"},
    {
        # NFKC turns the decomposed e + U+0308 into "ë", and full-width letters into ASCII.
        "name": "non-ASCII passphrase, normalised with NFKC",
        "device_id": "dev:01JCZX0T2",
        "passphrase": "Zoe\u0308's \uff43\uff41\uff46é ☕ 2026",
    },
]


def keystore_vector(spec: dict[str, Any]) -> dict[str, Any]:
    device_id = spec["device_id"]
    n, r, p = 1024, 8, 1
    private_key, _ = device_keypair(device_id)
    secret = unicodedata.normalize("NFKC", spec["passphrase"]).encode("utf-8")
    salt = fixed(f"keystore salt {device_id}", 16)
    iv = fixed(f"keystore iv {device_id}", 12)
    derived = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)
    aad = f"doorstep.keystore.v1\n{device_id}"
    ct = AESGCM(derived).encrypt(iv, private_key, aad.encode("utf-8"))
    return {
        "name": spec["name"],
        "private_key": b64(private_key),
        "passphrase": spec["passphrase"],
        "passphrase_bytes": b64(secret),
        "device_id": device_id,
        "derived_key": b64(derived),
        "aad": aad,
        "keystore": {
            "alg": "scrypt+A256GCM",
            "n": n,
            "r": r,
            "p": p,
            "salt": b64(salt),
            "iv": b64(iv),
            "ct": b64(ct),
        },
    }


# -- inputs that must fail ----------------------------------------------------------------


def invalid_vectors(
    bodies: list[dict[str, Any]],
    keywraps: list[dict[str, Any]],
    keyrings: list[dict[str, Any]],
    keystores: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    body = bodies[0]
    base = {k: body[k] for k in ("key", "doc_id", "doc_type", "case_id")}
    enc = body["enc"]
    ct_len = len(base64.b64decode(enc["ct"]))

    def bad_body(name: str, enc_changes: dict[str, str], **changes: str) -> None:
        inputs = {**base, **changes, "enc": {**enc, **enc_changes}}
        out.append({"name": name, "kind": "body", "error": "DecryptionError", "inputs": inputs})

    bad_body("body: ciphertext bit flipped", {"ct": flip(enc["ct"], 0)})
    bad_body("body: tag bit flipped", {"ct": flip(enc["ct"], ct_len - 1)})
    bad_body("body: iv bit flipped", {"iv": flip(enc["iv"], 0)})
    bad_body("body: tag cut off", {"ct": b64(base64.b64decode(enc["ct"])[:-16])})
    bad_body("body: moved to another document id", {}, doc_id="visit:01JD2T4K8M6N0P3R5S7V9X1Z3C")
    bad_body("body: moved to another document type", {}, doc_type="note")
    bad_body("body: moved to another case", {}, case_id=CASE_B)
    bad_body("body: kid changed to another version", {"kid": f"{CASE_A}#2"})
    bad_body("body: kid of another case", {"kid": f"{CASE_B}#1"})
    bad_body("body: another key", {}, key=bodies[1]["key"])
    bad_body("body: unknown alg", {"alg": "A128GCM"})

    wrap = keywraps[0]
    envelope = wrap["envelope"]

    def bad_wrap(name: str, env_changes: dict[str, str], **changes: str) -> None:
        inputs = {
            "device_private_key": wrap["device_private_key"],
            "device_id": wrap["device_id"],
            **changes,
            "envelope": {**envelope, **env_changes},
        }
        out.append({"name": name, "kind": "device_keywrap", "error": "DecryptionError", "inputs": inputs})

    other = keywraps[1]
    bad_wrap("keywrap: another device's private key", {}, device_private_key=other["device_private_key"])
    bad_wrap(
        "keywrap: relabelled for another device",
        {"device_id": other["device_id"]},
        device_id=other["device_id"],
    )
    bad_wrap("keywrap: addressed to another device", {}, device_id=other["device_id"])
    bad_wrap("keywrap: kid changed", {"kid": f"{CASE_A}#2"})
    bad_wrap("keywrap: ciphertext bit flipped", {"ct": flip(envelope["ct"], 3)})
    bad_wrap("keywrap: ephemeral key bit flipped", {"epk": flip(envelope["epk"], 0)})

    ring = keyrings[1]
    prefix, kek_id, iv_text, ct_text = ring["wrapped"].split(".")

    def bad_ring(name: str, wrapped: str, aad: str | None = None) -> None:
        inputs = {"keyring": ring["keyring"], "wrapped": wrapped, "aad": aad or ring["aad"]}
        out.append({"name": name, "kind": "keyring", "error": "DecryptionError", "inputs": inputs})

    bad_ring("keyring: ciphertext bit flipped", ".".join((prefix, kek_id, iv_text, flip(ct_text, 0))))
    bad_ring("keyring: unknown kek id", ".".join((prefix, "k9", iv_text, ct_text)))
    bad_ring("keyring: relabelled with another kek id", ".".join((prefix, "k1", iv_text, ct_text)))
    bad_ring(
        "keyring: another aad",
        ring["wrapped"],
        b64(b"doorstep.casekey.v1\n" + CASE_B.encode() + b"#1"),
    )

    store = keystores[0]
    for name, changes in (
        ("keystore: wrong passphrase", {"passphrase": "correct horse 8"}),
        ("keystore: another device", {"device_id": keystores[1]["device_id"]}),
    ):
        inputs = {
            "keystore": copy.deepcopy(store["keystore"]),
            "passphrase": store["passphrase"],
            "device_id": store["device_id"],
            **changes,
        }
        out.append({"name": name, "kind": "keystore", "error": "WrongPassphrase", "inputs": inputs})
    return out


def build_vectors() -> dict[str, Any]:
    bodies = [body_vector(spec) for spec in BODIES]
    keywraps = [keywrap_vector(spec) for spec in KEYWRAPS]
    keyrings = [
        keyring_vector("one key", ["k1"], f"{CASE_A}#1"),
        keyring_vector("rotated: k2 primary, k1 kept", ["k2", "k1"], f"{CASE_A}#2"),
    ]
    keystores = [keystore_vector(spec) for spec in KEYSTORES]
    return {
        "description": DESCRIPTION,
        "body": bodies,
        "device_keywrap": keywraps,
        "keyring": keyrings,
        "keystore": keystores,
        "invalid": invalid_vectors(bodies, keywraps, keyrings, keystores),
    }


def render() -> str:
    return json.dumps(build_vectors(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if PATH.read_text(encoding="utf-8") != text:
            print(f"{PATH} is out of date; run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    PATH.write_text(text, encoding="utf-8")
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
