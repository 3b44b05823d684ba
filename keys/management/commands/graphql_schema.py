"""Print the GraphQL schema (SDL), as the explorer and clients see it by introspection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from keys.api.graphql.view import schema


class Command(BaseCommand):
    help = "Print the GraphQL schema of /api/graphql in SDL; --write updates docs/schema.graphql."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--write", metavar="PATH", nargs="?", const="docs/schema.graphql", default=None)

    def handle(self, *args: Any, write: str | None, **options: Any) -> None:
        text = schema.as_str() + "\n"
        if write is None:
            self.stdout.write(text, ending="")
            return
        Path(write).write_text(text)
        self.stdout.write(f"Wrote {write}.")
