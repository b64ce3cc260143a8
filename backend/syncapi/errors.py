"""CouchDB-style errors: ``{"error", "reason"}`` with CouchDB's status codes."""

from __future__ import annotations

import json
from typing import Any

import orjson
from django.http import HttpResponse

STATUS = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "conflict": 409,
    "file_exists": 412,
    "too_large": 413,
    "bad_content_type": 415,
}


class CouchError(Exception):
    def __init__(self, error: str, reason: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.status = status or STATUS.get(error, 400)
        self.extra = extra


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON. orjson, several times faster on a pull's large batches; the standard
    library for what orjson refuses (integers beyond 64 bits a client stored in a _local doc)."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "must-revalidate"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(exc: CouchError) -> HttpResponse:
    body = {"error": exc.error, "reason": exc.reason, **exc.extra}
    headers = {"WWW-Authenticate": 'Basic realm="doorstep"'} if exc.status == 401 else None
    return json_response(body, status=exc.status, headers=headers)


def not_found(reason: str = "missing") -> CouchError:
    return CouchError("not_found", reason)


def bad_request(reason: str) -> CouchError:
    return CouchError("bad_request", reason)
