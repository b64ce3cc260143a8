"""Versioned per-case data keys, stored only wrapped by the server keyring."""

from __future__ import annotations

from django.db import models


class CaseKey(models.Model):
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="keys")
    version = models.PositiveIntegerField()
    #: ``Keyring.wrap`` output; names the key-encryption key that wrapped it.
    wrapped = models.TextField()
    created_at = models.DateTimeField()
    #: Set when a newer version replaced it for writes; old versions still decrypt old bodies.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "version"], name="one_key_per_version")]
        ordering = ["case", "version"]

    @property
    def kid(self) -> str:
        return f"{self.case_id}#{self.version}"


class KeyEnvelope(models.Model):
    """A case key version wrapped for one enrolled device; travels in that device's feed only.

    ``generation`` counts issues and withdrawals so the envelope document's revisions always
    extend each other (issue → 1, withdrawn → 2, issued again → 3 …).
    """

    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE, related_name="key_envelopes")
    case_key = models.ForeignKey(CaseKey, on_delete=models.CASCADE, related_name="envelopes")
    case_id = models.CharField(max_length=40, db_index=True)
    generation = models.PositiveIntegerField(default=1)
    #: Global sequence of the latest issue / withdrawal of this envelope.
    seq = models.BigIntegerField()
    withdrawn = models.BooleanField(default=False)
    envelope = models.JSONField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "case_key"], name="one_envelope_per_device_key")
        ]
        indexes = [models.Index(fields=["device", "seq"])]
