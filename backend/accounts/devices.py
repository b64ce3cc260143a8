"""Device enrolment, token renewal, revocation and remote wipe; every step is audited."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.common.errors import ApplicationError, ErrorCode, Forbidden, NotFound
from sync import RemoteSyncError, check_device_public_key

from .models import AuthToken, Device, Role, User
from .services import token_issue


def _public_key(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
        check_device_public_key(raw)
    except (binascii.Error, ValueError, RemoteSyncError):
        raise ApplicationError(
            ErrorCode.INVALID_FIELD,
            "public_key must be a base64 X25519 public key (32 bytes)",
            field="public_key",
        ) from None
    return base64.b64encode(raw).decode()


@transaction.atomic
def device_enrol(
    *, actor: Actor, name: str, public_key: str, app_version: str = "", now: datetime | None = None
) -> tuple[Device, str, AuthToken]:
    """Enrol a device for the acting user; returns it with its device token (shown once)."""
    now = now or timezone.now()
    if actor.device is not None:
        raise Forbidden("enrol from a login session, not from another device's token")
    device = Device.objects.create(
        user=actor.user,
        name=name,
        public_key=_public_key(public_key),
        app_version=app_version,
        enrolled_at=now,
    )
    secret, token = token_issue(user=actor.user, device=device, now=now)
    audit_record(
        actor=Actor(user=actor.user, device=device, ip=actor.ip),
        action=AuditAction.DEVICE_ENROL,
        object_type="device",
        object_id=f"d:{device.pk}",
        detail={"name": name, "app_version": app_version},
    )
    return device, secret, token


def _device_for(actor: Actor, device_id: int, *, admin_only: bool = False) -> Device:
    device = (
        Device.objects.select_for_update(of=("self",)).select_related("user").filter(pk=device_id).first()
    )
    if device is None:
        raise NotFound("device")
    is_admin = actor.user.role == Role.ADMIN
    if admin_only and not is_admin:
        raise Forbidden("only an admin can do that")
    if not is_admin and device.user_id != actor.user.pk:
        raise NotFound("device")
    return device


@transaction.atomic
def device_token_renew(*, actor: Actor, device_id: int, now: datetime | None = None) -> tuple[str, AuthToken]:
    """A fresh device token for one of the user's own active devices (after a login)."""
    device = _device_for(actor, device_id)
    if device.user_id != actor.user.pk:
        raise Forbidden("only the device's user can renew its token")
    if device.status != Device.Status.ACTIVE:
        raise ApplicationError(
            ErrorCode.DEVICE_REVOKED, "this device has been revoked; enrol again after the wipe"
        )
    AuthToken.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=now or timezone.now())
    return token_issue(user=device.user, device=device, now=now)


@transaction.atomic
def device_revoke(*, actor: Actor, device_id: int, wipe: bool, now: datetime | None = None) -> Device:
    """Revoke a device (its user or an admin); with ``wipe`` (admins) also order a remote wipe.
    Its tokens stop working at once; its next contact is answered 401 with a wipe instruction."""
    now = now or timezone.now()
    device = _device_for(actor, device_id, admin_only=wipe)
    if device.status == Device.Status.ACTIVE or (wipe and device.status == Device.Status.REVOKED):
        device.status = Device.Status.WIPE_PENDING if wipe else Device.Status.REVOKED
        device.revoked_at = device.revoked_at or now
        if wipe:
            device.wipe_ordered_at = now
        device.save()
    AuthToken.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=now)
    audit_record(
        actor=actor,
        action=AuditAction.DEVICE_WIPE if wipe else AuditAction.DEVICE_REVOKE,
        object_type="device",
        object_id=f"d:{device.pk}",
        detail={"user": device.user.username},
    )
    return device


@transaction.atomic
def device_wipe_confirm(*, token_secret: str, ip: str | None, now: datetime | None = None) -> Device:
    """A device ordered to wipe confirms it has erased its data, with its (revoked) token."""
    from .tokens import hash_token

    token = (
        AuthToken.objects.select_related("device", "user").filter(key_hash=hash_token(token_secret)).first()
    )
    device = token.device if token is not None else None
    if device is None or device.status not in {Device.Status.WIPE_PENDING, Device.Status.REVOKED}:
        raise NotFound("device")
    device.status = Device.Status.WIPED
    device.wiped_at = now or timezone.now()
    device.save(update_fields=["status", "wiped_at"])
    audit_record(
        actor=Actor(user=device.user, device=device, ip=ip),
        action=AuditAction.DEVICE_WIPED,
        object_type="device",
        object_id=f"d:{device.pk}",
    )
    return device


def devices_visible_to(user: User) -> list[Device]:
    qs = Device.objects.select_related("user").order_by("-enrolled_at")
    if user.role != Role.ADMIN:
        qs = qs.filter(user=user)
    return list(qs)
