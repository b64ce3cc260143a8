"""``seed_demo``: load the demo council if the database has no users yet."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from backend.accounts.models import User
from backend.demo.seed import seed_demo


class Command(BaseCommand):
    help = "Load the demo council (teams, staff, 150 families) into an empty database."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--families", type=int, default=150)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when users already exist.")

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.exists():
            if options["if_empty"]:
                self.stdout.write("Database already has data; demo not loaded.")
                return
            self.stderr.write("Refusing to seed: the database is not empty.")
            raise SystemExit(1)
        started = time.monotonic()
        counts = seed_demo(seed=options["seed"], families=options["families"])
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{n} {k}" for k, n in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Demo council loaded in {elapsed:.1f}s: {summary}."))
