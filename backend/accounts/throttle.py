"""Sign-in throttling per account and source address with exponential back-off, for every channel.

Why a small service of our own rather than a library (django-axes, django-defender): the
attempt must be counted *before* its password is checked, under a row lock, or concurrent
guesses all pass the check at once (issue 10 item 4) — the libraries count after the fact; and
the trail of failures is the project's own audit trail (``login_failed`` events), not a second
log in another table.

The rules, per (username as typed, source address):

- the first ``DOORSTEP_LOGIN_FAILURES_ALLOWED`` attempts are free;
- from then on each counted attempt blocks the next for ``DOORSTEP_LOGIN_BACKOFF_SECONDS``,
  doubling each time, at most ``DOORSTEP_LOGIN_BACKOFF_MAX_SECONDS``; an attempt while blocked
  is refused unchecked (even with the right password);
- a success clears the count for that source; so does a quiet spell of
  ``DOORSTEP_LOGIN_FAILURE_WINDOW_MINUTES`` after the last attempt or block; an admin clears
  every source at once (``login_unlock``).

Guessing from one address therefore slows only that address: nobody can lock a colleague (or
the only admin) out from somewhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db import transaction
from django.utils import timezone

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.common.errors import ApplicationError, ErrorCode

from .models import LoginThrottle, User

#: Rows untouched this long (and not blocking anything) are deleted after a success.
_STALE = timedelta(days=1)


class LoginThrottled(ApplicationError):
    """Refused unchecked: too many recent attempts for this account from this address."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            ErrorCode.THROTTLED,
            "too many failed sign-ins for this account from this address; "
            f"try again in {retry_after_seconds} seconds or ask an admin to unlock it",
            extra={"retry_after_seconds": retry_after_seconds},
        )
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class Attempt:
    """Who is signing in, from where, through which channel (``token``, ``admin``, ``sync-basic``)."""

    username: str
    source: str
    via: str


def _backoff(counted: int) -> timedelta | None:
    over = counted - settings.DOORSTEP_LOGIN_FAILURES_ALLOWED
    if over < 0:
        return None
    seconds = settings.DOORSTEP_LOGIN_BACKOFF_SECONDS * 2 ** min(over, 32)
    return timedelta(seconds=min(seconds, settings.DOORSTEP_LOGIN_BACKOFF_MAX_SECONDS))


def _wait(blocked_until: datetime, now: datetime) -> int:
    return max(1, math.ceil((blocked_until - now).total_seconds()))


def _quiet(row: LoginThrottle, now: datetime) -> bool:
    since = max(row.last_attempt_at, row.blocked_until or row.last_attempt_at)
    return now - since >= timedelta(minutes=settings.DOORSTEP_LOGIN_FAILURE_WINDOW_MINUTES)


@transaction.atomic
def _count_attempt(attempt: Attempt, now: datetime) -> int:
    """Count ``attempt`` before its password is checked (so it counts even if the check never
    finishes) and return how many are counted; raises LoginThrottled while blocked. The row lock
    makes concurrent attempts take their turn: each sees the ones before it."""
    LoginThrottle.objects.bulk_create(
        [LoginThrottle(username=attempt.username, source=attempt.source, last_attempt_at=now)],
        ignore_conflicts=True,
    )
    row = LoginThrottle.objects.select_for_update().get(username=attempt.username, source=attempt.source)
    if row.blocked_until is not None and now < row.blocked_until:
        raise LoginThrottled(_wait(row.blocked_until, now))
    if _quiet(row, now):
        row.failures = 0
    row.failures += 1
    row.last_attempt_at = now
    backoff = _backoff(row.failures)
    row.blocked_until = now + backoff if backoff is not None else None
    row.save(update_fields=["failures", "last_attempt_at", "blocked_until"])
    return row.failures


def login_check(*, attempt: Attempt, password: str, now: datetime | None = None) -> User | None:
    """The active user ``attempt.username`` if ``password`` is theirs, else None (audited as
    ``login_failed`` with the channel and address). Raises LoginThrottled — without checking
    the password — while the account is blocked for this address."""
    now = now or timezone.now()
    username = attempt.username[:150]
    attempt = Attempt(username=username, source=attempt.source, via=attempt.via)
    counted = _count_attempt(attempt, now)
    user = ModelBackend().authenticate(None, username=username, password=password)
    if user is None:
        audit_record(
            actor=None,
            action=AuditAction.LOGIN_FAILED,
            username=username,
            ip=attempt.source or None,
            detail={"via": attempt.via, "attempts": counted},
        )
        return None
    LoginThrottle.objects.filter(username=username, source=attempt.source).delete()
    # Names tried long ago (guesses at accounts that do not exist, mostly) are forgotten here,
    # outside any row lock, so the table does not grow with every name ever tried.
    LoginThrottle.objects.filter(last_attempt_at__lt=now - _STALE).exclude(blocked_until__gt=now).delete()
    return user


def login_blocked(*, username: str, source: str, now: datetime | None = None) -> LoginThrottled | None:
    """The refusal a sign-in by ``username`` from ``source`` would get now, if any (for
    credentials a channel has already checked and keeps, like Basic on /sync)."""
    now = now or timezone.now()
    blocked_until = (
        LoginThrottle.objects.filter(username=username[:150], source=source, blocked_until__gt=now)
        .values_list("blocked_until", flat=True)
        .first()
    )
    return None if blocked_until is None else LoginThrottled(_wait(blocked_until, now))


@transaction.atomic
def login_unlock(*, actor: Actor, user: User) -> int:
    """Clear the back-off of ``user``'s account from every address (an admin's decision,
    audited); returns how many addresses were cleared."""
    cleared, _ = LoginThrottle.objects.filter(username=user.username).delete()
    audit_record(
        actor=actor,
        action=AuditAction.LOGIN_UNLOCK,
        object_type="user",
        object_id=str(user.pk),
        detail={"username": user.username, "sources_cleared": cleared},
    )
    return cleared
