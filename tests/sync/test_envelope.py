"""Envelope crypto: known-answer vectors, round trips, tampering, binding, rotation, keystore."""

from __future__ import annotations

import base64
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from sync._envelope import (
    ALG,
    DEVICE_KEY_ALG,
    body_aad,
    check_device_public_key,
    decrypt_body,
    encrypt_body,
    generate_data_key,
    generate_device_keypair,
    kid_for,
    parse_kid,
    unwrap_key_for_device,
    wrap_key_for_device,
)
from sync._errors import (
    DecryptionError,
    InvalidDocument,
    LocalSyncError,
    RemoteSyncError,
    SyncError,
)
from sync._keystore import (
    KEYSTORE_ALG,
    SCRYPT_N,
    Keyring,
    WrongPassphrase,
    lock_private_key,
    unlock_private_key,
)

VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors"
VECTORS: dict[str, Any] = json.loads((VECTORS_DIR / "envelope.json").read_text(encoding="utf-8"))

CASE = "case:01JC5Z9W4ZQ2G8N1B5V7XK3M2D"
OTHER_CASE = "case:01JC60B7TQH3Y4E2R8W5N6M1PA"
DOC = {"doc_id": "visit:01JD2T4K8M6N0P3R5S7V9X1Z3B", "doc_type": "visit", "case_id": CASE}
KID = f"{CASE}#1"
CANARY = "CANARY-Zoë-4f1c9e"
FAST = {"n": 2**10, "r": 8, "p": 1}  # scrypt cost for tests; the default is 2**15


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def flip_bit(text: str, index: int) -> str:
    raw = bytearray(unb64(text))
    raw[index] ^= 0x80
    return b64(bytes(raw))


def assert_opaque(exc: BaseException, *secrets: str) -> None:
    """No secret in the message or repr, and no chained exception that could carry one."""
    for secret in secrets:
        assert secret not in str(exc)
        assert secret not in repr(exc)
    assert exc.__cause__ is None
    assert exc.__context__ is None


@pytest.fixture
def key() -> bytes:
    return generate_data_key()


@pytest.fixture
def enc(key: bytes) -> dict[str, str]:
    return encrypt_body({"summary": CANARY, "seen": ["p:1"]}, key=key, kid=KID, **DOC)


# -- the vector file ----------------------------------------------------------------------


def test_vector_file_is_what_the_generator_makes() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_envelope_vectors", VECTORS_DIR / "make_envelope_vectors.py"
    )
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert json.loads(generator.render()) == VECTORS


@pytest.mark.parametrize("vector", VECTORS["body"], ids=lambda v: v["name"])
def test_body_vectors(vector: dict[str, Any]) -> None:
    key = unb64(vector["key"])
    doc = {k: vector[k] for k in ("doc_id", "doc_type", "case_id")}
    assert body_aad(kid=vector["kid"], **doc) == vector["aad"].encode("utf-8")
    enc = encrypt_body(vector["secret"], key=key, kid=vector["kid"], iv=unb64(vector["iv"]), **doc)
    assert enc == vector["enc"]
    assert decrypt_body(vector["enc"], key=key, **doc) == vector["secret"]
    # The plaintext really is the documented canonical JSON.
    aad = vector["aad"].encode("utf-8")
    plaintext = AESGCM(key).decrypt(unb64(vector["iv"]), unb64(vector["enc"]["ct"]), aad)
    assert plaintext == vector["plaintext"].encode("utf-8")


@pytest.mark.parametrize("vector", VECTORS["device_keywrap"], ids=lambda v: v["name"])
def test_device_keywrap_vectors(vector: dict[str, Any]) -> None:
    private = unb64(vector["device_private_key"])
    public = X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
    assert public == unb64(vector["device_public_key"])
    envelope = wrap_key_for_device(
        unb64(vector["data_key"]),
        device_public_key=public,
        device_id=vector["device_id"],
        case_id=vector["case_id"],
        kid=vector["kid"],
        ephemeral_private_key=unb64(vector["ephemeral_private_key"]),
        iv=unb64(vector["iv"]),
    )
    assert envelope == vector["envelope"]
    data_key = unwrap_key_for_device(
        vector["envelope"], device_private_key=private, device_id=vector["device_id"]
    )
    assert data_key == unb64(vector["data_key"])


