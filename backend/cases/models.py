"""A case's relational projection and its allocation history (authorisation data)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CaseType(models.TextChoices):
    EARLY_HELP = "early_help", "Early help"
    CHILD_IN_NEED = "child_in_need", "Child in need"
    CHILD_PROTECTION = "child_protection", "Child protection"
    LOOKED_AFTER = "looked_after", "Looked after child"


class Case(models.Model):
    """Projection of a ``case`` document plus its team; ``id`` equals the document id."""

    id = models.CharField(max_length=40, primary_key=True)
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="cases")
    case_number = models.CharField(max_length=20, unique=True)
    case_type = models.CharField(max_length=30, choices=CaseType.choices)
    status = models.CharField(max_length=10, default="open", db_index=True)
    visit_frequency_days = models.PositiveSmallIntegerField()
    opened_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)
    #: Date of the latest recorded visit (projection of visit documents).
    last_visit_on = models.DateField(null=True, blank=True)
    #: Live and deleted documents of the case (projection; replication's db info sums them).
    doc_count = models.PositiveIntegerField(default=0)
    deleted_doc_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["case_number"]

    def __str__(self) -> str:
        return self.case_number


class Allocation(models.Model):
    """One user's allocation to a case; never deleted, ended instead (history)."""

    class Role(models.TextChoices):
        LEAD = "lead", "Lead practitioner"
        CO_WORKER = "co_worker", "Co-worker"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="allocations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="allocations")
    role = models.CharField(max_length=10, choices=Role.choices)
    #: Global sequence number of the change that started / ended this allocation.
    started_seq = models.BigIntegerField(db_index=True)
    ended_seq = models.BigIntegerField(null=True, blank=True, db_index=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["user", "ended_seq"]),
            models.Index(fields=["case", "ended_seq"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "user"],
                condition=models.Q(ended_seq__isnull=True),
                name="one_live_allocation",
            )
        ]

    @property
    def active(self) -> bool:
        return self.ended_seq is None
