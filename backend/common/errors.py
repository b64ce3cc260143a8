"""Application errors with stable machine-readable codes, and the one DRF exception handler."""

from __future__ import annotations

import enum
import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import OperationalError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from sync import InvalidDocument, InvalidRevision, SyncError

logger = logging.getLogger("doorstep.errors")


class ErrorCode(enum.Enum):
    """Stable codes clients switch on (the message is for people)."""

    BAD_REQUEST = ("bad_request", 400)
    MALFORMED_JSON = ("malformed_json", 400)
    INVALID_FIELD = ("invalid_field", 400)
    UNKNOWN_FIELD = ("unknown_field", 400)
    MISSING_FIELD = ("missing_field", 400)
    INVALID_REVISION = ("invalid_revision", 400)
    AUTHENTICATION_FAILED = ("authentication_failed", 401)
    NOT_AUTHENTICATED = ("not_authenticated", 401)
    DEVICE_REVOKED = ("device_revoked", 401)
    PERMISSION_DENIED = ("permission_denied", 403)
    NOT_FOUND = ("not_found", 404)
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405)
    NOT_ACCEPTABLE = ("not_acceptable", 406)
    STALE_REVISION = ("stale_revision", 409)
    CONFLICT = ("conflict", 409)
    PAYLOAD_TOO_LARGE = ("payload_too_large", 413)
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", 415)
    THROTTLED = ("throttled", 429)
    BUSY = ("busy", 503)

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def http_status(self) -> int:
        return self.value[1]


class ApplicationError(Exception):
    """An expected failure the client caused; rendered as ``{"code", "message", "field"?}``."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra or {}


class NotFound(ApplicationError):
    def __init__(self, what: str = "resource") -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"{what} not found")


class OutOfScope(NotFound):
    """Answered exactly like NotFound (existence is not revealed), but audited as a denied access
    by the exception handler — after the failed transaction has rolled back, so it sticks."""

    def __init__(self, what: str, *, object_type: str, object_id: str, case_id: str) -> None:
        super().__init__(what)
        self.object_type = object_type
        self.object_id = object_id
        self.case_id = case_id


class StaleRevision(ApplicationError):
    def __init__(self, current_rev: str) -> None:
        super().__init__(
            ErrorCode.STALE_REVISION,
            "the document changed since the revision you edited; fetch it and reapply your change",
            field="rev",
            extra={"current_rev": current_rev},
        )


class Forbidden(ApplicationError):
    def __init__(self, message: str = "you may not do that") -> None:
        super().__init__(ErrorCode.PERMISSION_DENIED, message)


def audit_out_of_scope(exc: OutOfScope, request: Any) -> None:
    # Imported here on purpose: ``common`` sits below every app (``audit`` imports its
    # pagination and serializers), so importing ``audit`` at module level would make the cycle
    # common -> audit -> common.
    from backend.audit.models import AuditAction
    from backend.audit.services import audit_record
    from backend.common.http import actor_of

    if request is None or getattr(request, "user", None) is None:
        return
    audit_record(
        actor=actor_of(request),
        action=AuditAction.READ_DENIED,
        object_type=exc.object_type,
        object_id=exc.object_id,
        case_id=exc.case_id,
    )


def error_body(code: ErrorCode, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code.code, "message": message}
    if field:
        body["field"] = field
    body.update(extra)
    return body


#: DRF messages that repeat the submitted value, by DRF error code, and what is said instead.
_VALUE_FREE_MESSAGES = {
    "invalid_choice": "is not one of the allowed values",
    "does_not_exist": "names nothing that exists",
}


def _from_validation_detail(detail: Any) -> tuple[ErrorCode, str, str | None]:
    """Flatten DRF's nested ValidationError detail into the first field and message."""
    path: list[str] = []
    node = detail
    while True:
        if isinstance(node, dict) and node:
            key, node = next(iter(node.items()))
            if key != "non_field_errors":
                path.append(str(key))
        elif isinstance(node, list) and node:
            node = node[0]
        else:
            break
    field = ".".join(path) or None
    message = str(node)
    code = ErrorCode.INVALID_FIELD
    err_code = getattr(node, "code", None)
    if err_code in _VALUE_FREE_MESSAGES:
        message = f"{field or 'value'} {_VALUE_FREE_MESSAGES[err_code]}"
    if err_code == "unknown_field":
        code = ErrorCode.UNKNOWN_FIELD
    elif err_code == "required":
        code = ErrorCode.MISSING_FIELD
    if field and field not in message:
        message = f"{field}: {message}"
    return code, message, field


#: The code of each kind of schema failure (``InvalidDocument.rule``).
_DOCUMENT_RULE_CODES = {"unknown_field": ErrorCode.UNKNOWN_FIELD, "missing_field": ErrorCode.MISSING_FIELD}

