"""Create a key from the command line, through the same service as every other caller."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.actors import Actor
from accounts.models import Application, Organization, Role
from keys.api.serializers import TimestampJSONEncoder, key_out
from keys.errors import ServiceError
from keys.services import create_key


class Command(BaseCommand):
    help = "Create an API key and print its Client ID and Client Secret (shown this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", required=True, help="Organization slug, e.g. acme")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scope", action="append", required=True, dest="scopes", help="Repeat for each scope"
        )
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument("--application", default=None, help="Application slug (default: the portal)")
        parser.add_argument(
            "--role",
            default=Role.ADVANCED_ADMIN.api_name,
            help=f"one of {', '.join(role.api_name for role in sorted(Role, reverse=True))}",
        )
        parser.add_argument("--account", default=None, help="Account name (default: the root account)")
        parser.add_argument("--rate-limit", type=int, default=None, help="Requests per minute for this key")
        parser.add_argument(
            "--allowed-ip",
            action="append",
            default=None,
            dest="allowed_ips",
            help="An address or CIDR range the key may be used from; repeat for each (default: anywhere)",
        )
        parser.add_argument("--json", action="store_true", help="Print only the API's 201 body as JSON")

    def handle(self, *args: Any, **opts: Any) -> None:
        organization = Organization.objects.filter(slug=opts["organization"]).first()
        if organization is None:
            raise CommandError(f"No organization with slug {opts['organization']!r}.")
        applications = Application.objects.filter(organization=organization)
        if opts["application"]:
            application = applications.filter(slug=opts["application"]).first()
            if application is None:
                slugs = ", ".join(applications.values_list("slug", flat=True))
                raise CommandError(
                    f"No application {opts['application']!r} in {organization}; choose from {slugs}."
                )
        else:
            application = applications.filter(is_portal=True).first()
            if application is None:
                raise CommandError(f"{organization} has no portal application; run seed_demo or add one.")
        accounts = organization.accounts.all()
        account = (
            accounts.filter(name=opts["account"]).first()
            if opts["account"]
            else accounts.filter(parent__isnull=True).first()
        )
        if account is None:
            raise CommandError(f"No account {opts['account']!r} in {organization}.")
        try:
            role = Role.from_name(opts["role"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        actor = Actor.system(organization.pk, label="create_api_key command")
        try:
            issued = create_key(
                actor=actor,
                application=application,
                account=account,
                role=role,
                name=opts["name"],
                scopes=opts["scopes"],
                expires_in_days=opts["expires_in_days"],
                rate_limit=opts["rate_limit"],
                allowed_ips=opts["allowed_ips"],
            )
        except ServiceError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        body = {**key_out(issued.key), "key": issued.secret}
        if opts["json"]:
            self.stdout.write(json.dumps(body, cls=TimestampJSONEncoder))
            return
        self.stdout.write(self.style.SUCCESS(f"Created key {issued.key.name!r} ({issued.key.id})."))
        self.stdout.write(f"Client ID:     {issued.key.client_id}")
        self.stdout.write(f"Client Secret: {issued.secret}")
        self.stdout.write("Store the secret now: it is not stored and cannot be shown again.")
