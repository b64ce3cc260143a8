"""Writing audit events. Call inside the transaction of the change being audited."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection
from django.utils import timezone

from backend.common.actors import Actor

from .models import AuditAction, AuditEvent


def audit_record(
    *,
    actor: Actor | None,
    action: AuditAction | str,
    object_type: str = "",
    object_id: str = "",
    case_id: str = "",
    detail: Mapping[str, Any] | None = None,
    username: str | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one audit event. ``detail`` must hold identifiers and names, never case content.
    ``username`` and ``ip`` stand in for an actor there is not (a failed sign-in)."""
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
        ip=actor.ip if actor else ip,
    )


def audit_record_many(
    *,
    actor: Actor,
    action: AuditAction | str,
    items: Iterable[tuple[str, str, str, Mapping[str, Any]]],
) -> None:
    """Append several events at once: ``items`` are ``(object_type, object_id, case_id, detail)``.

    One multi-row INSERT written here rather than by ``bulk_create``: a pull batch audits one
    event per case it touched (often dozens), and the ORM's per-field preparation of those rows
    cost more than the rest of serving the batch. The values are prepared by the model's own
    fields, so what lands is exactly what ``bulk_create`` would store.
    """
    rows = list(items)
    if not rows:
        return
    fields = _insert_fields()
    names = [field.name for field in fields]
    common = {
        "at": timezone.now(),
        "actor": actor.user.pk,
        "actor_username": actor.user.username,
        "device": actor.device.pk if actor.device is not None else None,
        "action": str(action),
        "ip": actor.ip,
    }
    # The row-invariant values are prepared once; per row only the object and its detail.
    prepared = {
        field.name: field.get_db_prep_save(common[field.name], connection)
        for field in fields
        if field.name in common
    }
    detail_field = AuditEvent._meta.get_field("detail")
    params: list[Any] = []
    for object_type, object_id, case_id, detail in rows:
        row = {
            **prepared,
            "object_type": object_type,
            "object_id": object_id,
            "case_id": case_id,
            "detail": detail_field.get_db_prep_save(dict(detail), connection),
        }
        params.extend(row[name] for name in names)
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    for start in range(0, len(rows), 200):
        chunk = len(rows[start : start + 200])
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * chunk)}",
                params[start * len(fields) : (start + chunk) * len(fields)],
            )


@functools.cache
def _insert_fields() -> tuple[Any, ...]:
    names = ("at", "actor", "actor_username", "device", "action", "object_type", "object_id", "case_id",
             "detail", "ip")  # fmt: skip
    return tuple(AuditEvent._meta.get_field(name) for name in names)
