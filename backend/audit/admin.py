from django.contrib import admin

from backend.common.admin import ReadOnlyAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the audit trail is append-only."""

    list_display = ["at", "actor_username", "action", "object_type", "object_id", "case_id"]
    list_filter = ["action"]
    search_fields = ["actor_username", "object_id", "case_id"]
