"""gunicorn settings for `make serve` and production. Values can be overridden on the command line."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WORKERS", "2"))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
accesslog = os.environ.get("ACCESS_LOG") or None
# Requests are counted in a per-process buffer; write it before a worker goes away.


def worker_exit(server, worker):
    from keys import usage

    usage.buffer.flush(force_last_used=True)


# Long query strings get a JSON 400 from the API instead of gunicorn's HTML 414 (8190 is gunicorn's
# maximum; a front proxy usually has its own limit too).
limit_request_line = 8190
