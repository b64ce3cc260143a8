from django.contrib import admin

from backend.common.admin import ReadOnlyAdmin

from .models import Allocation, Case


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    """Read-only view of the case projection; cases change through the API so that every
    change is a revision with an audit event."""

    list_display = ["case_number", "case_type", "status", "team", "last_visit_on"]
    list_filter = ["case_type", "status", "team"]


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    """Read-only: allocations start and end through cases.services (audited, keys issued and withdrawn)."""

    list_display = ["case", "user", "role", "started_at", "ended_at"]
