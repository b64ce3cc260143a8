"""Django's last-resort error views, answering in the endpoint's own JSON format under /api/
and /sync/ (an unknown URL, a malformed request Django refuses itself, a server error)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from .middleware import refusal


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/sync/"))


def bad_request(request: HttpRequest, exception: Any) -> HttpResponse:
    if _is_api(request):
        return refusal(
            request, 400, couch_error="bad_request", rest_code="bad_request", message="bad request"
        )
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Any) -> HttpResponse:
    if _is_api(request):
        return refusal(
            request,
            403,
            couch_error="forbidden",
            rest_code="permission_denied",
            message="you do not have permission to do that",
        )
    return defaults.permission_denied(request, exception)


def not_found(request: HttpRequest, exception: Any) -> HttpResponse:
    if _is_api(request):
        return refusal(request, 404, couch_error="not_found", rest_code="not_found", message="not found")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        # Nothing about the failure itself: it is in the server's log, not for the client.
        return refusal(
            request,
            500,
            couch_error="internal_server_error",
            rest_code="server_error",
            message="server error",
        )
    return defaults.server_error(request)
