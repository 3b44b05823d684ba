"""The demo data every test starts from: what seed_demo creates, and how to create it quickly.

The session's demo has no keys (``seed_demo --no-keys``): most tests count, list or fill up keys of
their own and would otherwise have to subtract the demo's. Tests of the demo keys add them with
``seed(keys=True)`` in their own transaction."""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass

from django.core.management import call_command
from django.test import override_settings

from accounts.models import Account, Application, Organization, Role, User

PASSWORD = "acme-demo-2026"
ROLE_EMAILS = {
    Role.ADVANCED_ADMIN: "advanced@acme.test",
    Role.ADMIN_API: "adminapi@acme.test",
    Role.ADMIN: "admin@acme.test",
    Role.SUPPORT: "support@acme.test",
    Role.VIEWER: "viewer@acme.test",
}
# Hashing the demo users' passwords with Argon2 would cost more than most tests.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Demo:
    acme: Organization
    globex: Organization
    acme_root: Account
    north: Account
    south: Account
    globex_root: Account
    portal: Application
    incharge: Application
    infodeck: Application
    globex_portal: Application

    def user(self, email: str) -> User:
        return User.objects.get(email=email)


_seeded: Demo | None = None  # as read from the database right after the last seeding


def seed(*, keys: bool = False) -> str:
    """Run the real seed_demo command (idempotent) with a fast password hasher; without the demo
    keys unless asked. Returns what the command printed."""
    global _seeded
    out = io.StringIO()
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        call_command("seed_demo", *([] if keys else ["--no-keys"]), stdout=out, stderr=out)
    _seeded = None
    return out.getvalue()


def is_seeded() -> bool:
    return Organization.objects.filter(slug="globex").exists()


def load() -> Demo:
    """The seeded objects: read once after each seeding, then a fresh copy for each test (which may
    change its copy; its changes to the database are rolled back after it)."""
    global _seeded
    if _seeded is None:
        _seeded = _read()
    return copy.deepcopy(_seeded)


def _read() -> Demo:
    acme = Organization.objects.get(slug="acme")
    globex = Organization.objects.get(slug="globex")
    return Demo(
        acme=acme,
        globex=globex,
        acme_root=Account.objects.get(organization=acme, name="Acme Corp"),
        north=Account.objects.get(organization=acme, name="Acme North"),
        south=Account.objects.get(organization=acme, name="Acme South"),
        globex_root=Account.objects.get(organization=globex, name="Globex"),
        portal=Application.objects.get(organization=acme, is_portal=True),
        incharge=Application.objects.get(organization=acme, slug="incharge"),
        infodeck=Application.objects.get(organization=acme, slug="infodeck"),
        globex_portal=Application.objects.get(organization=globex, is_portal=True),
    )
