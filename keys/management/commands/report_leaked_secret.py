"""Report a leaked secret found by other means than a secret scanner (a paste, a support ticket, a
log), through the same leak response as the secret scanning endpoint."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.views.decorators.debug import sensitive_variables

from keys import leaks, services
from keys.errors import ServiceError

REPORTER = "manage.py report_leaked_secret"


class Command(BaseCommand):
    stealth_options = ("stdin",)  # call_command(..., stdin=...) in tests, as createsuperuser does
    help = (
        "Apply the leak response to a Client Secret found where it should not be: its key is revoked, "
        "disabled or flagged exposed by its organization's leak policy, flagged with where it was "
        "found, and its managers are told. The secret is read from standard input, never from an "
        "argument (where shell history and the process list would keep it). Reporting the same "
        "secret and address again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="Where the secret was found (http:// or https://)")
        parser.add_argument(
            "--dry-run", action="store_true", help="Name the key and what would be done; change nothing."
        )

    @sensitive_variables("secret")
    def handle(self, *args: Any, url: str, dry_run: bool, **options: Any) -> None:
        stdin = options.get("stdin") or sys.stdin
        if stdin.isatty():
            # Not echoed: the terminal's scrollback must not keep it either.
            secret = getpass.getpass(
                "Paste the secret, then press Enter (it is not shown): ", stream=sys.stderr
            )
        else:
            secret = stdin.readline()
        try:
            source_url = leaks.clean_source_url(url)
            secret = services.clean_secret(secret)
        except ServiceError as err:
            raise CommandError(err.message) from None
        if dry_run:
            self._describe(leaks.plan_leak_response(secret=secret, source_url=source_url), dry_run=True)
            return
        report = leaks.report_leaked_secret(secret=secret, source_url=source_url, source=REPORTER)
        self._describe(report.plan, dry_run=False)

    def _describe(self, plan: leaks.LeakPlan, *, dry_run: bool) -> None:
        key = plan.key
        if key is None:
            raise CommandError("No key has this secret: nothing to do.")
        named = f"{key.name} ({key.client_id}) of {key.organization.name}, {key.account.name}"
        which = "its grace-period secret" if plan.match and plan.match.previous else "its current secret"
        if not plan.live:
            self.stdout.write(f"{named}: {which} no longer works (the key is {key.status}); nothing to do.")
        elif plan.repeated:
            self.stdout.write(f"{named}: already reported from this address; nothing to do again.")
        elif dry_run:
            self.stdout.write(f"Would report {which} of {named}: the key would be {plan.action}.")
        else:
            self.stdout.write(f"Reported {which} of {named}: the key is {plan.action}.")
