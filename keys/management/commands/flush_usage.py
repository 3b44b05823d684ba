from django.core.management.base import BaseCommand

from keys import usage


class Command(BaseCommand):
    help = (
        "Write this process's buffered usage counters to the database. Serving workers flush their own "
        "buffers every USAGE_FLUSH_INTERVAL_SECONDS and at shutdown; use this from scripts and shells "
        "that call the API code in-process."
    )

    def handle(self, *args, **options) -> None:
        written = usage.buffer.flush(force_last_used=True)
        self.stdout.write(f"Flushed {written} buffered request(s).")
