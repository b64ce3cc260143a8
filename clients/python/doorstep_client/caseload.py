"""Doorstep documents on the device: case keys, sealing and opening bodies, purge on pull."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync import (
    DecryptionError,
    DocSchema,
    InvalidDocument,
    SyncError,
    decrypt_body,
    encrypt_body,
    parse_kid,
    unwrap_key_for_device,
)

from .errors import InvalidInput, KeyUnavailable, MissingDocument
from .peer import ChangesBatch, DocFailure, Seq
from .replica import Replica

KEY_ENVELOPE = "key_envelope"
PURGE = "purge"
#: Name of the push filter (part of the push replication id).
PUSH_FILTER = "doorstep/own-documents"
_SERVER_MANAGED = ("keyenv:", "purge:", "_design/")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def pushable(doc_id: str) -> bool:
    """Whether a push offers this document: not the server's own (key envelopes, purge
    signals, design documents), which the server refuses to take back."""
    return not doc_id.startswith(_SERVER_MANAGED)


def new_ulid(now_ms: int | None = None) -> str:
    """A ULID: 48-bit millisecond time then 80 random bits, Crockford base32 (26 characters)."""
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    value = (stamp << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_doc_id(doc_type: str) -> str:
    """``<type>:<ULID>``, the id form the server accepts."""
    return f"{doc_type}:{new_ulid()}"


def envelope_case(doc: Mapping[str, Any]) -> str | None:
    """The case a key envelope document belongs to: its ``case_id``, else from ``keyenv:<kid>``."""
    case_id = doc.get("case_id")
    if isinstance(case_id, str):
        return case_id
    doc_id = str(doc.get("_id", ""))
    try:
        return parse_kid(doc_id.removeprefix("keyenv:"))[0]
    except SyncError:
        return None


class CaseKeys:
    """Case data keys unwrapped on demand from the key envelopes in the replica.

    Keys stay in memory only; ``forget`` drops them (after a purge, at the end of a session).
    """

    def __init__(self, replica: Replica, *, device_id: str, private_key: bytes) -> None:
        self._replica = replica
        self._device_id = device_id
        self._private_key = private_key
        self._keys: dict[str, bytes] = {}

    def _envelopes(self, case_id: str) -> list[dict[str, Any]]:
        found = []
        for doc in self._replica.docs(case_id=case_id, doc_type=KEY_ENVELOPE):
            envelope = doc.get("envelope")
            if isinstance(envelope, dict) and isinstance(envelope.get("kid"), str):
                found.append(envelope)
        return found

    def key(self, kid: str) -> bytes:
        """The data key ``kid``. Raises KeyUnavailable if this device holds no envelope that
        opens to it."""
        cached = self._keys.get(kid)
        if cached is not None:
            return cached
        try:
            case_id = parse_kid(kid)[0]
        except SyncError:
            raise KeyUnavailable("a document names a malformed key id") from None
        for envelope in self._envelopes(case_id):
            if envelope.get("kid") == kid:
                return self._unwrap(kid, envelope)
        raise KeyUnavailable(f"no key {kid} on this device (sync, or the case is no longer yours)")

    def current(self, case_id: str) -> tuple[str, bytes]:
        """The newest key version of ``case_id`` this device holds: new bodies use it."""
        versions = []
        for envelope in self._envelopes(case_id):
            try:
                kid_case, version = parse_kid(envelope["kid"])
            except SyncError:
                continue
            if kid_case == case_id:
                versions.append((version, envelope))
        if not versions:
            raise KeyUnavailable(f"{case_id} is not in this device's caseload (no case key): sync first")
        _version, envelope = max(versions, key=lambda item: item[0])
        kid = str(envelope["kid"])
        return kid, self._keys.get(kid) or self._unwrap(kid, envelope)

    def _unwrap(self, kid: str, envelope: Mapping[str, Any]) -> bytes:
        try:
            key = unwrap_key_for_device(
                envelope, device_private_key=self._private_key, device_id=self._device_id
            )
        except DecryptionError:
            raise KeyUnavailable(f"the key envelope for {kid} does not open on this device") from None
        self._keys[kid] = key
        return key

    def forget(self, case_id: str | None = None) -> None:
        """Drop cached keys (of one case, or all)."""
        for kid in list(self._keys):
            if case_id is None or kid.startswith(case_id + "#"):
                del self._keys[kid]


def open_content(doc: Mapping[str, Any], *, keys: CaseKeys, schema: DocSchema) -> dict[str, Any]:
    """A document's content: its clear ``meta`` joined with its decrypted secret fields.

    Raises KeyUnavailable if the key is missing or the body does not open (the message
    names the document, never its content).
    """
    enc = doc.get("enc")
    if not isinstance(enc, dict) or not isinstance(enc.get("kid"), str):
        raise KeyUnavailable(f"{doc.get('_id')} carries no encrypted body")
    key = keys.key(enc["kid"])
    try:
        secret = decrypt_body(
            enc, key=key, doc_id=str(doc["_id"]), doc_type=str(doc["type"]), case_id=str(doc["case_id"])
        )
        return schema.join(doc.get("meta") or {}, secret)
    except (DecryptionError, InvalidDocument):
        raise KeyUnavailable(f"{doc.get('_id')} does not decrypt on this device") from None


def seal_content(
    content: Mapping[str, Any], *, doc_id: str, case_id: str, keys: CaseKeys, schema: DocSchema
) -> dict[str, Any]:
    """The wire form of ``content`` (no ``_rev``): validated, split into clear ``meta`` and a
    body encrypted under the case's current key. Raises InvalidInput (naming the field, not
    the value) or KeyUnavailable."""
    try:
        schema.validate(content)
    except InvalidDocument as exc:
        where = f"{exc.field}: " if exc.field and exc.field not in exc.reason else ""
        raise InvalidInput(f"invalid {schema.doc_type}: {where}{exc.reason}") from None
    meta, secret = schema.split(content)
    kid, key = keys.current(case_id)
    try:
        enc = encrypt_body(secret, key=key, kid=kid, doc_id=doc_id, doc_type=schema.doc_type, case_id=case_id)
    except SyncError as exc:
        raise InvalidInput(f"cannot encrypt this {schema.doc_type}: {exc.reason}") from None
    return {
        "_id": doc_id,
        "type": schema.doc_type,
        "case_id": case_id,
        "schema": schema.version,
        "meta": meta,
        "enc": enc,
    }


@dataclass(frozen=True)
class PurgeReport:
    """A case removed from the device: why, how many documents went, and how many of them
    held edits the server never accepted (lost with the case, as the protocol requires)."""

    case_id: str
    reason: str
    documents: int
    unsynced: int


class CaseloadTarget:
    """The replica as the target of a pull from ``/sync/caseload``.

    Documents are stored in feed order, except that a ``purge:<case>`` document, or the
    deletion of the last key envelope of a case, purges that case from the replica at that
    point of the feed (a later re-grant then delivers the case again). Purge documents are
    never stored. Everything else is delegated to the replica, whose replication id is kept.
    """

    def __init__(
        self,
        replica: Replica,
        *,
        unsynced: Sequence[str] = (),
        on_purge: Callable[[PurgeReport], None] | None = None,
    ) -> None:
        self._replica = replica
        self._unsynced = set(unsynced)
        self._on_purge = on_purge
        self.purges: list[PurgeReport] = []

    @property
    def peer_id(self) -> str:
        return self._replica.peer_id

    def info(self) -> Mapping[str, Any]:
        return self._replica.info()

    def get_local(self, local_id: str) -> dict[str, Any] | None:
        return self._replica.get_local(local_id)

    def put_local(self, local_id: str, body: Mapping[str, Any]) -> None:
        self._replica.put_local(local_id, body)

    def changes_since(self, since: Seq, limit: int) -> ChangesBatch:
        return self._replica.changes_since(since, limit)

    def revs_diff(self, revs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        return self._replica.revs_diff(revs)

    def bulk_get(
        self, wanted: Sequence[tuple[str, Sequence[str]]]
    ) -> tuple[list[dict[str, Any]], list[DocFailure]]:
        return self._replica.bulk_get(wanted)

    def ensure_full_commit(self) -> None:
        self._replica.ensure_full_commit()

    def bulk_store_replicated(self, docs: Sequence[Mapping[str, Any]]) -> list[DocFailure]:
        """Store a batch in order; a purge document purges its case where it stands in the
        feed. A deleted key envelope is checked once the batch is stored: if no live envelope
        of its case is left, the case is purged (a rotation or a re-grant later in the same
        batch brings a live one, so it does not purge)."""
        failures: list[DocFailure] = []
        run: list[Mapping[str, Any]] = []
        withdrawn: list[str] = []
        for doc in docs:
            doc_id = str(doc.get("_id", ""))
            if doc_id.startswith("purge:") and doc.get("type") == PURGE:
                failures += self._replica.bulk_store_replicated(run)
                run = []
                case_id = doc.get("case_id")
                if isinstance(case_id, str) and not doc.get("_deleted"):
                    self._purge(case_id, "access ended")
                continue
            run.append(doc)
            case_id = envelope_case(doc) if doc_id.startswith("keyenv:") and doc.get("_deleted") else None
            if case_id is not None and case_id not in withdrawn:
                withdrawn.append(case_id)
        failures += self._replica.bulk_store_replicated(run)
        for case_id in withdrawn:
            if not any(self._replica.docs(case_id=case_id, doc_type=KEY_ENVELOPE)):
                self._purge(case_id, "key envelopes withdrawn")
        return failures

    def _purge(self, case_id: str, reason: str) -> None:
        unsynced = 0
        for doc_id in self._unsynced:
            info = self._replica.doc_info(doc_id)
            if info is not None and info.case_id == case_id:
                unsynced += 1
        removed = self._replica.purge_case(case_id)
        for index, earlier in enumerate(self.purges):
            if earlier.case_id == case_id:  # a purge document and envelope deletions: one report
                total = PurgeReport(
                    case_id, earlier.reason, earlier.documents + removed, earlier.unsynced + unsynced
                )
                self.purges[index] = total
                return
        report = PurgeReport(case_id, reason, removed, unsynced)
        self.purges.append(report)
        if self._on_purge is not None:
            self._on_purge(report)


def require_doc(replica: Replica, doc_id: str) -> dict[str, Any]:
    """The winning revision of ``doc_id`` with its ``_conflicts``; MissingDocument if none."""
    doc = replica.get(doc_id, conflicts=True)
    if not isinstance(doc.get("type"), str) or not isinstance(doc.get("case_id"), str):
        raise MissingDocument(f"{doc_id!r} is not a Doorstep case document")
    return doc
