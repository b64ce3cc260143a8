"""A stand-in for the parts of a Doorstep server that pouchdb-server cannot play.

``FakeDoorstep`` is a real HTTP server (``http.server`` in a thread). It answers the two REST
calls the client makes before it replicates (``POST /api/auth/token/``, ``POST /api/devices/``)
and forwards ``/sync/caseload/…`` to a database on a real pouchdb-server, so replication is
always with a real CouchDB-protocol peer. On the way it can play server behaviours
pouchdb-server lacks: a request-size limit (413), no ``_bulk_get`` (405), transient 503s,
and the device lifecycle as docs/api.md describes it: a wipe ordered (401 with ``"wipe": true``),
a revoked device (401 with ``"lock": true``), a retiring one (check-in says
``send_then_erase``), and the wipe confirmation. It records every request it saw.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

SYNC_PREFIX = "/sync/caseload"


@dataclass
class Seen:
    method: str
    path: str
    size: int
    status: int
    authorization: str | None


@dataclass
class FakeDoorstep:
    """Forwards ``/sync/caseload`` to ``db_url`` (a pouchdb-server database)."""

    db_url: str
    users: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    max_body: int | None = None
    refuse_bulk_get: bool = False
    fail_next: int = 0
    down_after: int | None = None  # answer 503 to every sync request once this many were served
    revoked: bool = False  # a wipe was ordered
    locked: bool = False  # revoked: the device must keep its data sealed
    retiring: bool = False
    unsent_reported: list[int] = field(default_factory=list)
    wipe_confirmed: int = 0
    requests: list[Seen] = field(default_factory=list)
    devices: dict[str, bytes] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._upstream = httpx.Client(timeout=30)
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, content_type = double._answer(
                    self.command, self.path, body, dict(self.headers)
                )
                with double._lock:
                    double.requests.append(
                        Seen(self.command, self.path, len(body), status, self.headers.get("Authorization"))
                    )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()

    def seen(self, fragment: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if fragment in r.path]

    @staticmethod
    def _json(status: int, data: Any) -> tuple[int, bytes, str]:
        return status, json.dumps(data).encode(), "application/json"

    def _answer(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        route = urlsplit(path).path
        if route == "/api/auth/token/" and method == "POST":
            return self._login(json.loads(body))
        if route == "/api/devices/" and method == "POST":
            return self._enrol(json.loads(body), headers.get("Authorization", ""))
        if route.startswith("/api/devices/") and route.endswith("/token/") and method == "POST":
            return self._renew(route.split("/")[3], headers.get("Authorization", ""))
        if route == "/api/devices/me/checkin/" and method == "POST":
            return self._checkin(json.loads(body))
        if route == "/api/devices/wiped/" and method == "POST":
            if not (self.revoked or self.retiring):
                return self._json(404, {"code": "not_found", "message": "device not found"})
            self.wipe_confirmed += 1
            return 204, b"", "application/json"
        if not path.startswith(SYNC_PREFIX):
            return self._json(404, {"code": "not_found", "message": "no such endpoint"})
        if self.locked:
            return self._json(401, {"error": "unauthorized", "reason": "device revoked", "lock": True})
        if self.revoked:
            return self._json(401, {"error": "unauthorized", "reason": "device revoked", "wipe": True})
        served = sum(1 for seen in self.requests if seen.path.startswith(SYNC_PREFIX))
        if self.fail_next > 0 or (self.down_after is not None and served >= self.down_after):
            self.fail_next = max(0, self.fail_next - 1)
            return self._json(503, {"error": "service_unavailable", "reason": "try again"})
        if self.max_body is not None and len(body) > self.max_body:
            return self._json(413, {"error": "too_large", "reason": "the request entity is too large"})
        if self.refuse_bulk_get and route.endswith("/_bulk_get"):
            return self._json(405, {"error": "method_not_allowed", "reason": "Only GET allowed"})
        if self.tokens and headers.get("Authorization", "").split(" ")[-1] not in self.tokens.values():
            return self._json(401, {"error": "unauthorized", "reason": "unknown token"})
        upstream = self.db_url + path[len(SYNC_PREFIX) :]
        forwarded = {"Content-Type": "application/json", "Accept": headers.get("Accept", "application/json")}
        response = self._upstream.request(method, upstream, content=body or None, headers=forwarded)
        return (
            response.status_code,
            response.content,
            response.headers.get("Content-Type", "application/json"),
        )

    def _checkin(self, data: dict[str, Any]) -> tuple[int, bytes, str]:
        if self.locked or self.revoked:
            instruction = {"lock": True} if self.locked else {"wipe": True}
            return self._json(401, {"code": "device_revoked", "message": "device revoked", **instruction})
        self.unsent_reported.append(data["unsent"])
        status = "retiring" if self.retiring else "active"
        return self._json(
            200,
            {
                "id": 1,
                "name": "test tablet",
                "status": status,
                "server_time": "2026-12-04T10:00:00.000Z",
                "instruction": "send_then_erase" if self.retiring else None,
            },
        )

    def _login(self, data: dict[str, Any]) -> tuple[int, bytes, str]:
        known = self.users.get(data.get("username", ""))
        if known is None or known[0] != data.get("password"):
            return self._json(401, {"code": "authentication_failed", "message": "wrong username or password"})
        return self._json(
            200,
            {"token": f"user-token-{known[1]['id']}", "expires_at": "2030-01-01T00:00:00Z", "user": known[1]},
        )

    def _enrol(self, data: dict[str, Any], authorization: str) -> tuple[int, bytes, str]:
        if not authorization.startswith("Token user-token-"):
            return self._json(401, {"code": "not_authenticated", "message": "log in first"})
        device_id = f"d:{len(self.devices) + 1}"
        self.devices[device_id] = base64.b64decode(data["public_key"])
        self.tokens[device_id] = f"dst_device{len(self.devices)}"
        device = {
            "id": device_id,
            "pk": len(self.devices),
            "name": data["name"],
            "app_version": data["app_version"],
        }
        return self._json(
            201, {"device": device, "token": self.tokens[device_id], "expires_at": "2030-01-01T00:00:00Z"}
        )

    def _renew(self, pk: str, authorization: str) -> tuple[int, bytes, str]:
        if not authorization.startswith("Token user-token-") or f"d:{pk}" not in self.devices:
            return self._json(403, {"code": "permission_denied", "message": "not your device"})
        self.tokens[f"d:{pk}"] = f"dst_renewed{pk}"
        return self._json(200, {"token": self.tokens[f"d:{pk}"], "expires_at": "2030-02-01T00:00:00Z"})
