"""Refuse oversize request bodies with 413 before anything reads them."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse


class BodySizeLimitMiddleware:
    """413 for bodies over the REST or replication limit (CouchDB-style body under /sync/).

    Sync- and async-capable, so under ASGI it costs no thread hop.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        refusal = self._refusal(request)
        if iscoroutinefunction(self):
            return self._acall(request, refusal)
        return refusal or self.get_response(request)

    async def _acall(self, request: HttpRequest, refusal: HttpResponse | None) -> HttpResponse:
        if refusal is not None:
            return refusal
        return await self.get_response(request)

    @staticmethod
    def _refusal(request: HttpRequest) -> HttpResponse | None:
        is_sync = request.path.startswith("/sync/")
        limit = settings.DOORSTEP_MAX_SYNC_BODY if is_sync else settings.DOORSTEP_MAX_REST_BODY
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= limit:
            return None
        if is_sync:
            body = {"error": "too_large", "reason": f"request body exceeds {limit} bytes"}
        else:
            body = {"code": "payload_too_large", "message": f"request body exceeds {limit} bytes"}
        return HttpResponse(json.dumps(body), status=413, content_type="application/json")
