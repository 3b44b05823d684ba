"""gunicorn settings for `make serve` and production. Values can be overridden on the command line."""

import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WORKERS", "2"))
# The worker model: threads, so that a slow client holds one thread, never a whole worker; and the
# header deadline of portal/gunicorn_worker.py (10 s from a request's first byte, then the server
# closes the connection), which gunicorn's own gthread worker lacks. Idle keep-alive connections wait
# in the worker's poller, not in a thread, and are closed after `keepalive` seconds. The code is
# thread-safe: Django keeps a database connection per thread, and the per-process caches and buffers
# (keys/authentication, keys/metering) take a lock. A front end that buffers requests still belongs
# in front (README).
worker_class = "portal.gunicorn_worker.HeaderTimeoutWorker"
threads = int(os.environ.get("THREADS", "4"))
keepalive = 10
timeout = 30
graceful_timeout = 20
accesslog = os.environ.get("ACCESS_LOG") or None
# Requests are counted in a per-process buffer that a timer thread writes (keys/metering/flusher.py);
# write it once more before a worker goes away. gunicorn calls
# worker_exit in the worker after a graceful stop (SIGTERM), a reload (SIGHUP: the old workers get
# SIGTERM) and a quick shutdown (SIGQUIT, SIGINT); only a kill (SIGKILL, OOM) skips it. See the
# keys/metering/usage.py docstring and tests/faults/test_faults.py.


def post_worker_init(worker):
    # Imported here: the master process loads this file before Django is set up.
    from keys.metering import flusher

    flusher.start()  # the usage timer, in the worker (a thread started in the master dies at fork)


def worker_exit(server, worker):
    from keys.metering import flusher

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


# LOG_FORMAT=json: gunicorn's own lines (boot, signals, worker starts and exits) and its access log go
# through the project's JsonFormatter too, so that every line is one JSON object. A logger_class
# rather than logconfig_dict: gunicorn 27 runs dictConfig after installing its own handlers, so the
# dict could only swap formatters, while the access line's fields (request id, surface, route, key
# id: what the application put into the WSGI environ) must be passed to the record by access()
# itself; and this class already scrubs secrets from both logs.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").lower()


class ScrubbingLogger(Logger):
    """gunicorn's error and access logs with Client Secrets replaced, and as JSON lines under
    LOG_FORMAT=json. The application never logs a secret, but a client can put one where gunicorn
    logs it: a URL (the API refuses keys there, yet the access log has already written the request
    line) or a Referer header."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        from keys.redaction import ScrubSecretsFilter  # after Django's settings are importable
        from portal.logs import JsonFormatter

        for log in (self.error_log, self.access_log):
            log.addFilter(ScrubSecretsFilter())
            if LOG_FORMAT == "json":
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time) -> None:
        if LOG_FORMAT != "json":
            return super().access(resp, req, environ, request_time)
        if not self.access_log_enabled:
            return None
        from portal.logs import access_fields

        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        duration_ms = round(request_time.total_seconds() * 1000, 2)
        fields = access_fields(environ, int(status), duration_ms)
        self.access_log.info(
            "%s %s %s", environ.get("REQUEST_METHOD"), environ.get("RAW_URI"), status, extra=fields
        )
        return None


logger_class = ScrubbingLogger

# gunicorn 27 opens a control socket (for gunicornc) by default in ~/.gunicorn/ or $XDG_RUNTIME_DIR,
# one path shared by every gunicorn of the user on the host. Off here; GUNICORN_CONTROL_SOCKET=<path>
# turns it on at that path (var/gunicorn.ctl, say: var/ is the project's, git-ignored).
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET") or str(
    Path(__file__).parent / "var" / "gunicorn.ctl"
)
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")

# Long query strings get a JSON 400 from the API instead of gunicorn's HTML 414 (8190 is gunicorn's
# maximum; a front proxy usually has its own limit too).
limit_request_line = 8190
