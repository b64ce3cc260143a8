"""Conflicts the merge rules could not decide, waiting for a supervisor."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ConflictItem(models.Model):
    """One undecided field of one document. The competing values are case data, so they are
    stored encrypted under the case key (``values_enc``), never in clear."""

    document = models.ForeignKey("records.Document", on_delete=models.PROTECT, related_name="conflicts")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="conflicts")
    #: Dotted path of the field (``risk_level``, ``actions[a1].owner``) or ``(document)``.
    field = models.CharField(max_length=200)
    rule = models.CharField(max_length=20)
    #: The merged revision that showed the safe value while this waits.
    merged_rev = models.CharField(max_length=80)
    #: Authors, times, revs and devices of each candidate (no values).
    candidates = models.JSONField()
    #: ``encrypt_body({"base": …, "values": [...]})`` under the case key.
    values_enc = models.JSONField()
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_rev = models.CharField(max_length=80, blank=True)

    class Meta:
        indexes = [models.Index(fields=["case", "decided_at"])]