@pytest.mark.parametrize("vector", VECTORS["keyring"], ids=lambda v: v["name"])
def test_keyring_vectors(vector: dict[str, Any]) -> None:
    keyring = Keyring.from_json(json.dumps(vector["keyring"]))
    aad = unb64(vector["aad"])
    wrapped = keyring.wrap(unb64(vector["data_key"]), aad=aad, iv=unb64(vector["iv"]))
    assert wrapped == vector["wrapped"]
    assert keyring.unwrap(vector["wrapped"], aad=aad) == unb64(vector["data_key"])
    assert json.loads(keyring.to_json()) == vector["keyring"]


@pytest.mark.parametrize("vector", VECTORS["keystore"], ids=lambda v: v["name"])
def test_keystore_vectors(vector: dict[str, Any]) -> None:
    stored = vector["keystore"]
    keystore = lock_private_key(
        unb64(vector["private_key"]),
        passphrase=vector["passphrase"],
        device_id=vector["device_id"],
        n=stored["n"],
        r=stored["r"],
        p=stored["p"],
        salt=unb64(stored["salt"]),
        iv=unb64(stored["iv"]),
    )
    assert keystore == stored
    unlocked = unlock_private_key(stored, passphrase=vector["passphrase"], device_id=vector["device_id"])
    assert unlocked == unb64(vector["private_key"])


def test_vectors_chain_from_passphrase_to_body() -> None:
    """The worked example of docs/envelope.md: keystore -> device key -> case key -> body."""
    store, wrapped, body = VECTORS["keystore"][0], VECTORS["device_keywrap"][0], VECTORS["body"][0]
    device_id = store["device_id"]
    private = unlock_private_key(store["keystore"], passphrase=store["passphrase"], device_id=device_id)
    data_key = unwrap_key_for_device(wrapped["envelope"], device_private_key=private, device_id=device_id)
    doc = {k: body[k] for k in ("doc_id", "doc_type", "case_id")}
    assert wrapped["envelope"]["kid"] == body["enc"]["kid"]
    assert decrypt_body(body["enc"], key=data_key, **doc) == body["secret"]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vectors_are_refused(vector: dict[str, Any]) -> None:
    inputs = vector["inputs"]
    error = {"DecryptionError": DecryptionError, "WrongPassphrase": WrongPassphrase}[vector["error"]]
    with pytest.raises(error) as caught:
        if vector["kind"] == "body":
            decrypt_body(
                inputs["enc"],
                key=unb64(inputs["key"]),
                doc_id=inputs["doc_id"],
                doc_type=inputs["doc_type"],
                case_id=inputs["case_id"],
            )
        elif vector["kind"] == "device_keywrap":
            unwrap_key_for_device(
                inputs["envelope"],
                device_private_key=unb64(inputs["device_private_key"]),
                device_id=inputs["device_id"],
            )
        elif vector["kind"] == "keyring":
            keyring = Keyring.from_json(json.dumps(inputs["keyring"]))
            keyring.unwrap(inputs["wrapped"], aad=unb64(inputs["aad"]))
        else:
            unlock_private_key(
                inputs["keystore"], passphrase=inputs["passphrase"], device_id=inputs["device_id"]
            )
    if vector["error"] == "DecryptionError":
        assert not isinstance(caught.value, WrongPassphrase)
    assert_opaque(caught.value)


# -- bodies -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.dictionaries(st.text(max_size=12), json_values, max_size=6)


@settings(deadline=None)
@given(secret=bodies)
def test_body_round_trip(secret: dict[str, Any]) -> None:
    key = generate_data_key()
    enc = encrypt_body(secret, key=key, kid=KID, **DOC)
    assert set(enc) == {"alg", "kid", "iv", "ct"} and enc["alg"] == ALG and enc["kid"] == KID
    assert decrypt_body(enc, key=key, **DOC) == secret


