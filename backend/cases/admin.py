from typing import Any

from django.contrib import admin

from .models import Allocation, Case


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    """Read-only view of the case projection; cases change through the API so that every
    change is a revision with an audit event."""

    list_display = ["case_number", "case_type", "status", "team", "last_visit_on"]
    list_filter = ["case_type", "status", "team"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    list_display = ["case", "user", "role", "started_at", "ended_at"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
