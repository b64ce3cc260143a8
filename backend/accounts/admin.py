from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Device, Team, TeamManager, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "first_name", "last_name", "role", "job_title", "is_active"]
    list_filter = ["role", "is_active"]
    fieldsets = (*BaseUserAdmin.fieldsets, ("Doorstep", {"fields": ("role", "job_title")}))


class TeamManagerInline(admin.TabularInline):
    model = TeamManager
    extra = 0
    readonly_fields = ["started_seq"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "service"]
    filter_horizontal = ["members"]
    inlines = [TeamManagerInline]


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "status", "app_version", "enrolled_at", "last_sync_at"]
    list_filter = ["status"]
    readonly_fields = [
        "public_key",
        "enrolled_at",
        "last_seen_at",
        "last_sync_at",
        "revoked_at",
        "wipe_ordered_at",
        "wiped_at",
    ]
