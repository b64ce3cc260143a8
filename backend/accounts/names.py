"""People, devices and dates as a person reads them: names and roles, never ids or ISO times."""

from __future__ import annotations

from collections.abc import Iterable
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


def users_by_ref(refs: Iterable[Any]) -> dict[str, User]:
    """Users named by ``u:<id>`` references (unknown or malformed ones are left out)."""
    ids = {int(r[2:]) for r in refs if isinstance(r, str) and r.startswith("u:") and r[2:].isdigit()}
    return {u.ref: u for u in User.objects.filter(pk__in=ids)}


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