def test_each_encryption_draws_a_fresh_iv(key: bytes) -> None:
    first = encrypt_body({"a": 1}, key=key, kid=KID, **DOC)
    second = encrypt_body({"a": 1}, key=key, kid=KID, **DOC)
    assert first["iv"] != second["iv"] and first["ct"] != second["ct"]


@settings(deadline=None)
@given(data=st.data())
def test_any_flipped_bit_of_ct_or_iv_is_refused(data: st.DataObject) -> None:
    key = bytes(range(32))
    enc = encrypt_body({"summary": CANARY}, key=key, kid=KID, **DOC)
    field = data.draw(st.sampled_from(["ct", "iv"]))
    raw = bytearray(unb64(enc[field]))
    index = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[index // 8] ^= 1 << (index % 8)
    with pytest.raises(DecryptionError) as caught:
        decrypt_body({**enc, field: b64(bytes(raw))}, key=key, **DOC)
    assert_opaque(caught.value, CANARY)


@pytest.mark.parametrize(
    "change",
    [
        {"ct": "tag"},
        {"ct": "truncated"},
        {"ct": "empty"},
        {"iv": "short"},
        {"alg": "A128GCM"},
        {"alg": None},
        {"kid": None},
        {"kid": "not-a-kid"},
        {"iv": None},
        {"ct": None},
        {"ct": "not base64!"},
        {"ct": "urlsafe"},
        {"ct": "whitespace"},
    ],
    ids=repr,
)
def test_tampered_or_malformed_enc_is_refused(
    key: bytes, enc: dict[str, str], change: dict[str, str | None]
) -> None:
    field, how = next(iter(change.items()))
    tampered: dict[str, Any] = dict(enc)
    raw = unb64(enc["ct"])
    values = {
        "tag": b64(raw[:-1] + bytes([raw[-1] ^ 1])),
        "truncated": b64(raw[:-1]),
        "empty": "",
        "short": b64(unb64(enc["iv"])[:8]),
        "not base64!": "not base64!",
        "urlsafe": base64.urlsafe_b64encode(raw).decode().replace("+", "-") + "-_",
        "whitespace": enc["ct"][:8] + "\n" + enc["ct"][8:],
    }
    if how is None:
        del tampered[field]
    else:
        tampered[field] = values.get(how, how)
    with pytest.raises(DecryptionError) as caught:
        decrypt_body(tampered, key=key, **DOC)
    assert_opaque(caught.value, CANARY)


def test_non_canonical_base64_is_refused(key: bytes) -> None:
    enc = encrypt_body({"a": "x"}, key=key, kid=KID, **DOC)  # 25-byte ct: ends in "=="
    assert enc["ct"].endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = enc["ct"][-3]
    stray = alphabet[alphabet.index(last) | 1] if alphabet.index(last) % 2 == 0 else None
    assert stray is not None  # the canonical last character has its unused bits clear
    sloppy = enc["ct"][:-3] + stray + "=="
    assert base64.b64decode(sloppy) == base64.b64decode(enc["ct"])  # same bytes, other text
    with pytest.raises(DecryptionError):
        decrypt_body({**enc, "ct": sloppy}, key=key, **DOC)


def test_wrong_key_is_refused(enc: dict[str, str]) -> None:
    with pytest.raises(DecryptionError) as caught:
        decrypt_body(enc, key=generate_data_key(), **DOC)
    assert_opaque(caught.value, CANARY)


@pytest.mark.parametrize(
    "moved",
    [
        {"doc_id": "visit:01JD2T4K8M6N0P3R5S7V9X1Z3C"},
        {"doc_type": "note"},
        {"case_id": OTHER_CASE},
    ],
    ids=lambda moved: next(iter(moved)),
)
def test_body_moved_to_another_document_is_refused(
    key: bytes, enc: dict[str, str], moved: dict[str, str]
) -> None:
    with pytest.raises(DecryptionError) as caught:
        decrypt_body(enc, key=key, **{**DOC, **moved})
    assert_opaque(caught.value, CANARY)


@pytest.mark.parametrize("kid", [f"{CASE}#2", f"{OTHER_CASE}#1"])
def test_body_relabelled_with_another_kid_is_refused(key: bytes, enc: dict[str, str], kid: str) -> None:
    with pytest.raises(DecryptionError):
        decrypt_body({**enc, "kid": kid}, key=key, **DOC)


def test_body_moved_to_another_case_with_its_kid_is_refused(key: bytes, enc: dict[str, str]) -> None:
    # Even with a consistent kid and the same key bytes, the AAD names the original case.
    with pytest.raises(DecryptionError):
        decrypt_body({**enc, "kid": f"{OTHER_CASE}#1"}, key=key, **{**DOC, "case_id": OTHER_CASE})


@pytest.mark.parametrize(
    "plaintext",
    [
        f'["{CANARY}"]'.encode(),
        f'"{CANARY}"'.encode(),
        f'{{"a": "{CANARY}"'.encode(),
        f'{{"a": "{CANARY}", "b": NaN}}'.encode(),
        b'{"a": "' + CANARY.encode() + b'\xff"}',
        b"\xef\xbb\xbf{}",
    ],
    ids=["array", "string", "truncated", "nan", "bad-utf8", "bom"],
)
def test_authentic_plaintext_that_is_not_an_object_is_refused_without_leaking(
    key: bytes, plaintext: bytes
) -> None:
    iv = bytes(12)
    ct = AESGCM(key).encrypt(iv, plaintext, body_aad(kid=KID, **DOC))
    enc = {"alg": ALG, "kid": KID, "iv": b64(iv), "ct": b64(ct)}
    with pytest.raises(DecryptionError) as caught:
        decrypt_body(enc, key=key, **DOC)
    assert_opaque(caught.value, CANARY)


def test_decrypt_refuses_non_mapping_enc(key: bytes) -> None:
    for junk in (None, [], "enc", 7):
        with pytest.raises(DecryptionError):
            decrypt_body(junk, key=key, **DOC)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "secret",
    [{"a": {1, 2}}, {"a": math.nan}, {"a": math.inf}, {"a": f"{CANARY}\ud800"}, [1]],
    ids=["set", "nan", "inf", "lone-surrogate", "not-a-mapping"],
)
def test_unserialisable_secret_is_an_invalid_document(key: bytes, secret: Any) -> None:
    with pytest.raises(InvalidDocument) as caught:
        encrypt_body(secret, key=key, kid=KID, **DOC)
    assert_opaque(caught.value, CANARY)


