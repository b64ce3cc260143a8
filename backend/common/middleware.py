"""Refuse oversize request bodies with 413 before anything reads them."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class BodySizeLimitMiddleware:
    """413 for bodies over the REST or replication limit (CouchDB-style body under /sync/)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_sync = request.path.startswith("/sync/")
        limit = settings.DOORSTEP_MAX_SYNC_BODY if is_sync else settings.DOORSTEP_MAX_REST_BODY
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            if is_sync:
                body = {"error": "too_large", "reason": f"request body exceeds {limit} bytes"}
            else:
                body = {
                    "code": "payload_too_large",
                    "message": f"request body exceeds {limit} bytes",
                }
            return HttpResponse(json.dumps(body), status=413, content_type="application/json")
        return self.get_response(request)
