from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from backend.audit.services import Actor

from .models import Device, Team, TeamManager, User
from .services import team_manager_add, team_manager_remove


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

    def save_formset(self, request: Any, form: Any, formset: Any, change: bool) -> None:
        """Managers added or removed here go through the services, so the change takes a
        sequence number (devices pick up the team's cases, or are told to purge them), keys
        are withdrawn and rotated, and the change is audited with the admin as actor."""
        if formset.model is not TeamManager:
            super().save_formset(request, form, formset, change)
            return
        actor = Actor(user=request.user, ip=request.META.get("REMOTE_ADDR"))
        instances = formset.save(commit=False)
        for removed in formset.deleted_objects:
            team_manager_remove(team=removed.team, user=removed.user, actor=actor)
        for manager in instances:
            if manager.pk is None:
                team_manager_add(team=form.instance, user=manager.user, actor=actor)
            else:  # a row edited to name someone else: the old manager leaves, the new one joins
                previous = TeamManager.objects.get(pk=manager.pk)
                if previous.user_id != manager.user_id:
                    team_manager_remove(team=previous.team, user=previous.user, actor=actor)
                    team_manager_add(team=form.instance, user=manager.user, actor=actor)


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
