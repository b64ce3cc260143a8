"""Replication state kept per device (or per user without a device): ``_local`` checkpoints."""

from __future__ import annotations

from django.db import models


class LocalDoc(models.Model):
    """A ``_local/{id}`` document; never replicated, never in the feed."""

    #: ``d:<device id>`` for device tokens, ``u:<user id>`` otherwise.
    owner = models.CharField(max_length=40)
    doc_id = models.CharField(max_length=250)
    rev = models.CharField(max_length=40)
    body = models.JSONField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "doc_id"], name="one_local_doc")]
