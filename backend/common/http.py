"""Small request helpers shared by the API views."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from .actors import Actor


def client_ip(request: Any) -> str | None:
    # Behind the reverse proxy (deploy/), REMOTE_ADDR is the proxy; it sets X-Forwarded-For.
    # Only trust it when configured to, which deploy/ does; here we keep the socket peer.
    meta = request.META
    return meta.get("REMOTE_ADDR") or None


def actor_of(request: Request) -> Actor:
    """The acting user, their device (device tokens) and address."""
    token = request.auth
    device = getattr(token, "device", None)
    return Actor(user=request.user, device=device, ip=client_ip(request))
