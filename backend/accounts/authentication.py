"""Token authentication (``Token``/``Bearer``) for the REST API and the sync endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import AuthToken, Device
from .tokens import hash_token


class DeviceRevoked(exceptions.AuthenticationFailed):
    """The device was revoked or a wipe was ordered; the client must erase its replica."""

    default_detail = "this device has been revoked; erase local data"
    default_code = "device_revoked"


def token_lookup(secret: str) -> AuthToken:
    """The live token for ``secret``; raises AuthenticationFailed / DeviceRevoked."""
    try:
        token = AuthToken.objects.select_related("user", "device").get(key_hash=hash_token(secret))
    except AuthToken.DoesNotExist:
        raise exceptions.AuthenticationFailed("invalid token") from None
    now = timezone.now()
    device = token.device
    if device is not None and device.status != Device.Status.ACTIVE:
        raise DeviceRevoked()
    if token.revoked_at is not None:
        raise exceptions.AuthenticationFailed("token has been revoked; log in again")
    if token.expires_at <= now:
        raise exceptions.AuthenticationFailed("token has expired; log in again")
    if not token.user.is_active:
        raise exceptions.AuthenticationFailed("account is disabled")
    # Touch at most once a minute: keeps a busy device from writing on every request.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        AuthToken.objects.filter(pk=token.pk).update(last_used_at=now)
        if device is not None:
            Device.objects.filter(pk=device.pk).update(last_seen_at=now)
    return token


class TokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request: Request) -> tuple[Any, AuthToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("malformed Authorization header")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("malformed token") from None
        token = token_lookup(secret)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Token realm="doorstep"'
