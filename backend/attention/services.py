"""Dismissing a "For your attention" item."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from backend.accounts.models import User
from backend.common.errors import NotFound

from .models import Dismissal
from .selectors import attention_items


@transaction.atomic
def attention_dismiss(*, user: User, item_id: str, now: datetime | None = None) -> None:
    """Dismiss one of the user's items (dismissing it again changes nothing). Raises NotFound
    for an id that is not one of their items."""
    if Dismissal.objects.filter(user=user, item=item_id).exists():
        return
    if item_id not in {item.id for item in attention_items(user)}:
        raise NotFound("item")
    Dismissal.objects.create(user=user, item=item_id, dismissed_at=now or timezone.now())
