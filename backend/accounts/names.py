"""People, devices and dates as a person reads them: names and roles, never ids or ISO times."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any

from django.utils import timezone

from .models import Device, Role, Team, TeamManager, User


def person_name(user: User) -> str:
    return user.get_full_name().strip() or user.username


def person(user: User | None) -> dict[str, str] | None:
    """``{"id": "u:7", "name": "Lorraine Gray", "role": "supervisor"}``."""
    if user is None:
        return None
    return {"id": user.ref, "name": person_name(user), "role": user.role}


_cached: ContextVar[dict[str, User | None] | None] = ContextVar("doorstep_names", default=None)


@contextmanager
def names_cached() -> Iterator[None]:
    """Within this block ``users_by_ref`` asks the database once per user: a replication round
    that merges many documents names their authors with one query, not one per document."""
    token = _cached.set({})
    try:
        yield
    finally:
        _cached.reset(token)


def users_by_ref(refs: Iterable[Any]) -> dict[str, User]:
    """Users named by ``u:<id>`` references (unknown or malformed ones are left out)."""
    wanted = {r for r in refs if isinstance(r, str) and r.startswith("u:") and r[2:].isdigit()}
    cache = _cached.get()
    missing = wanted if cache is None else wanted - cache.keys()
    found: dict[str, User | None] = dict.fromkeys(missing)
    if missing:
        found.update({u.ref: u for u in User.objects.filter(pk__in={int(r[2:]) for r in missing})})
    if cache is not None:
        cache.update(found)
        found = {r: cache[r] for r in wanted}
    return {r: u for r, u in found.items() if u is not None}


def day(value: datetime | date | None, *, today: date | None = None) -> str:
    """``3 December`` in the council's time zone (with the year when it is not this year)."""
    if value is None:
        return "an unknown date"
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    today = today or timezone.localdate()
    text = f"{value.day} {value:%B}"
    return text if value.year == today.year else f"{text} {value.year}"


def moment(value: datetime | None) -> str:
    """``3 December 14:29`` in the council's time zone."""
    if value is None:
        return "an unknown time"
    return f"{day(value)} {timezone.localtime(value):%H:%M}"


def colleagues(user: User) -> tuple[list[User], list[Device]]:
    """The people ``user`` works with (members and managers of their teams, themselves
    included; admins: everyone) and those people's devices."""
    if user.role == Role.ADMIN:
        people = list(User.objects.order_by("last_name", "first_name", "username"))
    else:
        teams = set(Team.objects.filter(members=user).values_list("pk", flat=True))
        teams |= set(TeamManager.objects.filter(user=user).values_list("team_id", flat=True))
        ids = {user.pk}
        ids |= set(Team.members.through.objects.filter(team_id__in=teams).values_list("user_id", flat=True))
        ids |= set(TeamManager.objects.filter(team_id__in=teams).values_list("user_id", flat=True))
        people = list(User.objects.filter(pk__in=ids).order_by("last_name", "first_name", "username"))
    devices = list(Device.objects.filter(user__in=people).order_by("pk"))
    return people, devices