@pytest.mark.parametrize("field", ["doc_id", "doc_type", "case_id"])
@pytest.mark.parametrize("value", ["", "a\nb", "\ud800"])
def test_identity_fields_must_be_single_lines(key: bytes, field: str, value: str) -> None:
    with pytest.raises(InvalidDocument) as caught:
        encrypt_body({}, key=key, kid=KID, **{**DOC, field: value})
    assert caught.value.field == field
    enc = encrypt_body({}, key=key, kid=KID, **DOC)
    with pytest.raises(DecryptionError):
        decrypt_body(enc, key=key, **{**DOC, field: value})


def test_encrypt_refuses_local_misuse(key: bytes) -> None:
    with pytest.raises(LocalSyncError):
        encrypt_body({}, key=key[:16], kid=KID, **DOC)
    with pytest.raises(LocalSyncError):
        encrypt_body({}, key=key, kid=KID, iv=bytes(16), **DOC)
    with pytest.raises(LocalSyncError):
        encrypt_body({}, key=key, kid=f"{OTHER_CASE}#1", **DOC)
    with pytest.raises(LocalSyncError):
        decrypt_body({}, key=key[:16], **DOC)


# -- key ids ------------------------------------------------------------------------------


def test_kid_round_trip() -> None:
    assert kid_for(CASE, 2) == f"{CASE}#2"
    assert parse_kid(kid_for(CASE, 17)) == (CASE, 17)


