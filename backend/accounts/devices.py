"""Device enrolment, token renewal, check-in and the lifecycle (retire, revoke, re-admit, wipe);
every move is audited in its own transaction.

The lifecycle is a table (``MOVES``): which statuses a move starts from, where it leads, whether
it stops the device's tokens, who may order it. A move ordered twice is answered with the
device as it is (nothing changes, nothing is audited again); from any other status it is a 409.

- retire: the device may still *send* (its tokens keep working), receives nothing more, is told
  ``send_then_erase`` at check-in, erases itself and confirms (``wiped``).
- revoke: tokens stop at once; the device locks its data and keeps it sealed.
- readmit: a revoked device becomes active; its user signs in on it again for a fresh token.
- wipe: tokens stop; the device erases itself at next contact and confirms.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.common.errors import ApplicationError, ErrorCode, Forbidden, NotFound, OutOfScope
from sync import RemoteSyncError, check_device_public_key

from .models import AuthToken, Device, Role, User
from .services import token_issue

Status = Device.Status


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str
    action: AuditAction
    stops_tokens: bool
    admin_only: bool
    stamp: str | None  # the timestamp field the move sets


MOVES: dict[str, Move] = {
    "retire": Move(
        frozenset({Status.ACTIVE}),
        Status.RETIRING,
        AuditAction.DEVICE_RETIRE,
        False,
        True,
        "retire_ordered_at",
    ),
    "revoke": Move(
        frozenset({Status.ACTIVE, Status.RETIRING}),
        Status.REVOKED,
        AuditAction.DEVICE_REVOKE,
        True,
        False,
        "revoked_at",
    ),
    "readmit": Move(
        frozenset({Status.REVOKED}), Status.ACTIVE, AuditAction.DEVICE_READMIT, False, True, None
    ),
    "wipe": Move(
        frozenset({Status.ACTIVE, Status.RETIRING, Status.REVOKED}),
        Status.WIPE_PENDING,
        AuditAction.DEVICE_WIPE,
        True,
        True,
        "wipe_ordered_at",
    ),
}

_DONE = {"retire": "retired", "revoke": "revoked", "readmit": "re-admitted", "wipe": "wiped"}

#: What a device is told at check-in, by status (retiring: push everything, erase, confirm).
INSTRUCTIONS: dict[str, str | None] = {Status.ACTIVE: None, Status.RETIRING: "send_then_erase"}


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


def _device_for(actor: Actor, device_id: int) -> Device:
    """The device, locked, if the actor may see it (an admin, or its own user). Anyone else's
    device is answered exactly like a missing one, and audited as a denied access."""
    device = (
        Device.objects.select_for_update(of=("self",)).select_related("user").filter(pk=device_id).first()
    )
    if device is None:
        raise NotFound("device")
    if actor.user.role != Role.ADMIN and device.user_id != actor.user.pk:
        raise OutOfScope("device", object_type="device", object_id=f"d:{device.pk}", case_id="")
    return device


def _stop_tokens(device: Device, now: datetime) -> None:
    AuthToken.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=now)


@transaction.atomic
def device_token_renew(*, actor: Actor, device_id: int, now: datetime | None = None) -> tuple[str, AuthToken]:
    """A fresh device token for one of the user's own devices that may still talk to the
    server (active, or retiring: it still has to send)."""
    device = _device_for(actor, device_id)
    if device.user_id != actor.user.pk:
        raise Forbidden("only the device's user can renew its token")
    if device.status not in INSTRUCTIONS:
        raise ApplicationError(
            ErrorCode.DEVICE_REVOKED,
            f"this device is {device.status.replace('_', ' ')}: it cannot be given a new token",
            extra={"lock": True} if device.status == Status.REVOKED else {"wipe": True},
        )
    _stop_tokens(device, now or timezone.now())
    return token_issue(user=device.user, device=device, now=now)


@transaction.atomic
def device_move(*, actor: Actor, device_id: int, move: str, now: datetime | None = None) -> Device:
    """Apply lifecycle ``move`` (a key of ``MOVES``) to a device, audited. Raises NotFound (also
    for a device outside the actor's scope), Forbidden (an admin's move asked by its user),
    ApplicationError ``conflict`` (the move does not start from the device's status)."""
    rule = MOVES[move]
    now = now or timezone.now()
    device = _device_for(actor, device_id)
    if rule.admin_only and actor.user.role != Role.ADMIN:
        raise Forbidden(f"only an admin can {move} a device")
    if device.status == rule.target:
        return device  # ordered twice: nothing changes
    if device.status not in rule.sources:
        raise ApplicationError(
            ErrorCode.CONFLICT,
            f"this device is {device.status.replace('_', ' ')}: it cannot be {_DONE[move]}",
            field="status",
        )
    previous = device.status
    device.status = rule.target
    if rule.stamp is not None:
        setattr(device, rule.stamp, now)
    if move == "readmit":
        device.revoked_at = None
    device.save()
    if rule.stops_tokens:
        _stop_tokens(device, now)
    audit_record(
        actor=actor,
        action=rule.action,
        object_type="device",
        object_id=f"d:{device.pk}",
        detail={
            "user": device.user.username,
            "from": previous,
            "unsent_reported": device.unsent_reported,
            "last_sync_at": device.last_sync_at.isoformat() if device.last_sync_at else None,
        },
    )
    return device


@transaction.atomic
def device_wipe_confirm(*, token_secret: str, ip: str | None, now: datetime | None = None) -> Device:
    """A device ordered to wipe, or retiring, confirms it has erased its data, with its own
    (possibly revoked) token. Its tokens stop; the event says whether it retired or was wiped."""
    from .tokens import hash_token

    now = now or timezone.now()
    token = (
        AuthToken.objects.select_related("device", "user").filter(key_hash=hash_token(token_secret)).first()
    )
    device = token.device if token is not None else None
    if device is None:
        raise NotFound("device")
    device = Device.objects.select_for_update().select_related("user").get(pk=device.pk)
    if device.status not in {Status.WIPE_PENDING, Status.RETIRING}:
        raise NotFound("device")
    outcome = "retired" if device.status == Status.RETIRING else "wiped"
    device.status = Status.WIPED
    device.wiped_at = now
    device.save(update_fields=["status", "wiped_at"])
    _stop_tokens(device, now)
    audit_record(
        actor=Actor(user=device.user, device=device, ip=ip),
        action=AuditAction.DEVICE_WIPED,
        object_type="device",
        object_id=f"d:{device.pk}",
        detail={"outcome": outcome},
    )
    return device


@transaction.atomic
def device_checkin(*, device: Device, unsent: int, now: datetime | None = None) -> Device:
    """A device reports how many documents it holds unsent; returns it with its current status
    (the caller tells it ``INSTRUCTIONS[status]``). Only active and retiring devices get here:
    the others' tokens are refused by authentication."""
    now = now or timezone.now()
    Device.objects.filter(pk=device.pk).update(
        unsent_reported=unsent, unsent_reported_at=now, last_seen_at=now
    )
    return Device.objects.select_related("user").get(pk=device.pk)


def devices_visible_to(user: User) -> list[Device]:
    qs = Device.objects.select_related("user").order_by("-enrolled_at")
    if user.role != Role.ADMIN:
        qs = qs.filter(user=user)
    return list(qs)
