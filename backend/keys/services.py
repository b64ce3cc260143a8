"""Case data keys: create, look up by kid, rotate, and re-wrap under a rotated keyring."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from backend.audit.models import AuditAction
from backend.audit.services import Actor, audit_record
from sync import generate_data_key, kid_for, parse_kid

from .keyring import server_keyring
from .models import CaseKey

# Unwrapped keys by kid. A kid's key never changes (rotation makes a new version, keyring
# rotation re-wraps the same key), so this cache cannot go stale; it only ever grows by one
# entry per case key version.
_unwrapped: dict[str, bytes] = {}


def _aad(kid: str) -> bytes:
    return f"doorstep.casekey.v1\n{kid}".encode()


def case_key_create(*, case_id: str, now: datetime | None = None) -> CaseKey:
    """Create the next key version for ``case_id`` (version 1 for a new case)."""
    now = now or timezone.now()
    latest = CaseKey.objects.filter(case_id=case_id).order_by("-version").first()
    version = latest.version + 1 if latest else 1
    if latest is not None:
        CaseKey.objects.filter(pk=latest.pk).update(retired_at=now)
    kid = kid_for(case_id, version)
    key = generate_data_key()
    cache = _current_cache.get()
    if cache is not None:
        cache.pop(case_id, None)
    case_key = CaseKey.objects.create(
        case_id=case_id,
        version=version,
        wrapped=server_keyring().wrap(key, aad=_aad(kid)),
        created_at=now,
    )
    _unwrapped[kid] = key
    return case_key


_current_cache: ContextVar[dict[str, tuple[str, bytes]] | None] = ContextVar(
    "doorstep_current_keys", default=None
)


@contextmanager
def current_keys_cached() -> Iterator[None]:
    """Within this block (one request's batch, inside its transaction) remember each case's
    current key after the first lookup. Never longer: another process may rotate a key."""
    token = _current_cache.set({})
    try:
        yield
    finally:
        _current_cache.reset(token)


def remember_current_keys(current: dict[str, tuple[str, str]]) -> None:
    """Inside ``current_keys_cached``: record ``{case_id: (kid, wrapped key)}`` as each case's
    current key, read by the caller in the same transaction (no-op outside such a block)."""
    cache = _current_cache.get()
    if cache is None:
        return
    for case_id, (kid, wrapped) in current.items():
        cache[case_id] = (kid, case_key_by_kid(kid=kid, wrapped=wrapped))


def case_key_current(*, case_id: str) -> tuple[str, bytes]:
    """The kid and key new bodies of ``case_id`` are encrypted with."""
    cache = _current_cache.get()
    if cache is not None and case_id in cache:
        return cache[case_id]
    case_key = CaseKey.objects.filter(case_id=case_id).order_by("-version").first()
    if case_key is None:
        case_key = case_key_create(case_id=case_id)
    current = case_key.kid, case_key_by_kid(kid=case_key.kid, wrapped=case_key.wrapped)
    if cache is not None:
        cache[case_id] = current
    return current


def case_key_by_kid(*, kid: str, wrapped: str | None = None) -> bytes:
    """The key for ``kid``; raises ``CaseKey.DoesNotExist`` for a kid the server never issued."""
    key = _unwrapped.get(kid)
    if key is not None:
        return key
    if wrapped is None:
        case_id, version = parse_kid(kid)
        wrapped = CaseKey.objects.get(case_id=case_id, version=version).wrapped
    key = server_keyring().unwrap(wrapped, aad=_aad(kid))
    _unwrapped[kid] = key
    return key


@transaction.atomic
def case_key_rotate(*, case_id: str, actor: Actor | None, reason: str) -> CaseKey:
    """Start a new key version for future writes (after someone loses access to the case)."""
    case_key = case_key_create(case_id=case_id)
    audit_record(
        actor=actor,
        action=AuditAction.KEY_ROTATE,
        object_type="case_key",
        object_id=case_key.kid,
        case_id=case_id,
        detail={"reason": reason},
    )
    return case_key


@transaction.atomic
def keyring_rewrap_all(*, actor: Actor | None = None) -> int:
    """Re-wrap every case key under the keyring's primary KEK; documents are untouched."""
    keyring = server_keyring()
    count = 0
    for case_key in CaseKey.objects.select_for_update().order_by("pk"):
        if keyring.needs_rewrap(case_key.wrapped):
            case_key.wrapped = keyring.rewrap(case_key.wrapped, aad=_aad(case_key.kid))
            case_key.save(update_fields=["wrapped"])
            count += 1
    audit_record(
        actor=actor,
        action=AuditAction.KEYRING_ROTATE,
        object_type="keyring",
        detail={"rewrapped": count},
    )
    return count


def forget_cached_keys() -> None:
    """Drop unwrapped keys from memory (tests; after a keyring change)."""
    _unwrapped.clear()
