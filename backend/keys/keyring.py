"""Loading the server keyring: ``DOORSTEP_KEYRING`` (JSON), else the key file, else a dev key."""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sync import Keyring

logger = logging.getLogger("doorstep.keys")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


@lru_cache(maxsize=1)
def server_keyring() -> Keyring:
    """The keyring that wraps every case key; cached per process (``reset_keyring`` clears)."""
    if settings.DOORSTEP_KEYRING:
        return Keyring.from_json(settings.DOORSTEP_KEYRING)
    path = Path(settings.DOORSTEP_KEY_FILE)
    if path.exists():
        return Keyring.from_json(path.read_text())
    if settings.DOORSTEP_REQUIRE_KEYRING:
        raise ImproperlyConfigured(
            "no server keyring: set DOORSTEP_KEYRING or DOORSTEP_KEY_FILE (see docs/operations.md)"
        )
    keyring = Keyring.generate(kek_id="dev1")
    try:
        _write_private(path, keyring.to_json())
        logger.warning("generated a development keyring at %s; production must supply its own", path)
    except FileExistsError:  # another process won the race; use theirs
        return Keyring.from_json(path.read_text())
    return keyring


def reset_keyring() -> None:
    server_keyring.cache_clear()
