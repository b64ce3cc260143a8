"""Token authentication (``Token``/``Bearer``) for the REST API and the sync endpoint."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Model
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from backend.common import rows

from .models import AuthToken, Device, User
from .tokens import hash_token


class DeviceRevoked(exceptions.AuthenticationFailed):
    """The device may no longer talk to the server. ``lock``: it was revoked and must keep its
    data sealed (an admin may re-admit it); otherwise a wipe was ordered: it must erase it."""

    default_detail = "this device has been revoked; erase local data"
    default_code = "device_revoked"

    def __init__(self, *, lock: bool = False) -> None:
        super().__init__(
            "this device has been revoked: its data stays locked on it until an admin re-admits it"
            if lock
            else None
        )
        self.lock = lock

    @property
    def instruction(self) -> dict[str, bool]:
        """What the 401 body tells the device: ``{"lock": true}`` or ``{"wipe": true}``."""
        return {"lock": True} if self.lock else {"wipe": True}


#: Device statuses whose tokens work (a retiring device still sends; see accounts.devices).
_DEVICE_TALKS = {Device.Status.ACTIVE, Device.Status.RETIRING}


@functools.cache
def _token_query(vendor: str) -> tuple[str, tuple[Any, ...], int, int]:
    """The SQL of ``token_by_hash`` on ``vendor``, its columns, and where the user's and the
    device's columns start."""
    token, user, device = rows.fields(AuthToken), rows.fields(User), rows.fields(Device)
    sql = (
        f"SELECT {rows.select_list('t', token)}, {rows.select_list('u', user)}, "
        f"{rows.select_list('d', device)} FROM {AuthToken._meta.db_table} t "
        f"JOIN {User._meta.db_table} u ON u.id = t.user_id "
        f"LEFT JOIN {Device._meta.db_table} d ON d.id = t.device_id WHERE t.key_hash = %s"
    )
    return sql, (*token, *user, *device), len(token), len(token) + len(user)


def token_by_hash(key_hash: str) -> AuthToken | None:
    """The token with ``key_hash``, with its user and device: the models
    ``AuthToken.objects.select_related("user", "device").get(key_hash=…)`` returns, from one
    hand-written query (every request authenticates; building the ORM query cost more than
    running it)."""
    sql, columns, user_at, device_at = _token_query(connection.vendor)
    found = rows.fetch_rows(sql, [key_hash], columns)
    if not found:
        return None
    row = found[0]

    def load(model: type[Model], start: int, end: int | None) -> Any:
        return model.from_db(DEFAULT_DB_ALIAS, [f.attname for f in columns[start:end]], row[start:end])

    token: AuthToken = load(AuthToken, 0, user_at)
    token.user = load(User, user_at, device_at)
    token.device = None if row[device_at] is None else load(Device, device_at, None)
    return token


def token_lookup(secret: str) -> AuthToken:
    """The live token for ``secret``; raises AuthenticationFailed / DeviceRevoked."""
    token = token_by_hash(hash_token(secret))
    if token is None:
        raise exceptions.AuthenticationFailed("invalid token")
    now = timezone.now()
    device = token.device
    if device is not None and device.status not in _DEVICE_TALKS:
        raise DeviceRevoked(lock=device.status == Device.Status.REVOKED)
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
