"""Running test code in several threads at once."""

from __future__ import annotations

import threading


def start_and_join(threads: list[threading.Thread], timeout: float = 30) -> None:
    """Start them all, then wait for each (at most ``timeout`` seconds)."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
