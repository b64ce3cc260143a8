"""Who is replicating: token (``Token``/``Bearer``) or HTTP Basic, with a short-lived cache
for Basic so a replication does not pay the password hash on every request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from rest_framework import exceptions

from backend.accounts.authentication import DeviceRevoked, token_lookup
from backend.accounts.models import Device, User
from backend.accounts.throttle import Attempt, LoginThrottled, login_blocked, login_check
from backend.audit.services import Actor
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
    """The user these Basic credentials name. A cache hit skips the password hash but not the
    sign-in throttle: a back-off taken on any channel stops cached credentials too."""
    source = ip or ""
    key = _basic_key(username, password)
    hit = _basic_cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        blocked = login_blocked(username=username, source=source)
        if blocked is not None:
            raise SyncAuthError(blocked.message)
        user = User.objects.filter(pk=hit[0], is_active=True).first()
        if user is not None:
            return user
    try:
        checked = login_check(
            attempt=Attempt(username=username, source=source, via="sync-basic"), password=password
        )
    except LoginThrottled as exc:
        raise SyncAuthError(exc.message) from None
    if checked is None:
        raise SyncAuthError("name or password is incorrect")
    _basic_cache[key] = (checked.pk, now + _BASIC_TTL_SECONDS)
    return checked


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
