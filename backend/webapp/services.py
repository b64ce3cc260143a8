"""What the tablet app records on the server about itself: unsent work it was told to discard."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from backend.accounts.models import Device
from backend.audit.models import AuditAction, AuditEvent
from backend.audit.services import Actor, audit_record
from backend.common.errors import Forbidden, NotFound, OutOfScope


@transaction.atomic
def device_unsent_discard(
    *, actor: Actor, device_id: int, count: int, records: Sequence[str], reason: str
) -> AuditEvent:
    """Record that the user of ``device_id`` chose to erase ``count`` records the server never
    received (ids in ``records``, no content). Only the device's own user may say so, from a
    password sign-in or that device's token. Raises NotFound (also for someone else's device) /
    Forbidden (another device's token)."""
    device = Device.objects.select_related("user").filter(pk=device_id).first()
    if device is None:
        raise NotFound("device")
    if device.user_id != actor.user.pk:
        # Someone else's device answers like a missing one (as every device endpoint), audited.
        raise OutOfScope("device", object_type="device", object_id=f"d:{device.pk}", case_id="")
    if actor.device is not None and actor.device.pk != device.pk:
        raise Forbidden("another device's token cannot discard this tablet's work")
    return audit_record(
        actor=actor,
        action=AuditAction.DEVICE_DISCARD,
        object_type="device",
        object_id=f"d:{device.pk}",
        detail={"device_name": device.name, "count": count, "records": list(records), "reason": reason},
    )
