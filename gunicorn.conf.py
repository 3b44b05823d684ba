"""gunicorn settings for `make serve` and production. Values can be overridden on the command line."""

import os

from gunicorn.glogging import Logger

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WORKERS", "2"))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
accesslog = os.environ.get("ACCESS_LOG") or None
# Requests are counted in a per-process buffer; write it before a worker goes away. gunicorn calls
# worker_exit in the worker after a graceful stop (SIGTERM), a reload (SIGHUP: the old workers get
# SIGTERM) and a quick shutdown (SIGQUIT, SIGINT); only a kill (SIGKILL, OOM) skips it. See the
# keys/hotpath/usage.py docstring and tests/faults/test_faults.py.


def worker_exit(server, worker):
    # Imported here: the master process loads this file before Django is set up.
    from keys.hotpath import usage

    usage.buffer.flush(force_last_used=True)


class ScrubbingLogger(Logger):
    """gunicorn's error and access logs with Client Secrets replaced. The application never logs a
    secret, but a client can put one where gunicorn logs it: a URL (the API refuses keys there, yet
    the access log has already written the request line) or a Referer header."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        from keys.redaction import ScrubSecretsFilter  # after Django's settings are importable

        for log in (self.error_log, self.access_log):
            log.addFilter(ScrubSecretsFilter())


logger_class = ScrubbingLogger

# Long query strings get a JSON 400 from the API instead of gunicorn's HTML 414 (8190 is gunicorn's
# maximum; a front proxy usually has its own limit too).
limit_request_line = 8190
