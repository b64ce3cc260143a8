"""Who is acting (user, device, address): named by every service and audit event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    """Who is acting: the user, the device they act from (if any) and their address."""

    user: Any  # accounts.User; Any keeps ``common`` free of imports from the apps above it
    device: Any = None
    ip: str | None = None

    @property
    def ref(self) -> str:
        return f"u:{self.user.pk}"
