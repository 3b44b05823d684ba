"""The demo tenants: Acme Corp (enterprise) and Globex (professional), their account trees,
applications and members, and a superuser. Idempotent: whatever exists already is left as it is.

Only organizations and people live here; the demo keys are the ``keys`` app's (``keys.demo``), since
nothing in ``accounts`` may know about keys. ``seed_demo`` runs both.
"""

from __future__ import annotations

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
GLOBEX_USER = ("advanced@globex.test", "Gina Globex", Role.ADVANCED_ADMIN)
SUPERUSER = "root@acme.test"


def seed_organizations(password: str) -> int:
    """Create what is missing, in one transaction; returns the number of new objects."""
    with transaction.atomic():
        return _Seeder(password).run()


class _Seeder:
    def __init__(self, password: str) -> None:
        self.password = password
        self.created = 0

    def run(self) -> int:
        acme = self._organization("acme", "Acme Corp", Plan.ENTERPRISE)
        root = self._account(acme, "Acme Corp", None)
        self._account(acme, "Acme North", root)
        self._account(acme, "Acme South", root)
        ensure_portal_application(acme)
        ensure_application(
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
        for email, full_name, role in ACME_USERS:
            self._member(email, full_name, acme, root, role)

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
        email, full_name, role = GLOBEX_USER
        self._member(email, full_name, globex, globex_root, role)

        if not User.objects.filter(email=SUPERUSER).exists():
            User.objects.create_superuser(SUPERUSER, self.password, full_name="Root")
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

    def _member(self, email: str, full_name: str, org: Organization, account: Account, role: int) -> None:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, self.password, full_name=full_name, organization=org)
            self.created += 1
        _, created = Membership.objects.get_or_create(user=user, account=account, defaults={"role": role})
        self.created += created
