"""``rotate_keyring``: add a new primary key-encryption key and re-wrap every case key under it.

Documents are not touched: only the (small) wrapped case keys change. With a key file the new
keyring is written back (old keys kept so anything not yet re-wrapped still opens); with
``DOORSTEP_KEYRING`` in the environment the new keyring JSON is printed for the operator to
install. ``--retire KEK_ID`` drops an old key once nothing is wrapped under it any more.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backend.keys.keyring import reset_keyring, server_keyring
from backend.keys.models import CaseKey
from backend.keys.services import forget_cached_keys, keyring_rewrap_all


class Command(BaseCommand):
    help = "Rotate the server keyring: new primary KEK, re-wrap all case keys (documents untouched)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--new-kek-id", help="Id of the new primary key (default: k<timestamp>).")
        parser.add_argument(
            "--retire", metavar="KEK_ID", help="Remove this old key after checking nothing uses it."
        )

    def _save(self, text: str) -> None:
        if settings.DOORSTEP_KEYRING:
            self.stdout.write("DOORSTEP_KEYRING is set in the environment; install this new value:")
            self.stdout.write(text)
            return
        path = Path(settings.DOORSTEP_KEY_FILE)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        tmp.replace(path)

    def handle(self, *args: Any, **options: Any) -> None:
        keyring = server_keyring()
        if options["retire"]:
            kek_id = options["retire"]
            if kek_id == keyring.primary_id:
                raise CommandError("cannot retire the primary key; rotate first")
            in_use = sum(
                1 for w in CaseKey.objects.values_list("wrapped", flat=True) if w.split(".")[1:2] == [kek_id]
            )
            if in_use:
                raise CommandError(
                    f"{in_use} case keys are still wrapped under {kek_id}; run rotate_keyring first"
                )
            self._save(keyring.without(kek_id).to_json())
            reset_keyring()
            self.stdout.write(self.style.SUCCESS(f"Retired key {kek_id}."))
            return
        new_id = options["new_kek_id"] or f"k{timezone.now():%Y%m%d%H%M%S}"
        if new_id in keyring.ids:
            raise CommandError(f"key id {new_id} already exists")
        rotated = keyring.with_new_primary(new_id)
        self._save(rotated.to_json())
        reset_keyring()
        if settings.DOORSTEP_KEYRING:
            # The process must use the new keyring to re-wrap: hand it over explicitly.
            settings.DOORSTEP_KEYRING = rotated.to_json()
            reset_keyring()
        forget_cached_keys()
        count = keyring_rewrap_all()
        self.stdout.write(self.style.SUCCESS(f"New primary key {new_id}; re-wrapped {count} case keys."))
