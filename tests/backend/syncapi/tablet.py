"""A minimal tablet for in-process tests: enrols with a real X25519 key, replicates over the
real HTTP views (Django test client), decrypts with the envelopes it receives and encrypts its
own edits — the same primitives (``sync``) the real clients use."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from django.test import Client

from backend.accounts.services import token_issue
from sync import (
    decrypt_body,
    encrypt_body,
    generate_device_keypair,
    load_schemas,
    parse_kid,
    revtree,
    unwrap_key_for_device,
)

BASE = "/sync/caseload"
SCHEMAS = load_schemas()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rank(doc: dict[str, Any]) -> tuple[bool, int, str]:
    """CouchDB's winner order among leaves: live first, then longer path, then higher hash."""
    pos, rev_hash = revtree.parse_rev(doc["_rev"])
    return (not doc.get("_deleted", False), pos, rev_hash)


class Tablet:
    def __init__(self, user: Any, name: str = "tablet") -> None:
        self.user = user
        self.client = Client()
        self.private_key, public_key = generate_device_keypair()
        secret, _ = token_issue(user=user)
        response = self.client.post(
            "/api/devices/",
            {"name": name, "public_key": base64.b64encode(public_key).decode(), "app_version": "test"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {secret}",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        self.device_id = body["device"]["id"]
        self.token = body["token"]
        self.docs: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, bytes] = {}
        self.since = "0"
        self.purged: list[str] = []

    # --- HTTP ---
    def headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Token {self.token}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(BASE + path, params, **self.headers())

    def post(self, path: str, body: Any, **params: Any) -> Any:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return self.client.post(
            BASE + path + (f"?{query}" if query else ""),
            json.dumps(body),
            content_type="application/json",
            **self.headers(),
        )

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(
            BASE + path, json.dumps(body), content_type="application/json", **self.headers()
        )

    # --- replication ---
    def pull(self, batch: int = 100) -> int:
        """Pull everything new; returns how many changes were seen."""
        seen = 0
        while True:
            response = self.get("/_changes", since=self.since, limit=batch, style="all_docs")
            assert response.status_code == 200, response.content
            body = response.json()
            results = body["results"]
            if not results:
                return seen
            seen += len(results)
            wanted = [{"id": r["id"], "rev": c["rev"]} for r in results for c in r["changes"]]
            got = self.post("/_bulk_get", {"docs": wanted}, revs="true")
            assert got.status_code == 200, got.content
            for result in got.json()["results"]:
                for item in result["docs"]:
                    if "ok" in item:
                        self._receive(item["ok"])
            self.since = body["last_seq"]

    def _receive(self, doc: dict[str, Any]) -> None:
        doc_id = doc["_id"]
        if doc_id.startswith("purge:"):
            self.purge(doc["case_id"])
            return
        if doc_id.startswith("keyenv:"):
            kid = doc_id.removeprefix("keyenv:")
            if doc.get("_deleted"):
                self.keys.pop(kid, None)
            else:
                self.keys[kid] = unwrap_key_for_device(
                    doc["envelope"], device_private_key=self.private_key, device_id=self.device_id
                )
            return
        current = self.docs.get(doc_id)
        if current is None or _rank(doc) > _rank(current):
            self.docs[doc_id] = doc

    def purge(self, case_id: str) -> None:
        self.purged.append(case_id)
        for doc_id in [d for d, doc in self.docs.items() if doc.get("case_id") == case_id]:
            del self.docs[doc_id]

    # --- content ---
    def read(self, doc_id: str) -> dict[str, Any]:
        doc = self.docs[doc_id]
        key = self.keys[doc["enc"]["kid"]]
        secret = decrypt_body(
            doc["enc"], key=key, doc_id=doc_id, doc_type=doc["type"], case_id=doc["case_id"]
        )
        return {**secret, **doc["meta"]}

    def current_kid(self, case_id: str) -> str:
        kids = [k for k in self.keys if parse_kid(k)[0] == case_id]
        return max(kids, key=lambda k: parse_kid(k)[1])

    def seal(
        self, doc_id: str, doc_type: str, case_id: str, content: dict[str, Any], kid: str | None = None
    ) -> dict[str, Any]:
        meta, secret = SCHEMAS[doc_type].split(content)
        kid = kid or self.current_kid(case_id)
        enc = encrypt_body(
            secret, key=self.keys[kid], kid=kid, doc_id=doc_id, doc_type=doc_type, case_id=case_id
        )
        return {"_id": doc_id, "type": doc_type, "case_id": case_id, "schema": 1, "meta": meta, "enc": enc}

    def edit(self, doc_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Edit offline: a new revision on top of the local one, ready for new_edits=false."""
        doc = self.docs[doc_id]
        content = {**self.read(doc_id), "updated_at": now_iso(), "updated_by": f"u:{self.user.pk}", **changes}
        new = self.seal(doc_id, doc["type"], doc["case_id"], content)
        parent = doc["_rev"]
        pos, _ = revtree.parse_rev(parent)
        body = {k: new[k] for k in ("schema", "meta", "enc")}
        rev_hash = revtree.new_rev_hash(parent=parent, deleted=False, body=body)
        ids = [rev_hash, *doc.get("_revisions", {"ids": [parent.split("-", 1)[1]]})["ids"]]
        new["_rev"] = f"{pos + 1}-{rev_hash}"
        new["_revisions"] = {"start": pos + 1, "ids": ids}
        self.docs[doc_id] = new
        return new

    def push(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = self.post("/_bulk_docs", {"docs": docs, "new_edits": False})
        assert response.status_code == 201, response.content
        return response.json()
