"""Refuse, before any view runs, request bodies over the size limit and URLs, query strings or
credentials carrying text no database may store (``safe_input``)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .safe_input import text_problem


def refusal_body(path: str, *, couch_error: str, rest_code: str, message: str) -> bytes:
    """A refusal's body in the format of the endpoint at ``path``: CouchDB ``{"error",
    "reason"}`` under /sync/, the REST error body ``{"code", "message"}`` elsewhere."""
    if path.startswith("/sync/"):
        return json.dumps({"error": couch_error, "reason": message}).encode()
    return json.dumps({"code": rest_code, "message": message}).encode()


def refusal(
    request: HttpRequest, status: int, *, couch_error: str, rest_code: str, message: str
) -> HttpResponse:
    """A refusal in the endpoint's own format (``refusal_body``)."""
    body = refusal_body(request.path, couch_error=couch_error, rest_code=rest_code, message=message)
    response = HttpResponse(body, status=status, content_type="application/json")
    if status == 401:
        sync = request.path.startswith("/sync/")
        response["WWW-Authenticate"] = 'Basic realm="doorstep"' if sync else 'Token realm="doorstep"'
    return response


def body_limit(path: str) -> int:
    """The largest request body accepted at ``path``: the replication limit under /sync/, the
    REST limit elsewhere (docs/api.md, Limits)."""
    return settings.DOORSTEP_MAX_SYNC_BODY if path.startswith("/sync/") else settings.DOORSTEP_MAX_REST_BODY


def too_large_body(path: str) -> bytes:
    """The documented 413 body at ``path`` (also sent by ``backend.asgi`` before Django runs)."""
    return refusal_body(
        path,
        couch_error="too_large",
        rest_code="payload_too_large",
        message=f"request body exceeds {body_limit(path)} bytes",
    )


class _RefusingMiddleware:
    """Answers ``_refusal(request)`` when it is not None, else passes the request on.

    Sync- and async-capable, so under ASGI it costs no thread hop.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        refused = self._refusal(request)
        if iscoroutinefunction(self):
            return self._acall(request, refused)
        return refused or self.get_response(request)

    async def _acall(self, request: HttpRequest, refused: HttpResponse | None) -> HttpResponse:
        if refused is not None:
            return refused
        return await self.get_response(request)

    @staticmethod
    def _refusal(request: HttpRequest) -> HttpResponse | None:
        raise NotImplementedError


class BodySizeLimitMiddleware(_RefusingMiddleware):
    """413 for bodies over the REST or replication limit (CouchDB-style body under /sync/).
    Under ASGI, ``backend.asgi`` has refused them already, chunked ones included."""

    @staticmethod
    def _refusal(request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= body_limit(request.path):
            return None
        return HttpResponse(too_large_body(request.path), status=413, content_type="application/json")


class SafeTextMiddleware(_RefusingMiddleware):
    """400 for a NUL character in the URL path or query string; 401 for Basic credentials that
    hold one. A surrogate cannot arrive this way: Django decodes both as
    UTF-8, which has none. JSON inside query parameters and bodies is checked where it is
    parsed (``parsers.SafeJSONParser``, ``syncapi.params``)."""

    @staticmethod
    def _refusal(request: HttpRequest) -> HttpResponse | None:
        if "\x00" in request.path_info:
            return _bad_request(request, "the URL path contains a NUL character")
        query = request.META.get("QUERY_STRING", "")
        if ("%00" in query or "\x00" in query) and any(
            text_problem(name) or any(text_problem(value) for value in values)
            for name, values in request.GET.lists()
        ):
            return _bad_request(request, "a query parameter contains a NUL character")
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                return None  # the endpoint's own authentication refuses these
            if text_problem(decoded) is not None:
                return refusal(
                    request,
                    401,
                    couch_error="unauthorized",
                    rest_code="authentication_failed",
                    message="malformed Basic credentials",
                )
        return None


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return refusal(request, 400, couch_error="bad_request", rest_code="bad_request", message=message)
