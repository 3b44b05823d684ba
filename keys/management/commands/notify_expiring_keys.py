from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser

from keys.notifications import notify_expiring_keys


class Command(BaseCommand):
    help = (
        "Email everyone who may manage a key that expires within --days (default 7). Each expiry "
        "date is announced once, so the command can run as often as you like (cron, a timer)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=7, choices=range(1, 91), metavar="1-90")
        parser.add_argument("--dry-run", action="store_true", help="Count, send nothing, mark nothing.")

    def handle(self, *args, days: int, dry_run: bool, **options) -> None:
        run = notify_expiring_keys(within=timedelta(days=days), dry_run=dry_run)
        verb = "Would send" if dry_run else "Sent"
        summary = f"{run.emails} email(s) about {run.keys} key(s) expiring within {days} days."
        self.stdout.write(f"{verb} {summary}")
        if run.failed:
            # The keys stay announced (never twice); these people must be told another way.
            raise CommandError(f"Not sent to {len(run.failed)} recipient(s): {', '.join(run.failed)}.")
