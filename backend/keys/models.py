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
