from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from keys.notifications import notify_expiring_keys


class Command(BaseCommand):
    help = (
        "Email everyone who may manage a key that expires within --days (default 7), whose secret is "
        "due for rotation, or that a security policy change left outside the policy: one email per "
        "person, enqueued for the task worker (manage.py db_worker) to send. Each expiry date, secret "
        "and policy change is announced once, so the command can run as often as you like (cron, a "
        "timer)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=7, choices=range(1, 91), metavar="1-90")
        parser.add_argument("--dry-run", action="store_true", help="Count, send nothing, mark nothing.")

    def handle(self, *args: Any, days: int, dry_run: bool, **options: Any) -> None:
        run = notify_expiring_keys(within=timedelta(days=days), dry_run=dry_run)
        verb = "Would send" if dry_run else "Queued"
        counts = run.by_notice
        self.stdout.write(
            f"{verb} {run.emails} email(s) about {run.keys} key(s): {counts['expiring']} expiring within "
            f"{days} days, {counts['rotation_due']} due for rotation, {counts['outside_policy']} outside "
            "the security policy."
        )
        if run.failed:
            # Only a backend that runs tasks at once knows now (the database backend's worker logs its
            # failures). The keys stay announced (never twice); these people must be told another way.
            raise CommandError(f"Not sent to {len(run.failed)} recipient(s): {', '.join(run.failed)}.")
