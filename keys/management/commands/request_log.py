from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from keys.metering import requestlog


class Command(BaseCommand):
    help = (
        "Request log upkeep, which every worker's timer also does once an hour: create the day "
        "partitions of today and the next days (PostgreSQL), and let the days older than "
        "REQUEST_LOG_DAYS go (PostgreSQL drops their partitions; SQLite deletes their rows by time). "
        "Safe to run as often as you like (cron, a timer)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        done = requestlog.maintain()
        self.stdout.write(
            f"Request log kept {settings.REQUEST_LOG_DAYS} day(s): {done['created']} partition(s) created, "
            f"{done['dropped']} dropped, {done['deleted']} row(s) deleted."
        )
