"""gunicorn settings for `make bench` only: the production settings (gunicorn.conf.py) plus a count
of each worker's database writes (INSERT/UPDATE/DELETE), written at exit into BENCH_COUNT_WRITES."""

import os
import runpy
import threading
from pathlib import Path

_production = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
globals().update({k: v for k, v in _production.items() if not k.startswith("__")})
_production_worker_exit = _production["worker_exit"]


_production_post_worker_init = _production["post_worker_init"]


def post_worker_init(worker):
    # Django keeps a connection per thread and the worker serves requests in several: every
    # connection the worker opens, in whichever thread, gets the counting wrapper.
    from django.db.backends.signals import connection_created

    _production_post_worker_init(worker)
    worker.bench_writes = 0
    lock = threading.Lock()

    def count(execute, sql, params, many, context):
        if sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            with lock:
                worker.bench_writes += len(params) if many and params else 1
        return execute(sql, params, many, context)

    def attach(sender, connection, **kwargs):
        if count not in connection.execute_wrappers:
            connection.execute_wrappers.append(count)

    connection_created.connect(attach, weak=False)


def worker_exit(server, worker):
    _production_worker_exit(server, worker)  # flushes the usage buffer: its writes count too
    directory = os.environ["BENCH_COUNT_WRITES"]
    Path(directory, f"{os.getpid()}.count").write_text(str(getattr(worker, "bench_writes", 0)))
