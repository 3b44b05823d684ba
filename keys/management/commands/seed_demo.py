"""Demo data: the tenants Acme Corp and Globex with their members (``accounts.demo``), then the demo
keys with 30 days of usage (``keys.demo``). Idempotent.

The command lives in the ``keys`` app because it seeds keys too, and ``accounts`` may not import
``keys``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.demo import seed_organizations
from keys.demo import seed_keys


class Command(BaseCommand):
    help = (
        "Create the demo organizations, accounts, applications and users, and demo API keys with "
        "30 days of usage (safe to run again; the keys' secrets are never shown)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-keys", action="store_true", help="Skip the demo API keys")

    def handle(self, *args: Any, **options: Any) -> None:
        # Organizations and people in one transaction; then the keys, each through the key
        # services, whose durable transactions may not run inside another.
        created = seed_organizations(settings.DEMO_PASSWORD)
        keys = seed_keys() if not options["no_keys"] else None
        for skipped in keys.skipped if keys else []:
            self.stderr.write(f"Demo key not made: {skipped}")
        made = len(keys.made) if keys else 0
        if created or made:
            self.stdout.write(
                self.style.SUCCESS(f"Demo data ready ({created} new objects, {made} new demo keys).")
            )
        else:
            self.stdout.write("Demo data already present; nothing changed.")
        self.stdout.write(
            "Sign in at /login/ as advanced@acme.test (or adminapi@, admin@, support@, viewer@)."
        )