#: PostgreSQL: deadlock_detected, serialization_failure, lock_not_available.
_TRANSIENT_PG_CODES = {"40P01", "40001", "55P03"}


def is_transient_db_error(exc: BaseException) -> bool:
    """A database failure that says "try again" (deadlock, lock timeout), not a bug."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in _TRANSIENT_PG_CODES:
        return True
    return "database is locked" in str(exc)  # SQLite's busy timeout ran out


def _render_as_json(request: Any) -> None:
    """An error is JSON whatever the endpoint answers on success (the audit export's CSV, asked
    for with ``?format=csv``), as the OpenAPI document says."""
    if request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every expected failure as ``{"code", "message", "field"?}`` with a 4xx status."""
    _render_as_json(context.get("request"))
    headers: dict[str, str] = {}
    if isinstance(exc, OutOfScope):
        audit_out_of_scope(exc, context.get("request"))
    if isinstance(exc, ApplicationError):
        if "retry_after_seconds" in exc.extra:
            headers["Retry-After"] = str(exc.extra["retry_after_seconds"])
        return Response(
            error_body(exc.code, exc.message, exc.field, **exc.extra),
            status=exc.code.http_status,
            headers=headers,
        )
    if isinstance(exc, InvalidRevision):
        code, message, field = ErrorCode.INVALID_REVISION, exc.reason, exc.field or "rev"
    elif isinstance(exc, InvalidDocument):
        code, message, field = (
            _DOCUMENT_RULE_CODES.get(exc.rule, ErrorCode.INVALID_FIELD),
            exc.reason,
            exc.field,
        )
    elif isinstance(exc, SyncError):
        code, message, field = ErrorCode.BAD_REQUEST, exc.reason, exc.field
    elif isinstance(exc, drf_exceptions.ParseError):
        code, message, field = ErrorCode.MALFORMED_JSON, "request body is not valid JSON", None
    elif isinstance(exc, drf_exceptions.ValidationError):
        code, message, field = _from_validation_detail(exc.detail)
    elif isinstance(exc, drf_exceptions.NotAuthenticated):
        code, message, field = (
            ErrorCode.NOT_AUTHENTICATED,
            "authentication credentials were not provided",
            None,
        )
        headers["WWW-Authenticate"] = 'Token realm="doorstep"'
    elif (
        isinstance(exc, drf_exceptions.AuthenticationFailed)
        and getattr(exc, "default_code", "") == "device_revoked"
    ):
        code, message, field = ErrorCode.DEVICE_REVOKED, str(exc.detail), None
        headers["WWW-Authenticate"] = 'Token realm="doorstep"'
        instruction = getattr(exc, "instruction", {"wipe": True})
        return Response(
            {**error_body(code, message, field), **instruction}, status=code.http_status, headers=headers
        )
    elif isinstance(exc, drf_exceptions.AuthenticationFailed):
        code, message, field = ErrorCode.AUTHENTICATION_FAILED, str(exc.detail), None
        headers["WWW-Authenticate"] = 'Token realm="doorstep"'
    elif isinstance(exc, drf_exceptions.PermissionDenied | PermissionDenied):
        code, message, field = (
            ErrorCode.PERMISSION_DENIED,
            "you do not have permission to do that",
            None,
        )
    elif isinstance(exc, drf_exceptions.NotFound | Http404):
        code, message, field = ErrorCode.NOT_FOUND, "not found", None
    elif isinstance(exc, drf_exceptions.MethodNotAllowed):
        code, message, field = ErrorCode.METHOD_NOT_ALLOWED, str(exc.detail), None
    elif isinstance(exc, drf_exceptions.NotAcceptable):
        code, message, field = ErrorCode.NOT_ACCEPTABLE, str(exc.detail), None
    elif isinstance(exc, drf_exceptions.UnsupportedMediaType):
        code, message, field = ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send application/json", None
    elif isinstance(exc, drf_exceptions.Throttled):
        code, message, field = ErrorCode.THROTTLED, "too many attempts; try again later", None
        if exc.wait:
            headers["Retry-After"] = str(int(exc.wait))
    elif isinstance(exc, RequestDataTooBig):
        code, message, field = ErrorCode.PAYLOAD_TOO_LARGE, "request body is too large", None
    elif isinstance(exc, SuspiciousOperation):
        code, message, field = ErrorCode.BAD_REQUEST, "bad request", None
    elif is_transient_db_error(exc):
        # The transaction was rolled back whole: nothing was stored; the same request may
        # simply be sent again.
        code, message, field = ErrorCode.BUSY, "the server was busy and nothing was saved; try again", None
        headers["Retry-After"] = "1"
    else:
        return None
    return Response(error_body(code, message, field), status=code.http_status, headers=headers)
