from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from backend.audit.admin_log import AuditedAdmin
from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.common.admin import ReadOnlyAdmin
from backend.common.errors import ApplicationError
from backend.common.http import client_ip

from .devices import device_move
from .models import Device, Team, TeamManager, User
from .services import team_manager_add, team_manager_remove
from .throttle import LoginThrottled, login_unlock


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin sign-in form: the password check is the throttled backend's
    (``backends.ThrottledModelBackend``), a block is shown as a form error, and a sign-in is
    audited like a token login."""

    def clean(self) -> dict[str, Any]:
        try:
            cleaned: dict[str, Any] = super().clean()
        except LoginThrottled as exc:
            raise forms.ValidationError(
                "Too many failed sign-ins for this account from this address. Try again in "
                f"{exc.retry_after_seconds} seconds, or ask another admin to unlock it.",
                code="throttled",
            ) from None
        user = self.get_user()
        audit_record(
            actor=Actor(user=user, ip=client_ip(self.request)),
            action=AuditAction.LOGIN,
            detail={"via": "admin"},
        )
        return cleaned


admin.site.login_form = ThrottledAdminLoginForm


@admin.register(User)
class UserAdmin(AuditedAdmin, BaseUserAdmin):
    """Users, roles and passwords: every change made here is an ``admin_edit`` audit event."""

    list_display = ["username", "first_name", "last_name", "role", "job_title", "is_active"]
    list_filter = ["role", "is_active"]
    fieldsets = (*BaseUserAdmin.fieldsets, ("Doorstep", {"fields": ("role", "job_title")}))
    actions = ["unlock_sign_in"]

    @admin.action(description="Clear the sign-in back-off of the selected accounts (audited)")
    def unlock_sign_in(self, request: Any, queryset: Any) -> None:
        """What ``POST /api/users/{id}/unlock/`` does, for each selected account."""
        actor = Actor(user=request.user, ip=client_ip(request))
        cleared = sum(login_unlock(actor=actor, user=user) for user in queryset.order_by("pk"))
        self.message_user(request, f"Sign-in back-off cleared ({cleared} addresses).", messages.SUCCESS)


class TeamManagerInline(admin.TabularInline):
    model = TeamManager
    extra = 0
    readonly_fields = ["started_seq"]


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    """Teams and their members (audited as ``admin_edit``); managers change through the services."""

    list_display = ["name", "service"]
    filter_horizontal = ["members"]
    inlines = [TeamManagerInline]

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        # Deleting a team would drop its managers behind team_manager_remove's back.
        return False

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


def _device_action(move: str, label: str) -> Any:
    """An admin action applying lifecycle ``move`` through ``device_move`` (audited, with the
    admin as actor); a move a device cannot take is reported, and the others still happen."""

    def action(modeladmin: admin.ModelAdmin, request: Any, queryset: Any) -> None:
        actor = Actor(user=request.user, ip=request.META.get("REMOTE_ADDR"))
        for device in queryset.order_by("pk"):
            try:
                device_move(actor=actor, device_id=device.pk, move=move)
            except ApplicationError as exc:
                modeladmin.message_user(request, f"{device.name}: {exc.message}", messages.ERROR)
            else:
                modeladmin.message_user(request, f"{device.name}: {label.lower()}", messages.SUCCESS)

    action.__name__ = f"device_{move}"
    return admin.action(description=label)(action)


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    """Read-only: a device's status, user and tokens change only through ``accounts.devices``
    (the actions below), so every change is audited and timestamped."""

    list_display = [
        "name",
        "user",
        "status",
        "last_sync_at",
        "unsent_reported",
        "unsent_reported_at",
        "app_version",
        "enrolled_at",
    ]
    list_filter = ["status"]
    actions = [
        _device_action("retire", "Retire: send what it holds, then erase itself"),
        _device_action("revoke", "Revoke: stop its tokens, keep its data locked"),
        _device_action("readmit", "Re-admit a revoked device"),
        _device_action("wipe", "Wipe: erase at next contact"),
    ]
