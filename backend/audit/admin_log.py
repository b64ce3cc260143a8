"""Django admin's own change log, written to the audit trail instead of only to its side table."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db import transaction

from backend.common.actors import Actor
from backend.common.http import client_ip

from .models import AuditAction
from .services import audit_record


class AuditedAdmin(admin.ModelAdmin):
    """Every add, change and delete made through this admin (the change form, inlines, the
    password form, bulk delete) is an ``admin_edit`` audit event naming the model, the object
    and the fields changed — Django admin calls ``log_*`` for each of them inside the request's
    transaction, so the change and its audit event are kept together."""

    def _audit(self, request: Any, obj: Any, change: str, message: Any) -> None:
        if isinstance(message, str):
            try:
                message = json.loads(message) if message else []
            except ValueError:
                message = [message]
        with transaction.atomic():
            audit_record(
                actor=Actor(user=request.user, ip=client_ip(request)),
                action=AuditAction.ADMIN_EDIT,
                object_type=obj._meta.model_name,
                object_id=str(obj.pk),
                detail={"change": change, "what": message},
            )

    def log_addition(self, request: Any, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "added", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request: Any, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "changed", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: Any, queryset: Any) -> Any:
        for obj in queryset:
            self._audit(request, obj, "deleted", [])
        return super().log_deletions(request, queryset)
