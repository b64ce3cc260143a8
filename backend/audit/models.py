"""Audit events: append-only (no API updates or deletes; database triggers refuse UPDATE)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    LOGIN = "login", "Login"
    LOGIN_FAILED = "login_failed", "Failed login"
    LOGOUT = "logout", "Logout"
    LOGIN_UNLOCK = "login_unlock", "Sign-in back-off cleared by an admin"
    READ = "read", "Read case data"
    READ_DENIED = "read_denied", "Access outside scope"
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    MERGE = "merge", "Merge of concurrent edits"
    CONFLICT_DECIDED = "conflict_decided", "Conflict decided"
    SUBMIT = "submit", "Visit submitted"
    SIGN_OFF = "sign_off", "Visit signed off"
    RETURN = "return", "Visit returned"
    ADDENDUM = "addendum", "Addendum created"
    ALLOCATE = "allocate", "Allocation added"
    DEALLOCATE = "deallocate", "Allocation ended"
    CASE_CLOSE = "case_close", "Case closed"
    SYNC_PULL = "sync_pull", "Sync pull of case data"
    SYNC_PUSH = "sync_push", "Sync push of case data"
    SYNC_REFUSED = "sync_refused", "Replicated write refused"
    LATE_EDIT = "late_edit", "Offline edit accepted after access ended"
    DEVICE_ENROL = "device_enrol", "Device enrolled"
    DEVICE_RETIRE = "device_retire", "Device retirement ordered"
    DEVICE_REVOKE = "device_revoke", "Device revoked"
    DEVICE_READMIT = "device_readmit", "Revoked device re-admitted"
    DEVICE_WIPE = "device_wipe", "Device wipe ordered"
    DEVICE_WIPED = "device_wiped", "Device wipe confirmed"
    DEVICE_DISCARD = "device_discard", "Unsent work discarded on a device"
    KEY_ISSUE = "key_issue", "Case key issued to device"
    KEY_REVOKE = "key_revoke", "Case key envelope revoked"
    KEY_ROTATE = "key_rotate", "Case key rotated"
    KEYRING_ROTATE = "keyring_rotate", "Server keyring rotated"
    EXPORT = "export", "Records exported"
    ADMIN_EDIT = "admin_edit", "Changed in Django admin"


class AuditEvent(models.Model):
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    #: Kept even if the account is renamed; failed logins record the name that was tried.
    actor_username = models.CharField(max_length=150, blank=True)
    device = models.ForeignKey(
        "accounts.Device", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=30, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(max_length=30, blank=True)
    object_id = models.CharField(max_length=80, blank=True, db_index=True)
    case_id = models.CharField(max_length=40, blank=True, db_index=True)
    #: Identifiers, revisions, field *names* and counts only — never case content.
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["actor", "at"]), models.Index(fields=["action", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_username} {self.action} {self.object_id}"