@pytest.mark.parametrize(
    "kid",
    ["", "case:1", "case:1#", "#1", "case:1#0", "case:1#01", "case:1#-1", "case:1#+1",
     "case:1# 1", "case:1#1 ", "case:1#\u0661", "a#b#1", "case:1#1\n", "case:1#1234567890"],
)  # fmt: skip
def test_malformed_kid_is_a_remote_error(kid: str) -> None:
    with pytest.raises(RemoteSyncError) as caught:
        parse_kid(kid)
    assert caught.value.field == "kid"


def test_kid_for_refuses_bad_parts() -> None:
    for case_id in ("", "a#b", "a\nb"):
        with pytest.raises(InvalidDocument):
            kid_for(case_id, 1)
    for version in (0, -1, 10**9, True):
        with pytest.raises(LocalSyncError):
            kid_for(CASE, version)


# -- case keys wrapped for a device -------------------------------------------------------


@pytest.fixture
def device() -> tuple[bytes, bytes]:
    return generate_device_keypair()


def wrap(data_key: bytes, public: bytes, device_id: str = "dev:1") -> dict[str, str]:
    return wrap_key_for_device(data_key, device_public_key=public, device_id=device_id, case_id=CASE, kid=KID)


def test_device_round_trip(key: bytes, device: tuple[bytes, bytes]) -> None:
    private, public = device
    envelope = wrap(key, public)
    assert envelope["alg"] == DEVICE_KEY_ALG
    assert (envelope["kid"], envelope["case_id"], envelope["device_id"]) == (KID, CASE, "dev:1")
    assert unwrap_key_for_device(envelope, device_private_key=private, device_id="dev:1") == key
    assert wrap(key, public)["epk"] != envelope["epk"]  # a fresh ephemeral key each time


def test_envelope_for_another_device_is_refused(key: bytes, device: tuple[bytes, bytes]) -> None:
    private, public = device
    other_private, _ = generate_device_keypair()
    envelope = wrap(key, public)
    attempts = [
        (envelope, other_private, "dev:1"),  # the wrong private key
        (envelope, private, "dev:2"),  # the right key, but addressed elsewhere
        ({**envelope, "device_id": "dev:2"}, private, "dev:2"),  # relabelled
    ]
    for candidate, private_key, device_id in attempts:
        with pytest.raises(DecryptionError) as caught:
            unwrap_key_for_device(candidate, device_private_key=private_key, device_id=device_id)
        assert_opaque(caught.value, b64(key), b64(private))


@pytest.mark.parametrize("field", ["alg", "kid", "case_id", "device_id", "epk", "iv", "ct"], ids=str)
@pytest.mark.parametrize("how", ["tamper", "drop"])
def test_tampered_device_envelope_is_refused(
    key: bytes, device: tuple[bytes, bytes], field: str, how: str
) -> None:
    private, public = device
    envelope: dict[str, Any] = wrap(key, public)
    if how == "drop":
        del envelope[field]
    elif field in ("epk", "iv", "ct"):
        envelope[field] = flip_bit(envelope[field], 0)
    elif field == "kid":
        envelope[field] = f"{CASE}#2"
    elif field == "case_id":
        envelope[field] = OTHER_CASE
    else:
        envelope[field] = envelope[field] + "x"
    with pytest.raises(DecryptionError) as caught:
        unwrap_key_for_device(envelope, device_private_key=private, device_id="dev:1")
    assert_opaque(caught.value, b64(key))


def test_low_order_points_are_refused(key: bytes, device: tuple[bytes, bytes]) -> None:
    private, public = device
    low_order = [bytes(32), b"\x01" + bytes(31)]
    for point in low_order:
        with pytest.raises(RemoteSyncError):
            check_device_public_key(point)
        with pytest.raises(RemoteSyncError):
            wrap(key, point)
        envelope = {**wrap(key, public), "epk": b64(point)}
        with pytest.raises(DecryptionError):
            unwrap_key_for_device(envelope, device_private_key=private, device_id="dev:1")
    with pytest.raises(RemoteSyncError):
        check_device_public_key(public[:31])
    check_device_public_key(public)


