"""``DoorstepClient``: login, enrolment, sync, and reading and editing the caseload offline."""

from __future__ import annotations

import base64
import copy
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from sync import DocSchema, generate_device_keypair, load_schemas

from ._version import __version__
from .caseload import (
    PUSH_FILTER,
    CaseKeys,
    CaseloadTarget,
    PurgeReport,
    new_doc_id,
    open_content,
    pushable,
    require_doc,
    seal_content,
)
from .errors import (
    ClientError,
    DeviceLocked,
    DeviceRetired,
    DeviceRevoked,
    DeviceWiped,
    InvalidInput,
    KeyUnavailable,
    MissingDocument,
    NotConfigured,
    NotFound,
    Unauthorized,
)
from .files import Config, Home, shred
from .keystore import Keystore, check_new_passphrase
from .peer import DocFailure
from .remote import Remote, doc_path, split_credentials
from .replica import Refusal, Replica
from .replicator import ReplicationResult, Replicator, replication_id

#: Fields the client sets itself on every create/edit; ``--set`` may not change them.
MANAGED_FIELDS = frozenset({"author", "created_at", "updated_at", "updated_by"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Record:
    """A decrypted document. ``readable`` is False (and ``content`` empty) when this device
    holds no key for it."""

    id: str
    rev: str
    type: str
    case_id: str
    content: dict[str, Any]
    conflicts: tuple[str, ...] = ()
    readable: bool = True


@dataclass
class SyncSummary:
    """One ``sync``: the push and pull results, what the server refused, what was purged."""

    push: ReplicationResult
    pull: ReplicationResult
    refused: list[DocFailure] = field(default_factory=list)
    not_received: list[DocFailure] = field(default_factory=list)
    purged: list[PurgeReport] = field(default_factory=list)
    at: str = ""

    @property
    def ok(self) -> bool:
        return not self.refused and not self.not_received


@dataclass(frozen=True)
class Status:
    """What ``doorstep status`` shows."""

    home: Path
    server: str | None
    username: str | None
    device_id: str | None
    last_sync: dict[str, Any] | None
    documents: int
    cases: int
    pending: list[str]
    refused: list[Refusal]


def _set_path(content: dict[str, Any], path: str, value: Any) -> None:
    """Set ``a.b.c`` inside nested objects (creating them), or remove it when ``value`` is None
    and the schema will not take null (validation decides)."""
    names = path.split(".")
    if not all(names):
        raise InvalidInput(f"malformed field name {path!r}")
    holder = content
    for name in names[:-1]:
        inner = holder.setdefault(name, {})
        if not isinstance(inner, dict):
            raise InvalidInput(f"{path!r}: {name!r} is not an object")
        holder = inner
    holder[names[-1]] = value


class DoorstepClient:
    """A Doorstep installation in ``home`` talking to the server at ``server_url``.

    Files under ``home``: ``config.json`` (server, user, device id and token), ``keystore.json``
    (the device key, passphrase-locked) and ``replica.sqlite3`` (ciphertext only). Reading or
    writing case content needs ``unlock(passphrase)`` (``enrol`` unlocks too). ``sync_url``
    overrides ``{server_url}/sync/caseload``. Every method raises ``ClientError`` subclasses
    with one-line messages that never quote case content.
    """

    def __init__(
        self,
        home: str | Path | None = None,
        server_url: str | None = None,
        *,
        sync_url: str | None = None,
        progress: bool | None = None,
        batch_size: int = 100,
        transport: httpx.BaseTransport | None = None,
        retries: int = 4,
        timeout: float = 30.0,
    ) -> None:
        self.home = Home(home)
        self.config = Config.load(self.home.config_path)
        if server_url:
            self.config.server = server_url.rstrip("/")
        if sync_url:
            self.config.sync_url = sync_url.rstrip("/")
        self._progress = progress
        self._batch_size = batch_size
        self._transport = transport
        self._retries = retries
        self._timeout = timeout
        self._replica: Replica | None = None
        self._keys: CaseKeys | None = None
        self._schemas: dict[str, DocSchema] | None = None

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def server_url(self) -> str:
        if not self.config.server:
            raise NotConfigured("no server: pass --server URL (or set DOORSTEP_SERVER)")
        return self.config.server

    @property
    def sync_url(self) -> str:
        return self.config.sync_url or f"{self.server_url}/sync/caseload"

    @property
    def replica(self) -> Replica:
        if self._replica is None:
            self.home.ensure()
            self._replica = Replica(self.home.replica_path)
        return self._replica

    @property
    def schemas(self) -> dict[str, DocSchema]:
        if self._schemas is None:
            self._schemas = load_schemas()
        return self._schemas

    def _remote(self, url: str, token: str | None) -> Remote:
        return Remote(
            url, token=token, transport=self._transport, retries=self._retries, timeout=self._timeout
        )

    def _save(self) -> None:
        self.config.save(self.home.config_path)

    def close(self) -> None:
        if self._replica is not None:
            self._replica.close()
            self._replica = None
        self._keys = None

    def __enter__(self) -> DoorstepClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- account and device ------------------------------------------------------------------

    def login(self, username: str, password: str) -> dict[str, Any]:
        """``POST /api/auth/token/``; remembers the server, the user and the token. On an
        enrolled device it renews the device token instead (``POST /api/devices/{pk}/token/``;
        device tokens expire). Refuses a different user than the one this device is enrolled
        for (wipe first)."""
        enrolled_for = self.config.username if self.config.device_id else None
        if enrolled_for is not None and enrolled_for != username:
            raise NotConfigured(
                f"this device is enrolled for {enrolled_for}: run `doorstep wipe` before another user logs in"
            )
        with self._remote(self.server_url, None) as api:
            data = api.request_json(
                "POST", "api/auth/token/", body={"username": username, "password": password}, idempotent=False
            )
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            raise ClientError("the server's login answer has no token")
        found = data.get("user")
        user: dict[str, Any] = found if isinstance(found, dict) else {}
        user_id = user.get("id")
        self.config.username = str(user.get("username") or username)
        self.config.user_id = user_id if isinstance(user_id, int) else None
        self.config.user_ref = user.get("ref") or (f"u:{user_id}" if user_id is not None else None)
        self.config.user_token = data["token"]
        if self.config.device_id:
            self._renew_device_token()
        self._save()
        return dict(user)

    def _renew_device_token(self) -> None:
        pk = self.config.device_pk
        if pk is None:
            pk = int(str(self.config.device_id).removeprefix("d:"))
        with self._remote(self.server_url, self.config.user_token) as api:
            data = api.request_json("POST", f"api/devices/{pk}/token/", idempotent=False)
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            raise ClientError("the server's device token answer has no token")
        self.config.device_token = data["token"]
        self.config.device_token_expires_at = data.get("expires_at")
        self.config.user_token = None  # the device token replaces it
        self.config.locked = False  # a new device token: the server re-admitted this device

    def enrol(self, passphrase: str, *, name: str | None = None) -> str:
        """Enrol this installation as a device: make an X25519 key pair, ``POST /api/devices/``
        with the public key, and keep the private key locked under ``passphrase``. Returns the
        device id; the client is unlocked afterwards."""
        if self.config.device_id:
            raise NotConfigured(
                f"already enrolled as {self.config.device_id} (run `doorstep wipe` to start again)"
            )
        if not self.config.user_token:
            raise NotConfigured("not logged in: run `doorstep login` first")
        check_new_passphrase(passphrase)
        private_key, public_key = generate_device_keypair()
        body = {
            "name": (name or f"{platform.node() or 'python'} (doorstep-client)")[:100],
            "public_key": base64.b64encode(public_key).decode("ascii"),
            "app_version": __version__,
        }
        with self._remote(self.server_url, self.config.user_token) as api:
            data = api.request_json("POST", "api/devices/", body=body, idempotent=False)
        device = data.get("device") if isinstance(data, dict) else None
        token = data.get("token") if isinstance(data, dict) else None
        if (
            not isinstance(device, dict)
            or not isinstance(device.get("id"), str)
            or not isinstance(token, str)
        ):
            raise ClientError("the server's enrolment answer has no device id or token")
        device_id: str = device["id"]
        self.home.ensure()
        Keystore.create(private_key, public_key, device_id=device_id, passphrase=passphrase).save(
            self.home.keystore_path
        )
        pk = device.get("pk")
        self.config.device_id = device_id
        self.config.device_pk = pk if isinstance(pk, int) else None
        self.config.device_token = token
        self.config.device_token_expires_at = data.get("expires_at")
        self.config.device_name = str(device.get("name") or body["name"])
        self.config.user_token = None  # the device token replaces it
        self._save()
        self._keys = CaseKeys(self.replica, device_id=device_id, private_key=private_key)
        return device_id

    def unlock(self, passphrase: str) -> None:
        """Open the keystore. Raises PassphraseError ("wrong passphrase"), NotConfigured."""
        if self.config.locked:
            raise DeviceLocked()
        keystore = Keystore.load(self.home.keystore_path)
        private_key = keystore.unlock(passphrase)
        self._keys = CaseKeys(self.replica, device_id=keystore.device_id, private_key=private_key)

    @property
    def unlocked(self) -> bool:
        return self._keys is not None

    def _case_keys(self) -> CaseKeys:
        if self.config.locked:
            raise DeviceLocked()
        if self._keys is None:
            raise NotConfigured("the keystore is locked: unlock it with your passphrase first")
        return self._keys

    # -- sync --------------------------------------------------------------------------------

    def sync(self, *, progress: bool | None = None) -> SyncSummary:
        """Check in, push local edits, then pull the caseload (purging cases whose access ended).

        Documents the server refuses stay in the replica, are reported in the summary and in
        ``status()``, and are offered again on the next sync. The check-in tells the server how
        many records are unsent and learns what the organisation decided for this device:

        - retiring: push everything, then erase and confirm; raises DeviceRetired (if the
          server refused some records, nothing is erased and ClientError says so);
        - revoked: raises DeviceLocked; nothing is erased, and the data stays unopened until an
          admin re-admits the device and its user logs in again;
        - wipe ordered: raises DeviceWiped after erasing everything and confirming.

        Also raises ServerUnreachable, RemoteError.
        """
        if not self.config.device_token:
            raise NotConfigured("this device is not enrolled: run `doorstep login` then `doorstep enrol`")
        show = self._progress if progress is None else progress
        replica = self.replica
        remote = self._remote(self.sync_url, self.config.device_token)
        at = _now()
        try:
            instruction = self._checkin()
            replica.touch([refusal.id for refusal in replica.refusals()])
            pusher = Replicator(
                replica,
                remote,
                batch_size=self._batch_size,
                doc_filter=pushable,
                filter_name=PUSH_FILTER,
                progress=show,
                label="push",
            )
            try:
                push = pusher.run()
            finally:
                if pusher.result is not None:
                    replica.record_refusals(
                        pusher.result.write_failures, at=at, replace=pusher.result.completed
                    )
            if instruction == "send_then_erase":
                self._retire(push)
            target = CaseloadTarget(
                replica, unsynced=[r.id for r in replica.refusals()], on_purge=self._forget_case
            )
            pull = Replicator(remote, target, batch_size=self._batch_size, progress=show, label="pull").run()
        except DeviceLocked:
            self.config.locked = True
            self._keys = None
            self._save()
            raise
        except DeviceRevoked:
            token = self.config.device_token
            self.wipe()
            self._confirm_wipe(token)
            raise DeviceWiped() from None
        except Unauthorized as exc:
            reason = f"{exc.reason}; the device token was not accepted (expired?): run `doorstep login` to renew it"
            raise Unauthorized(exc.status, exc.error, reason) from None
        finally:
            remote.close()
        summary = SyncSummary(
            push=push,
            pull=pull,
            refused=list(push.write_failures),
            not_received=pull.failures,
            purged=list(target.purges),
            at=at,
        )
        self.config.last_sync = {
            "at": at,
            "pushed": push.docs_written,
            "pulled": pull.docs_written,
            "refused": len(summary.refused),
            "not_received": len(summary.not_received),
            "purged_cases": [report.case_id for report in summary.purged],
        }
        self._save()
        return summary

    def _unsent(self) -> int:
        """Records this device holds that the server does not have: edits not pushed yet, and
        revisions the server refused."""
        status = self.status()
        return len(set(status.pending) | {refusal.id for refusal in status.refused})

    def _checkin(self) -> str | None:
        """``POST /api/devices/me/checkin/``: report the unsent count, learn the instruction
        (``send_then_erase`` for a retiring device). A server without the endpoint (404)
        gives no instruction."""
        if not self.config.server:
            return None  # replicating with a bare CouchDB-protocol peer: no Doorstep API
        body = {"unsent": self._unsent(), "client_time": _now()}
        try:
            with self._remote(self.server_url, self.config.device_token) as api:
                data = api.request_json("POST", "api/devices/me/checkin/", body=body, idempotent=False)
        except NotFound:
            return None
        instruction = data.get("instruction") if isinstance(data, dict) else None
        return instruction if isinstance(instruction, str) else None

    def _retire(self, push: ReplicationResult) -> None:
        """After the push of a retiring device: erase and confirm, unless something is still
        unsent (refused by the server), which is never erased."""
        left = self._unsent()
        if left:
            raise ClientError(
                f"this device is being retired, but {left} record(s) were not accepted by the server: "
                "nothing was erased; see `doorstep status`, then `doorstep discard` or fix them and sync again"
            )
        token = self.config.device_token
        self.wipe()
        self._confirm_wipe(token)
        raise DeviceRetired(push.docs_written)

    def _forget_case(self, report: PurgeReport) -> None:
        if self._keys is not None:
            self._keys.forget(report.case_id)

    # -- reading -----------------------------------------------------------------------------

    def _record(self, doc: Mapping[str, Any]) -> Record:
        schema = self.schemas.get(str(doc["type"]))
        if schema is None:
            raise MissingDocument(f"{doc['_id']!r} has unknown type {doc['type']!r}")
        content = open_content(doc, keys=self._case_keys(), schema=schema)
        return Record(
            id=str(doc["_id"]),
            rev=str(doc["_rev"]),
            type=str(doc["type"]),
            case_id=str(doc["case_id"]),
            content=content,
            conflicts=tuple(doc.get("_conflicts", ())),
        )

    def read(self, doc_id: str) -> Record:
        """The decrypted winning revision of ``doc_id``. Raises MissingDocument, KeyUnavailable."""
        return self._record(require_doc(self.replica, doc_id))

    def records(self, *, case_id: str | None = None, doc_type: str | None = None) -> list[Record]:
        """Decrypted documents (winning revisions) of the local caseload, optionally filtered;
        those this device cannot open are listed with ``readable=False``."""
        self._case_keys()
        found = []
        for doc in self.replica.docs(case_id=case_id, doc_type=doc_type):
            if doc.get("type") not in self.schemas or not isinstance(doc.get("case_id"), str):
                continue
            try:
                found.append(self._record(self.replica.get(str(doc["_id"]), conflicts=True)))
            except KeyUnavailable:
                doc_id, rev, kind, case = (str(doc[key]) for key in ("_id", "_rev", "type", "case_id"))
                found.append(Record(id=doc_id, rev=rev, type=kind, case_id=case, content={}, readable=False))
        return found

    def cases(self) -> list[Record]:
        """The ``case`` documents of the local caseload, decrypted."""
        return self.records(doc_type="case")

    # -- offline edits -----------------------------------------------------------------------

    def _user_ref(self) -> str:
        if not self.config.user_ref:
            raise NotConfigured("not logged in: run `doorstep login` first")
        return self.config.user_ref

    def create(self, doc_type: str, case_id: str, content: Mapping[str, Any]) -> Record:
        """Create a document offline: ``author``/``created_at``/``updated_*`` are set, the content
        validated, split and encrypted under the case's current key. Raises InvalidInput,
        KeyUnavailable (the case is not in this device's caseload)."""
        schema = self.schemas.get(doc_type)
        if schema is None or doc_type == "case":
            raise InvalidInput(f"cannot create {doc_type!r} documents here (cases are opened on the server)")
        user, now = self._user_ref(), _now()
        full = {
            **copy.deepcopy(dict(content)),
            "author": user,
            "created_at": now,
            "updated_at": now,
            "updated_by": user,
        }
        doc = seal_content(
            full, doc_id=new_doc_id(doc_type), case_id=case_id, keys=self._case_keys(), schema=schema
        )
        self.replica.put_local_edit(doc)
        return self.read(doc["_id"])

    def edit(self, doc_id: str, changes: Mapping[str, Any]) -> Record:
        """Change fields of ``doc_id`` offline (dotted names reach into objects), as a new
        revision on the current winner, encrypted under the case's current key. Raises
        InvalidInput, MissingDocument, KeyUnavailable, LocalConflict."""
        touched = sorted(name for name in changes if name.split(".")[0] in MANAGED_FIELDS)
        if touched:
            raise InvalidInput(f"{touched[0]} is set by the client and cannot be edited")
        doc = require_doc(self.replica, doc_id)
        record = self._record(doc)
        content = copy.deepcopy(record.content)
        for name, value in changes.items():
            _set_path(content, name, value)
        content["updated_at"] = max(_now(), str(content.get("updated_at", "")))
        content["updated_by"] = self._user_ref()
        schema = self.schemas[record.type]
        sealed = seal_content(
            content, doc_id=doc_id, case_id=record.case_id, keys=self._case_keys(), schema=schema
        )
        self.replica.put_local_edit({**sealed, "_rev": record.rev})
        return self.read(doc_id)

    def discard(self, doc_id: str) -> list[str]:
        """Give up the refused local revisions of ``doc_id`` and take the server's version back
        (needs the server). Returns the revisions discarded. Raises InvalidInput if the server
        refused nothing of this document, ServerUnreachable, RemoteError."""
        refused = [refusal.rev for refusal in self.replica.refusals() if refusal.id == doc_id]
        if not refused:
            raise InvalidInput(f"the server refused nothing of {doc_id!r}: nothing to discard")
        with self._remote(self.sync_url, self.config.device_token) as remote:
            try:
                answer = remote.request_json(
                    "GET", doc_path(doc_id), params={"open_revs": "all", "revs": "true"}
                )
            except NotFound:
                answer = []  # a new document the server never took
        server_docs = [entry["ok"] for entry in answer if isinstance(entry, dict) and "ok" in entry]
        removed = self.replica.remove_leaves(doc_id, refused)
        self.replica.bulk_store_replicated(server_docs)
        return removed

    # -- status and wipe ---------------------------------------------------------------------

    def status(self) -> Status:
        """Last sync, local edits not yet pushed, documents the server refused."""
        replica = self.replica
        pending: list[str] = []
        if self.config.server or self.config.sync_url:
            push_id = replication_id(
                replica.peer_id, split_credentials(self.sync_url)[0], filter_name=PUSH_FILTER
            )
            checkpoint = replica.get_local(push_id) or {}
            pending = [d for d in replica.pending_edits(checkpoint.get("source_last_seq", 0)) if pushable(d)]
        return Status(
            home=self.home.root,
            server=self.config.server,
            username=self.config.username,
            device_id=self.config.device_id,
            last_sync=self.config.last_sync,
            documents=int(replica.info()["doc_count"]),
            cases=len(replica.case_ids()),
            pending=pending,
            refused=replica.refusals(),
        )

    def _confirm_wipe(self, token: str | None) -> None:
        """Tell the server the wipe happened (best effort: the data is already gone)."""
        if not token:
            return
        try:
            with self._remote(self.server_url, token) as api:
                api.request_json("POST", "api/devices/wiped/", idempotent=False)
        except ClientError:
            pass

    def wipe(self) -> None:
        """Erase the replica (with its -wal/-shm), the keystore and the configuration."""
        if self._replica is not None:
            self._replica.erase()
            self._replica = None
        else:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.home.replica_path}{suffix}").unlink(missing_ok=True)
        self._keys = None
        shred(self.home.keystore_path)
        self.home.config_path.unlink(missing_ok=True)
        server = self.config.server
        self.config = Config(server=server)
