"""Demo data: Acme Corp (enterprise) and Globex (professional). Idempotent."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.catalogue import ensure_application, ensure_portal_application
from accounts.models import Account, Membership, Organization, Plan, Role, User

INCHARGE = ["charge-points", "billing", "analytics", "webhooks", "sessions"]
INFODECK = ["work-orders", "assets", "locations", "forms", "iot", "users"]

ACME_USERS = [
    ("advanced@acme.test", "Ada Advanced", Role.ADVANCED_ADMIN),
    ("adminapi@acme.test", "Alan Adminapi", Role.ADMIN_API),
    ("admin@acme.test", "Amy Admin", Role.ADMIN),
    ("support@acme.test", "Sam Support", Role.SUPPORT),
    ("viewer@acme.test", "Vic Viewer", Role.VIEWER),
]


class Command(BaseCommand):
    help = "Create the demo organizations, accounts, applications and users (safe to run again)."

    def handle(self, *args, **options) -> None:
        password = os.environ.get("DEMO_PASSWORD") or "acme-demo-2026"
        with transaction.atomic():
            created = self._seed(password)
        if created:
            self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new objects)."))
        else:
            self.stdout.write("Demo data already present; nothing changed.")
        self.stdout.write(
            "Sign in at /login/ as advanced@acme.test (or adminapi@, admin@, support@, viewer@)."
        )

    def _seed(self, password: str) -> int:
        self.created = 0
        acme = self._organization("acme", "Acme Corp", Plan.ENTERPRISE)
        root = self._account(acme, "Acme Corp", None)
        self._account(acme, "Acme North", root)
        self._account(acme, "Acme South", root)
        ensure_portal_application(acme)
        incharge = ensure_application(
            acme,
            name="InCharge",
            slug="incharge",
            base_url="https://incharge.acme.test",
            resources=INCHARGE,
            description="EV charging: charge points, sessions, billing.",
        )
        ensure_application(
            acme,
            name="Infodeck",
            slug="infodeck",
            base_url="https://infodeck.acme.test",
            resources=INFODECK,
            description="Facilities: work orders, assets, locations, IoT.",
        )
        del incharge
        for email, full_name, role in ACME_USERS:
            self._member(email, full_name, acme, root, role, password)

        globex = self._organization("globex", "Globex", Plan.PROFESSIONAL)
        globex_root = self._account(globex, "Globex", None)
        ensure_portal_application(globex)
        ensure_application(
            globex,
            name="Infodeck",
            slug="infodeck",
            base_url="https://infodeck.globex.test",
            resources=INFODECK,
            description="Facilities: work orders, assets, locations, IoT.",
        )
        self._member(
            "advanced@globex.test", "Gina Globex", globex, globex_root, Role.ADVANCED_ADMIN, password
        )

        if not User.objects.filter(email="root@acme.test").exists():
            User.objects.create_superuser("root@acme.test", password, full_name="Root")
            self.created += 1
        return self.created

    def _organization(self, slug: str, name: str, plan: str) -> Organization:
        org, created = Organization.objects.get_or_create(slug=slug, defaults={"name": name, "plan": plan})
        self.created += created
        return org

    def _account(self, org: Organization, name: str, parent: Account | None) -> Account:
        account = Account.objects.filter(organization=org, name=name).first()
        if account is None:
            account = Account(organization=org, name=name, parent=parent)
            account.save()
            self.created += 1
        return account

    def _member(
        self, email: str, full_name: str, org: Organization, account: Account, role: int, password: str
    ) -> None:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, password, full_name=full_name, organization=org)
            self.created += 1
        _, created = Membership.objects.get_or_create(user=user, account=account, defaults={"role": role})
        self.created += created
