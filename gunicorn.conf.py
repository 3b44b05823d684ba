"""gunicorn settings for `make serve` and production. Values can be overridden on the command line."""

import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WORKERS", "2"))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
accesslog = os.environ.get("ACCESS_LOG") or None
# Requests are counted in a per-process buffer that a timer thread writes (keys/hotpath/flusher.py);
# write it once more before a worker goes away. gunicorn calls
# worker_exit in the worker after a graceful stop (SIGTERM), a reload (SIGHUP: the old workers get
# SIGTERM) and a quick shutdown (SIGQUIT, SIGINT); only a kill (SIGKILL, OOM) skips it. See the
# keys/hotpath/usage.py docstring and tests/faults/test_faults.py.


def post_worker_init(worker):
    # Imported here: the master process loads this file before Django is set up.
    from keys.hotpath import flusher

    flusher.start()  # the usage timer, in the worker (a thread started in the master dies at fork)


def worker_exit(server, worker):
    from keys.hotpath import flusher

    flusher.shutdown()  # stops the timer, waits for a write in flight, writes what is left


# /metrics adds up every worker's counters: prometheus-client's multiprocess mode keeps them in files
# of PROMETHEUS_MULTIPROC_DIR, which must be set before a worker imports the client (workers inherit
# the master's environment) and emptied before a new run, as the client documents. Without it set,
# the master makes a private directory for its run and removes it at exit. prometheus-client is
# imported in the hooks only: imported here, in the master, before the variable is set, it would
# count in memory in every worker forked from it.
_made_metrics_dir: list[str] = []


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="akp-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        _made_metrics_dir.append(directory)
    Path(directory).mkdir(parents=True, exist_ok=True)
    for stale in Path(directory).glob("*.db"):  # a previous run's workers
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    # Its gauges of live workers go; its counters and histograms stay in the totals.
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for directory in _made_metrics_dir:
        shutil.rmtree(directory, ignore_errors=True)


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
