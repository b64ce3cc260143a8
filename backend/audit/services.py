"""Writing audit events. Call inside the transaction of the change being audited."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from .models import AuditAction, AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who is acting: the user, the device they act from (if any) and their address."""

    user: Any  # accounts.User; Any keeps this module free of an import cycle
    device: Any = None
    ip: str | None = None

    @property
    def ref(self) -> str:
        return f"u:{self.user.pk}"


def audit_record(
    *,
    actor: Actor | None,
    action: AuditAction | str,
    object_type: str = "",
    object_id: str = "",
    case_id: str = "",
    detail: Mapping[str, Any] | None = None,
    username: str | None = None,
) -> AuditEvent:
    """Append one audit event. ``detail`` must hold identifiers and names, never case content."""
    user = actor.user if actor else None
    return AuditEvent.objects.create(
        at=timezone.now(),
        actor=user,
        actor_username=username if username is not None else (user.username if user else ""),
        device=actor.device if actor else None,
        action=str(action),
        object_type=object_type,
        object_id=object_id,
        case_id=case_id,
        detail=dict(detail or {}),
        ip=actor.ip if actor else None,
    )


def audit_record_many(
    *,
    actor: Actor,
    action: AuditAction | str,
    items: Iterable[tuple[str, str, str, Mapping[str, Any]]],
) -> None:
    """Append several events at once: ``items`` are ``(object_type, object_id, case_id, detail)``."""
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                at=now,
                actor=actor.user,
                actor_username=actor.user.username,
                device=actor.device,
                action=str(action),
                object_type=object_type,
                object_id=object_id,
                case_id=case_id,
                detail=dict(detail),
                ip=actor.ip,
            )
            for object_type, object_id, case_id, detail in items
        ]
    )
