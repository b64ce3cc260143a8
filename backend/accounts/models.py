"""Users with a role, teams, enrolled devices and hashed API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from backend.common.roles import Role

__all__ = ["AuthToken", "Device", "LoginThrottle", "ManagementEnd", "Role", "Team", "TeamManager", "User"]


class User(AbstractUser):
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PRACTITIONER)
    job_title = models.CharField(max_length=100, blank=True)

    @property
    def ref(self) -> str:
        """How documents name this user (``author``, ``updated_by``): ``u:<id>``."""
        return f"u:{self.pk}"

    @property
    def is_admin_role(self) -> bool:
        return self.role == Role.ADMIN


class Team(models.Model):
    class Service(models.TextChoices):
        EARLY_HELP = "early_help", "Early help"
        CHILD_IN_NEED = "child_in_need", "Child in need"
        CHILD_PROTECTION = "child_protection", "Child protection"
        LOOKED_AFTER = "looked_after", "Looked after children"

    name = models.CharField(max_length=100, unique=True)
    service = models.CharField(max_length=30, choices=Service.choices)
    members = models.ManyToManyField(User, related_name="teams", blank=True)
    managers = models.ManyToManyField(User, related_name="managed_teams", blank=True, through="TeamManager")

    def __str__(self) -> str:
        return self.name


class TeamManager(models.Model):
    """A supervisor managing a team, from global sequence ``started_seq`` (their devices pick up
    the team's older documents from then on)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    started_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_manager_row")]


class ManagementEnd(models.Model):
    """A supervisor stopped managing a team at global sequence ``ended_seq``: their devices are
    sent a purge signal for the team's cases (the history ``TeamManager`` rows do not keep)."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    ended_seq = models.BigIntegerField()
    ended_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "ended_seq"])]


class Device(models.Model):
    """A tablet or client enrolled by a user with its X25519 public key."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRING = "retiring", "Retiring (sending, then erasing)"
        REVOKED = "revoked", "Revoked (locked, data kept sealed)"
        WIPE_PENDING = "wipe_pending", "Wipe ordered"
        WIPED = "wiped", "Wiped"

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="devices")
    name = models.CharField(max_length=100)
    public_key = models.CharField(max_length=64, help_text="X25519 public key, base64 (32 bytes)")
    app_version = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    enrolled_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    retire_ordered_at = models.DateTimeField(null=True, blank=True)
    #: What the device said at its last check-in: how many documents it had not sent yet.
    unsent_reported = models.PositiveIntegerField(null=True, blank=True)
    unsent_reported_at = models.DateTimeField(null=True, blank=True)
    wipe_ordered_at = models.DateTimeField(null=True, blank=True)
    wiped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.user.username})"


class AuthToken(models.Model):
    """An API token; only its SHA-256 is stored. ``device`` set → a device token."""

    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tokens")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, null=True, blank=True, related_name="tokens")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"])]


class LoginThrottle(models.Model):
    """Sign-in attempts for one username from one source address: the back-off state every
    channel (REST token, admin form, Basic on /sync) takes under a row lock before it checks a
    password (``backend/accounts/throttle.py``). Kept per address so that guessing from one
    place cannot lock the account everywhere."""

    username = models.CharField(max_length=150)
    #: The client's IP address; "" when the channel has none.
    source = models.CharField(max_length=45, blank=True)
    #: Attempts counted since the last success or the last quiet window (in flight included).
    failures = models.PositiveIntegerField(default=0)
    blocked_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["username", "source"], name="one_throttle_per_source")]
        indexes = [models.Index(fields=["last_attempt_at"])]
