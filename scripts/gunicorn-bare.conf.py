"""gunicorn settings for the bare Django reference of `make bench`: the production values of
gunicorn.conf.py (workers, worker class and threads, timeouts, access log, request line limit)
without its hooks and logger, which belong to the portal (they flush its usage counters and scrub
its secrets). The worker class (portal/gunicorn_worker.py) imports gunicorn only."""

import runpy
from pathlib import Path

_production = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
globals().update(
    {
        name: value
        for name, value in _production.items()
        if not name.startswith("_") and (value is None or isinstance(value, str | int | float | bool))
    }
)
