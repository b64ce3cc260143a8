"""The Doorstep layer: enrolment, encrypted caseload sync, offline edits, refusals, purge, wipe.

The caseload database is a real pouchdb-server database behind ``FakeDoorstep`` (which also
answers login and enrolment). The test plays the server's part in the data: it encrypts case
documents and wraps case keys for the enrolled device with ``sync``, as the backend does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doorstep_client import DeviceLocked, DeviceRetired, DeviceWiped, DoorstepClient, PassphraseError, Remote
from doorstep_client.errors import InvalidInput, KeyUnavailable, MissingDocument, NotConfigured, Unauthorized

from sync import decrypt_body, encrypt_body, generate_data_key, kid_for, load_schemas, wrap_key_for_device

from .doubles import FakeDoorstep

PASSPHRASE = "correct horse battery"
CASE = "case:01JC5Z9W4ZQ2G8N1B5V7XK3M2D"
OTHER = "case:01JC5Z9W4ZQ2G8N1B5V7XK3M2E"
VISIT = "visit:01JD2T4K8M6N0P3R5S7V9X1Z3B"
SECRETS = (b"Featherstonehaugh", b"Quarry Lane", b"cupboards bare", b"Jayden")

CASE_CONTENT = {
    "author": "u:1",
    "created_at": "2026-01-05T09:00:00Z",
    "updated_at": "2026-01-05T09:00:00Z",
    "case_number": "CP-2026-00042",
    "case_type": "child_protection",
    "status": "open",
    "visit_frequency_days": 10,
    "opened_on": "2026-01-05",
    "family_name": "Featherstonehaugh",
    "address": {"line1": "12 Quarry Lane", "town": "Millbrook", "postcode": "MB1 2XY"},
}
VISIT_CONTENT = {
    "author": "u:17",
    "created_at": "2026-02-01T10:00:00Z",
    "updated_at": "2026-02-01T10:00:00Z",
    "updated_by": "u:17",
    "status": "submitted",
    "visit_date": "2026-02-01T09:30:00Z",
    "visit_type": "statutory",
    "observations": "Kitchen cupboards bare; Jayden quiet.",
}


class Council:
    """The server's side of the data, written straight into the caseload database."""

    def __init__(self, couch: Remote, double: FakeDoorstep) -> None:
        self.couch = couch
        self.double = double
        self.schemas = load_schemas()
        self.keys: dict[str, bytes] = {}

    def new_key(self, case_id: str, version: int, device_id: str = "d:1") -> str:
        kid = kid_for(case_id, version)
        self.keys[kid] = generate_data_key()
        envelope = wrap_key_for_device(
            self.keys[kid],
            device_public_key=self.double.devices[device_id],
            device_id=device_id,
            case_id=case_id,
            kid=kid,
        )
        doc = {"_id": f"keyenv:{kid}", "type": "key_envelope", "case_id": case_id, "kid": kid}
        self.couch.put({**doc, "device_id": device_id, "envelope": envelope})
        return kid

    def put(self, doc_id: str, doc_type: str, case_id: str, content: dict[str, Any], kid: str) -> str:
        meta, secret = self.schemas[doc_type].split(content)
        enc = encrypt_body(
            secret, key=self.keys[kid], kid=kid, doc_id=doc_id, doc_type=doc_type, case_id=case_id
        )
        return self.couch.put(
            {"_id": doc_id, "type": doc_type, "case_id": case_id, "schema": 1, "meta": meta, "enc": enc}
        )

    def open(self, doc_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the wire document on the server, its decrypted content)."""
        doc = self.couch.get(doc_id)
        key = self.keys[doc["enc"]["kid"]]
        secret = decrypt_body(
            doc["enc"], key=key, doc_id=doc_id, doc_type=doc["type"], case_id=doc["case_id"]
        )
        return doc, {**secret, **doc["meta"]}

    def delete(self, doc_id: str) -> None:
        self.couch.delete(doc_id, self.couch.get(doc_id)["_rev"])


@pytest.fixture
def client(fake_doorstep: FakeDoorstep, tmp_path: Path) -> Iterator[DoorstepClient]:
    with DoorstepClient(tmp_path / "home", fake_doorstep.url, progress=False, retries=0) as client:
        client.login("amy", "correct horse")
        client.enrol(PASSPHRASE, name="test tablet")
        yield client


@pytest.fixture
def council(client: DoorstepClient, couch: Remote, fake_doorstep: FakeDoorstep) -> Council:
    council = Council(couch, fake_doorstep)
    kid = council.new_key(CASE, 1)
    council.put(CASE, "case", CASE, CASE_CONTENT, kid)
    council.put(VISIT, "visit", CASE, VISIT_CONTENT, kid)
    return council


def _home_bytes(home: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(home.iterdir()) if path.is_file())


def test_login_and_enrol(client: DoorstepClient, fake_doorstep: FakeDoorstep, tmp_path: Path) -> None:
    assert client.config.device_id == "d:1" and client.config.user_ref == "u:17"
    assert client.config.device_token == "dst_device1" and client.config.user_token is None
    public = base64.b64decode(json.loads(client.home.keystore_path.read_text())["public_key"])
    assert fake_doorstep.devices["d:1"] == public
    assert b"correct horse" not in _home_bytes(client.home.root)  # neither password nor passphrase
    with pytest.raises(NotConfigured, match="already enrolled"):
        client.enrol(PASSPHRASE)
    stranger = DoorstepClient(tmp_path / "other", fake_doorstep.url, retries=0)
    with pytest.raises(Unauthorized, match="wrong username or password"):
        stranger.login("amy", "wrong")


def test_an_expired_device_token_is_renewed_by_logging_in(
    client: DoorstepClient, council: Council, fake_doorstep: FakeDoorstep
) -> None:
    fake_doorstep.tokens["d:1"] = "dst_someone_else"  # the device token expired
    with pytest.raises(Unauthorized, match="doorstep login"):
        client.sync()
    assert client.home.keystore_path.exists()  # an expired token is not a revocation

    client.login("amy", "correct horse")

    assert client.config.device_token == "dst_renewed1" and client.config.user_token is None
    assert client.sync().pull.docs_written == 3


def test_sync_and_read_the_caseload_offline(
    client: DoorstepClient, council: Council, fake_doorstep: FakeDoorstep
) -> None:
    summary = client.sync()

    assert summary.ok and summary.pull.docs_written == 3
    assert all(seen.authorization == "Token dst_device1" for seen in fake_doorstep.seen("/sync/caseload"))
    [case] = client.cases()
    assert case.content == CASE_CONTENT
    assert client.read(VISIT).content == VISIT_CONTENT
    assert not any(secret in _home_bytes(client.home.root) for secret in SECRETS)

    fake_doorstep.revoked = True  # offline from here: reading needs only the passphrase
    with DoorstepClient(client.home.root) as later:
        with pytest.raises(NotConfigured, match="locked"):
            later.read(VISIT)
        with pytest.raises(PassphraseError, match="wrong passphrase"):
            later.unlock("not my passphrase")
        later.unlock(PASSPHRASE)
        assert later.read(VISIT).content["observations"] == VISIT_CONTENT["observations"]


def test_offline_edits_reach_the_server_encrypted(client: DoorstepClient, council: Council) -> None:
    client.sync()
    created = client.create(
        "visit",
        CASE,
        {
            "status": "draft",
            "visit_type": "unannounced",
            "visit_date": "2026-03-01T15:00:00Z",
            "child_voice": "Jayden said hi",
        },
    )
    edited = client.edit(VISIT, {"observations": "Cupboards full now.", "risk_level": "low"})
    assert created.id.startswith("visit:") and len(created.id) == 32
    assert created.content["author"] == "u:17" and created.content["updated_by"] == "u:17"
    assert edited.rev.startswith("2-") and edited.content["risk_level"] == "low"
    assert sorted(client.status().pending) == sorted([created.id, VISIT])
    assert not any(secret in _home_bytes(client.home.root) for secret in (b"said hi", b"Cupboards full"))

    summary = client.sync()

    assert summary.ok and summary.push.docs_written == 2
    doc, content = council.open(created.id)
    assert doc["_rev"] == created.rev and content == created.content
    assert set(doc) == {"_id", "_rev", "type", "case_id", "schema", "meta", "enc"}
    assert "child_voice" not in doc["meta"] and doc["meta"]["visit_type"] == "unannounced"
    doc, content = council.open(VISIT)
    assert doc["_rev"] == edited.rev and content["observations"] == "Cupboards full now."
    assert client.status().pending == []


def test_new_bodies_use_the_newest_case_key(client: DoorstepClient, council: Council) -> None:
    client.sync()
    kid2 = council.new_key(CASE, 2)
    client.sync()

    client.edit(VISIT, {"analysis": "Improving."})
    client.sync()

    doc, content = council.open(VISIT)
    assert doc["enc"]["kid"] == kid2 and content["analysis"] == "Improving."
    assert client.read(CASE).content["family_name"] == "Featherstonehaugh"  # still under key 1


def test_refused_documents_stay_local_and_are_retried(
    client: DoorstepClient, council: Council, fake_doorstep: FakeDoorstep
) -> None:
    rule = "function (doc) { if (doc.meta && doc.meta.visit_type === 'unannounced') { throw({forbidden: 'unannounced visits need a manager'}); } }"
    council.couch.put({"_id": "_design/rules", "validate_doc_update": rule})
    client.sync()
    visit = client.create(
        "visit", CASE, {"status": "draft", "visit_type": "unannounced", "visit_date": "2026-03-01T15:00:00Z"}
    )

    summary = client.sync()

    assert not summary.ok
    assert [(f.id, f.rev, f.error, f.reason) for f in summary.refused] == [
        (visit.id, visit.rev, "forbidden", "unannounced visits need a manager")
    ]
    assert [(r.id, r.error) for r in client.status().refused] == [(visit.id, "forbidden")]
    assert client.read(visit.id).rev == visit.rev  # kept in the replica

    posts = len(fake_doorstep.seen("/_bulk_docs"))
    assert not client.sync().ok  # offered again, refused again
    assert len(fake_doorstep.seen("/_bulk_docs")) == posts + 1

    council.delete("_design/rules")
    assert client.sync().ok
    assert client.status().refused == []
    assert council.open(visit.id)[0]["_rev"] == visit.rev


def test_a_refused_edit_can_be_discarded_for_the_servers_version(
    client: DoorstepClient, council: Council
) -> None:
    rule = "function (doc) { if (doc.meta && doc.meta.visit_type === 'unannounced') { throw({forbidden: 'no'}); } }"
    council.couch.put({"_id": "_design/rules", "validate_doc_update": rule})
    client.sync()
    client.edit(VISIT, {"visit_type": "unannounced", "analysis": "Mine."})
    fresh = client.create(
        "visit", CASE, {"status": "draft", "visit_type": "unannounced", "visit_date": "2026-03-01T15:00:00Z"}
    )
    assert len(client.sync().refused) == 2
    with pytest.raises(InvalidInput, match="nothing to discard"):
        client.discard(CASE)

    assert client.discard(VISIT)[0].startswith("2-")
    assert client.discard(fresh.id) == [fresh.rev]

    assert client.read(VISIT).content == VISIT_CONTENT  # the server's version again
    with pytest.raises(MissingDocument):
        client.read(fresh.id)
    assert client.status().refused == [] and client.status().pending == []
    assert client.sync().ok


def test_a_purge_signal_removes_the_case_from_the_device(client: DoorstepClient, council: Council) -> None:
    client.sync()
    fragment = council.couch.get(VISIT)["enc"]["ct"][:40].encode()
    assert fragment in _home_bytes(client.home.root)

    # as the server does when access ends: the envelopes go, and a purge document comes
    council.delete(f"keyenv:{CASE}#1")
    council.couch.put({"_id": f"purge:{CASE}", "type": "purge", "case_id": CASE, "reason": "access_ended"})
    summary = client.sync()

    assert [(p.case_id, p.reason, p.documents, p.unsynced) for p in summary.purged] == [
        (CASE, "access ended", 3, 0)
    ]
    assert client.replica.all_docs(include_deleted=True) == []  # purge doc not kept either
    assert client.cases() == []
    assert fragment not in _home_bytes(client.home.root)
    with pytest.raises(KeyUnavailable):
        client.create(
            "visit", CASE, {"status": "draft", "visit_type": "planned", "visit_date": "2026-03-01T15:00:00Z"}
        )


def test_withdrawn_key_envelopes_purge_only_that_case(client: DoorstepClient, council: Council) -> None:
    kid = council.new_key(OTHER, 1)
    council.put(OTHER, "case", OTHER, {**CASE_CONTENT, "case_number": "CP-2026-00043"}, kid)
    client.sync()
    assert len(client.cases()) == 2

    council.delete(f"keyenv:{kid}")
    summary = client.sync()

    assert [(p.case_id, p.reason) for p in summary.purged] == [(OTHER, "key envelopes withdrawn")]
    assert [case.id for case in client.cases()] == [CASE]
    assert client.replica.case_ids() == [CASE]


def test_a_revoked_device_erases_itself(
    client: DoorstepClient, council: Council, fake_doorstep: FakeDoorstep
) -> None:
    client.sync()
    fake_doorstep.revoked = True

    with pytest.raises(DeviceWiped) as caught:
        client.sync()

    assert caught.value.exit_code == 5
    assert sorted(path.name for path in client.home.root.iterdir()) == []
    assert fake_doorstep.wipe_confirmed == 1  # the server hears that the wipe happened
    with pytest.raises(NotConfigured):
        client.sync()


def test_a_revoked_device_locks_and_keeps_its_data_until_readmitted(
    client: DoorstepClient, council: Council, fake_doorstep: FakeDoorstep
) -> None:
    client.sync()
    edited = client.edit(VISIT, {"observations": "Written before the revocation."})
    fake_doorstep.locked = True

    with pytest.raises(DeviceLocked) as caught:
        client.sync()

    assert caught.value.exit_code == 5 and "locked" in str(caught.value)
    assert fake_doorstep.wipe_confirmed == 0
    assert {"replica.sqlite3", "keystore.json", "config.json"} <= {p.name for p in client.home.root.iterdir()}
    # The data stays unopened, also after a restart with the right passphrase.
    with pytest.raises(DeviceLocked):
        client.read(VISIT)
    with DoorstepClient(client.home.root) as later, pytest.raises(DeviceLocked):
        later.unlock(PASSPHRASE)

    fake_doorstep.locked = False  # an admin re-admitted the device; its user logs in again
    client.login("amy", "correct horse")
    client.unlock(PASSPHRASE)
    assert client.read(VISIT).rev == edited.rev
    assert client.sync().push.docs_written == 1
    assert council.open(VISIT)[1]["observations"] == "Written before the revocation."


def test_a_retiring_device_sends_everything_then_erases_and_confirms(
    client: DoorstepClient, council: Council, fake_doorstep: FakeDoorstep
) -> None:
    client.sync()
    client.edit(VISIT, {"observations": "Last visit before I left."})
    note = client.create("note", CASE, {"category": "general", "text": "Handover written."})
    fake_doorstep.retiring = True
    pulled_before = len(fake_doorstep.seen("/_changes"))

    with pytest.raises(DeviceRetired) as caught:
        client.sync()

    assert "sent its 2 unsent record(s)" in str(caught.value)
    assert fake_doorstep.unsent_reported == [0, 2]  # each check-in reported what was unsent
    assert council.open(VISIT)[1]["observations"] == "Last visit before I left."
    assert council.open(note.id)[1]["text"] == "Handover written."
    assert sorted(path.name for path in client.home.root.iterdir()) == []
    assert fake_doorstep.wipe_confirmed == 1
    assert len(fake_doorstep.seen("/_changes")) == pulled_before  # a retiring device does not pull


def test_invalid_edits_are_refused_without_quoting_content(client: DoorstepClient, council: Council) -> None:
    client.sync()
    with pytest.raises(InvalidInput) as caught:
        client.edit(VISIT, {"observations": 4242424242})
    assert "observations" in str(caught.value) and "4242424242" not in str(caught.value)
    with pytest.raises(InvalidInput, match="set by the client"):
        client.edit(VISIT, {"author": "u:99"})
    with pytest.raises(InvalidInput, match="unknown field"):
        client.edit(VISIT, {"favourite_colour": "blue"})
    with pytest.raises(InvalidInput, match="cannot create 'case'"):
        client.create("case", CASE, CASE_CONTENT)
    assert client.status().pending == []