def test_device_wrap_refuses_misuse(key: bytes, device: tuple[bytes, bytes]) -> None:
    private, public = device
    with pytest.raises(InvalidDocument):
        wrap(key, public, device_id="dev\n1")
    with pytest.raises(LocalSyncError):
        wrap_key_for_device(key, device_public_key=public, device_id="d", case_id=CASE, kid=f"{OTHER_CASE}#1")
    with pytest.raises(LocalSyncError):
        wrap(key[:31], public)
    with pytest.raises(LocalSyncError):
        unwrap_key_for_device(wrap(key, public), device_private_key=private[:31], device_id="d")


# -- the server keyring -------------------------------------------------------------------

AAD = b"doorstep.casekey.v1\n" + KID.encode()


def test_keyring_rotation(key: bytes) -> None:
    old = Keyring.generate(kek_id="k1")
    wrapped = old.wrap(key, aad=AAD)
    assert wrapped.startswith("v1.k1.")
    assert not old.needs_rewrap(wrapped)

    rotated = old.with_new_primary("k2")
    assert rotated.ids == ("k2", "k1") and rotated.primary_id == "k2"
    assert rotated.unwrap(wrapped, aad=AAD) == key  # old wraps still open
    assert rotated.needs_rewrap(wrapped)

    rewrapped = rotated.rewrap(wrapped, aad=AAD)
    assert rewrapped.startswith("v1.k2.")
    assert not rotated.needs_rewrap(rewrapped)
    assert rotated.unwrap(rewrapped, aad=AAD) == key

    retired = rotated.without("k1")
    assert retired.unwrap(rewrapped, aad=AAD) == key
    with pytest.raises(DecryptionError):  # k1 is gone: an unknown kek id
        retired.unwrap(wrapped, aad=AAD)
    with pytest.raises(LocalSyncError):
        rotated.without("k2")  # the primary cannot be retired


def test_keyring_refuses_unknown_kek_tamper_and_other_aad(key: bytes) -> None:
    keyring = Keyring.generate(kek_id="k1")
    wrapped = keyring.wrap(key, aad=AAD)
    version, kek_id, iv, ct = wrapped.split(".")
    for bad in (
        f"{version}.k9.{iv}.{ct}",
        f"{version}.{kek_id}.{iv}.{flip_bit(ct, 5)}",
        f"{version}.{kek_id}.{flip_bit(iv, 0)}.{ct}",
        f"v2.{kek_id}.{iv}.{ct}",
        f"{version}.{kek_id}.{iv}",
        "",
    ):
        with pytest.raises(DecryptionError) as caught:
            keyring.unwrap(bad, aad=AAD)
        assert_opaque(caught.value, b64(key))
    with pytest.raises(DecryptionError):
        keyring.unwrap(wrapped, aad=b"doorstep.casekey.v1\n" + f"{CASE}#2".encode())
    with pytest.raises(DecryptionError):
        keyring.needs_rewrap("garbage")


def test_keyring_file_round_trip_and_secrecy(key: bytes) -> None:
    keyring = Keyring.generate(kek_id="dev1").with_new_primary("prod-2026", key=bytes(range(32)))
    text = keyring.to_json()
    loaded = Keyring.from_json(text)
    assert loaded.ids == ("prod-2026", "dev1")
    assert loaded.unwrap(keyring.wrap(key, aad=AAD), aad=AAD) == key
    assert b64(bytes(range(32))) not in repr(keyring)
    assert repr(keyring) == "Keyring(ids=('prod-2026', 'dev1'))"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '{"keys": []}',
        '{"keys": {}}',
        '{"keys": [{"id": "k1"}]}',
        '{"keys": [{"id": "k.1", "key": "SECRETSECRETSECRETSECRETSECRETSECRETSECRETA="}]}',
        '{"keys": [{"id": "k1", "key": "SECRETSECRETSECRET"}]}',
        '{"keys": [{"id": "k1", "key": "SECRETSECRETSECRETSECRETSECRETSECRETSECRETA="},'
        ' {"id": "k1", "key": "SECRETSECRETSECRETSECRETSECRETSECRETSECRETA="}]}',
        '{"keys": [{"id": "k1", "key": "SECRETSECRETSECRETSECRETSECRETSECRETSECRETA=",',
    ],
)
def test_malformed_key_file_is_a_local_error_that_quotes_no_key(text: str) -> None:
    with pytest.raises(LocalSyncError) as caught:
        Keyring.from_json(text)
    assert_opaque(caught.value, "SECRET")


