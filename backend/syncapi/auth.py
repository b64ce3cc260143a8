"""Who is replicating: token (``Token``/``Bearer``) or HTTP Basic, with a short-lived cache
for Basic so a replication does not pay the password hash on every request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import exceptions

from backend.accounts.authentication import DeviceRevoked, token_lookup
from backend.accounts.models import Device, User
from backend.accounts.services import recent_login_failures
from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.common.http import client_ip

_BASIC_TTL_SECONDS = 300
_basic_cache: dict[str, tuple[int, float]] = {}


class SyncAuthError(Exception):
    def __init__(self, reason: str, *, instruction: dict[str, bool] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: ``{"wipe": true}`` or ``{"lock": true}`` for a revoked device (``DeviceRevoked``).
        self.instruction = instruction or {}


@dataclass(frozen=True)
class SyncCaller:
    user: User
    device: Device | None
    actor: Actor

    @property
    def owner(self) -> str:
        """Whose ``_local`` documents these are."""
        return f"d:{self.device.pk}" if self.device is not None else f"u:{self.user.pk}"

    @property
    def receives(self) -> bool:
        """False for a retiring device: it may still send, and is sent nothing more."""
        return self.device is None or self.device.status != Device.Status.RETIRING


def _basic_key(username: str, password: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{username}\0{password}".encode(), hashlib.sha256
    ).hexdigest()


def _basic_user(username: str, password: str, ip: str | None) -> User:
    key = _basic_key(username, password)
    hit = _basic_cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        user = User.objects.filter(pk=hit[0], is_active=True).first()
        if user is not None:
            return user
    if recent_login_failures(username, timezone.now()) >= settings.DOORSTEP_LOGIN_FAILURES_ALLOWED:
        raise SyncAuthError("too many failed logins; try again later")
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        audit_record(
            actor=None, action=AuditAction.LOGIN_FAILED, username=username[:150], detail={"via": "sync-basic"}
        )
        raise SyncAuthError("name or password is incorrect")
    _basic_cache[key] = (user.pk, now + _BASIC_TTL_SECONDS)
    return user


def sync_caller(request: HttpRequest) -> SyncCaller:
    """Authenticate a replication request; raises SyncAuthError (→ 401)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    ip = client_ip(request)
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme in {"token", "bearer"} and value.strip():
        try:
            token = token_lookup(value.strip())
        except DeviceRevoked as exc:
            raise SyncAuthError("device revoked", instruction=exc.instruction) from None
        except exceptions.AuthenticationFailed as exc:
            raise SyncAuthError(str(exc.detail)) from None
        return SyncCaller(
            user=token.user, device=token.device, actor=Actor(user=token.user, device=token.device, ip=ip)
        )
    if scheme == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise SyncAuthError("malformed Basic credentials") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise SyncAuthError("malformed Basic credentials")
        user = _basic_user(username, password, ip)
        return SyncCaller(user=user, device=None, actor=Actor(user=user, ip=ip))
    raise SyncAuthError("authentication required")


def forget_basic_cache() -> None:
    _basic_cache.clear()
