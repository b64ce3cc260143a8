"""Read-only Django admin: for models whose every change must go through an audited service."""

from typing import Any

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and shows rows; adding, changing and deleting happen only through the services
    (admin actions that call them may be added), so no change escapes the audit trail."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
