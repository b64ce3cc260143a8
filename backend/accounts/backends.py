"""Django's password backend behind the sign-in throttle: whatever calls ``authenticate()`` (the
admin form, anything added later) is counted, throttled and audited like the REST and /sync logins."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from backend.common.http import client_ip

from .models import User
from .throttle import Attempt, login_check


def _via(request: HttpRequest | None) -> str:
    # The REST login and Basic on /sync call login_check themselves (naming their channel);
    # what reaches Django's authenticate() is the admin form, or something added later.
    path = getattr(request, "path", "") or ""
    return "admin" if path.startswith("/admin/") else "django"


class ThrottledModelBackend(ModelBackend):
    """``ModelBackend`` whose password check goes through ``throttle.login_check``.

    Raises ``LoginThrottled`` (an ApplicationError, not PermissionDenied) while the account is
    blocked for the caller's address, so ``authenticate()`` passes it on and each channel can
    say "wait" rather than "wrong password"; the admin login form turns it into a form error.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        source = (client_ip(request) if request is not None else None) or ""
        return login_check(
            attempt=Attempt(username=username, source=source, via=_via(request)), password=password
        )
