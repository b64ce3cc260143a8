"""Request timing for the sync benchmark (bench-only; nothing in backend/ imports this).

Two layers, both appending one JSON line per request to ``$BENCH_TIMING_LOG``:

- ``TimingASGI`` wraps the ASGI application (tests/bench/asgi.py): from the moment uvicorn hands
  the request to the app until the last byte of the response body is handed back — the whole
  server-side time of a request, request body read and response sent included
  (``"layer": "asgi"``);
- ``DjangoTimingMiddleware`` (outermost Django middleware, tests/bench/settings.py): Django's
  own handling, from the first middleware to the response object (``"layer": "django"``).

Each line: ``{"layer", "tag", "method", "path", "status", "ms", "t"}`` (asgi lines add ``qs``,
the query string); ``tag`` is the client's
``x-bench-tag`` header (pull.mjs sets it to the phase), ``t`` the wall clock at the end.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

_lock = threading.Lock()
_file: Any = None


def _write(entry: dict[str, Any]) -> None:
    global _file
    path = os.environ.get("BENCH_TIMING_LOG")
    if not path:
        return
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    with _lock:
        if _file is None:
            _file = open(path, "a", buffering=1)  # noqa: SIM115 - kept open for the process
        _file.write(line)


def _tag(headers: Any) -> str:
    for name, value in headers:
        if name == b"x-bench-tag":
            return value.decode("latin-1")
    return ""


class TimingASGI:
    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def timed_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                _write(
                    {
                        "layer": "asgi",
                        "tag": _tag(scope.get("headers", ())),
                        "method": scope.get("method", ""),
                        "path": scope.get("path", ""),
                        "qs": scope.get("query_string", b"").decode("latin-1")[:400],
                        "status": status,
                        "ms": (time.perf_counter() - started) * 1000,
                        "t": time.time(),
                    }
                )

        await self.app(scope, receive, timed_send)


class DjangoTimingMiddleware:
    """Times Django's handling of a request. Sync- and async-capable, like the application's
    own middleware, so that adding it costs no extra thread hop under ASGI (a sync-only
    middleware at the top of an async-capable chain would add one to every request)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self._log(request, response, started)
        return response

    async def _acall(self, request: Any) -> Any:
        started = time.perf_counter()
        response = await self.get_response(request)
        self._log(request, response, started)
        return response

    @staticmethod
    def _log(request: Any, response: Any, started: float) -> None:
        _write(
            {
                "layer": "django",
                "tag": request.headers.get("x-bench-tag", ""),
                "method": request.method,
                "path": request.path,
                "status": getattr(response, "status_code", 0),
                "ms": (time.perf_counter() - started) * 1000,
                "t": time.time(),
            }
        )