def test_keyring_refuses_bad_keys() -> None:
    for keks in ([], [("k1", bytes(31))], [("k 1", bytes(32))], [("k1", bytes(32))] * 2):
        with pytest.raises(LocalSyncError):
            Keyring(keks)


# -- the passphrase keystore --------------------------------------------------------------


def test_keystore_round_trip_with_default_cost(device: tuple[bytes, bytes]) -> None:
    private, _ = device
    keystore = lock_private_key(private, passphrase="correct horse", device_id="dev:1")
    assert keystore["alg"] == KEYSTORE_ALG
    assert (keystore["n"], keystore["r"], keystore["p"]) == (SCRYPT_N, 8, 1)
    assert len(unb64(keystore["salt"])) == 16
    unlocked = unlock_private_key(keystore, passphrase="correct horse", device_id="dev:1")
    assert unlocked == private


def test_wrong_passphrase(device: tuple[bytes, bytes]) -> None:
    private, _ = device
    keystore = lock_private_key(private, passphrase="correct horse", device_id="dev:1", **FAST)
    for passphrase in ("correct horse ", "Correct horse", "", "\ud800"):
        with pytest.raises(WrongPassphrase) as caught:
            unlock_private_key(keystore, passphrase=passphrase, device_id="dev:1")
        assert str(caught.value) == "wrong passphrase"
        assert isinstance(caught.value, DecryptionError)
        assert_opaque(caught.value, b64(private), "correct horse", keystore["ct"])
    with pytest.raises(WrongPassphrase):  # the keystore of another device
        unlock_private_key(keystore, passphrase="correct horse", device_id="dev:2")


def test_passphrase_is_nfkc_normalised(device: tuple[bytes, bytes]) -> None:
    private, _ = device
    keystore = lock_private_key(private, passphrase="Zo\u00eb caf\u00e9", device_id="d", **FAST)
    decomposed = "Zoe\u0308 cafe\u0301"
    assert unlock_private_key(keystore, passphrase=decomposed, device_id="d") == private


@pytest.mark.parametrize(
    "change",
    [
        {"alg": "scrypt+A128GCM"},
        {"n": 1000},
        {"n": 2**30},
        {"n": "1024"},
        {"r": 0},
        {"p": 99},
        {"salt": "c2FsdA=="},
        {"iv": None},
        {"ct": "AAAA"},
    ],
    ids=repr,
)
def test_malformed_keystore_is_a_plain_decryption_error(
    device: tuple[bytes, bytes], change: dict[str, Any]
) -> None:
    private, _ = device
    keystore = lock_private_key(private, passphrase="pw", device_id="d", **FAST)
    with pytest.raises(DecryptionError) as caught:
        unlock_private_key({**keystore, **change}, passphrase="pw", device_id="d")
    assert not isinstance(caught.value, WrongPassphrase)


def test_lock_refuses_misuse(device: tuple[bytes, bytes]) -> None:
    private, _ = device
    for bad in (
        {"passphrase": ""},
        {"n": 1000},
        {"r": 0},
        {"salt": bytes(8)},
        {"iv": bytes(16)},
    ):
        with pytest.raises(LocalSyncError):
            lock_private_key(private, **{"passphrase": "pw", "device_id": "d", **FAST, **bad})
    with pytest.raises(LocalSyncError):
        lock_private_key(private[:16], passphrase="pw", device_id="d", **FAST)
    with pytest.raises(InvalidDocument):
        lock_private_key(private, passphrase="pw", device_id="d\n2", **FAST)


def test_every_error_is_a_sync_error() -> None:
    assert issubclass(WrongPassphrase, DecryptionError)
    assert issubclass(DecryptionError, SyncError)
