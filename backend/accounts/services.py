"""Login, logout and token issue; every outcome is audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from backend.common.errors import ApplicationError, ErrorCode
from backend.common.sequence import next_seq

from .models import AuthToken, Device, ManagementEnd, Role, Team, TeamManager, User
from .throttle import Attempt, login_check
from .tokens import generate_token, hash_token


def token_issue(
    *, user: User, device: Device | None = None, now: datetime | None = None
) -> tuple[str, AuthToken]:
    """Create a token for ``user`` (a device token when ``device`` is given); returns the secret once."""
    now = now or timezone.now()
    if device is None:
        ttl = timedelta(hours=settings.DOORSTEP_TOKEN_TTL_HOURS)
    else:
        ttl = timedelta(days=settings.DOORSTEP_DEVICE_TOKEN_TTL_DAYS)
    secret = generate_token()
    token = AuthToken.objects.create(
        key_hash=hash_token(secret),
        prefix=secret[:8],
        user=user,
        device=device,
        created_at=now,
        expires_at=now + ttl,
    )
    return secret, token


def user_login(
    *, username: str, password: str, ip: str | None, now: datetime | None = None
) -> tuple[str, AuthToken]:
    """Check credentials and issue a token.

    Raises ``LoginThrottled`` (THROTTLED) while the account is blocked for this address (see
    ``throttle.py``), and AUTHENTICATION_FAILED for a wrong username or password (without
    saying which). The attempt is counted, and a failure audited, whatever happens next.
    """
    now = now or timezone.now()
    user = login_check(
        attempt=Attempt(username=username, source=ip or "", via="token"), password=password, now=now
    )
    if user is None:
        raise ApplicationError(ErrorCode.AUTHENTICATION_FAILED, "wrong username or password")
    with transaction.atomic():
        secret, token = token_issue(user=user, now=now)
        user.last_login = now
        user.save(update_fields=["last_login"])
        audit_record(
            actor=Actor(user=user, ip=ip),
            action=AuditAction.LOGIN,
            object_type="token",
            object_id=token.prefix,
            detail={"via": "token"},
        )
    return secret, token


@transaction.atomic
def token_revoke(*, token: AuthToken, actor: Actor, now: datetime | None = None) -> None:
    """Revoke ``token`` (logout)."""
    token.revoked_at = now or timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action=AuditAction.LOGOUT, object_type="token", object_id=token.prefix)


@transaction.atomic
def team_manager_add(*, team: Team, user: User, actor: Actor | None = None) -> TeamManager:
    """Make ``user`` (a supervisor) a manager of ``team`` from the next global sequence number."""
    if user.role != Role.SUPERVISOR:
        raise ApplicationError(ErrorCode.INVALID_FIELD, "only supervisors can manage a team", field="user")
    manager, created = TeamManager.objects.get_or_create(
        team=team, user=user, defaults={"started_seq": next_seq()}
    )
    if created:
        audit_record(
            actor=actor,
            action=AuditAction.ALLOCATE,
            object_type="team_manager",
            object_id=str(team.pk),
            detail={"team": team.name, "user": user.username, "seq": manager.started_seq},
        )
    return manager


@transaction.atomic
def team_manager_remove(*, team: Team, user: User, actor: Actor | None = None) -> int | None:
    """``user`` no longer manages ``team``: as when an allocation ends, for every case of the
    team their devices' key envelopes are withdrawn and the case gets a new key version, and
    their feeds carry a purge signal (``ManagementEnd``). Returns the sequence number of the
    change, or None if they did not manage the team."""
    # cases and keys are built on accounts (their models name User, Team and Device); this one
    # service reaches up into them, so it imports them here rather than making accounts depend
    # on them at import time.
    from backend.cases.models import Case
    from backend.keys.envelopes import withdraw_envelopes
    from backend.keys.services import case_key_rotate

    seq = next_seq()  # the sequence lock first, as allocation changes take it
    deleted, _ = TeamManager.objects.filter(team=team, user=user).delete()
    if not deleted:
        return None
    now = timezone.now()
    ManagementEnd.objects.create(team=team, user=user, ended_seq=seq, ended_at=now)
    audit_record(
        actor=actor,
        action=AuditAction.DEALLOCATE,
        object_type="team_manager",
        object_id=str(team.pk),
        detail={"team": team.name, "user": user.username, "seq": seq},
    )
    for case_id in Case.objects.filter(team=team).order_by("id").values_list("id", flat=True):
        withdraw_envelopes(user=user, case_id=case_id, actor=actor, now=now)
        case_key_rotate(case_id=case_id, actor=actor, reason="team manager removed")
    return seq
