"""Which "For your attention" items a user has dismissed (the items themselves are derived)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Dismissal(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    #: The item's stable key (``returned:t01…``, ``decision:12``, ``addendum:<id>:open`` …).
    item = models.CharField(max_length=120)
    dismissed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "item"], name="one_dismissal_per_item")]
