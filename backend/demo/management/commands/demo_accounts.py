"""``demo_accounts [--json]``: the demo accounts with their password, role and teams."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand

from backend.demo.seed import demo_accounts


class Command(BaseCommand):
    help = "Print the demo accounts (username, password, role, teams)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="Print a JSON list.")

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = demo_accounts()
        if options["json"]:
            self.stdout.write(json.dumps([asdict(a) for a in accounts], indent=2))
            return
        if not accounts:
            self.stdout.write("No demo accounts (run `make run` or `seed_demo` on an empty database).")
            return
        self.stdout.write(f"Demo accounts (password for all: {accounts[0].password}):")
        for a in accounts:
            self.stdout.write(f"  {a.role:<13} {a.username:<32} {', '.join(a.teams)}")
