"""What the key hot path tells Prometheus (``GET /metrics``): key authentications by outcome, the
usage counters still waiting in a worker's buffer, and how rate limits are counted.

prometheus-client keeps each value in this process, or, when ``PROMETHEUS_MULTIPROC_DIR`` is set
before it is imported (``gunicorn.conf.py`` does it), in files of that directory that ``/metrics``
adds up across every gunicorn worker. Labels take a handful of fixed values each: never a key, a
Client ID, a secret, an email or a path.
"""

from __future__ import annotations

import math

from prometheus_client import Counter, Gauge

from keys.errors import ErrorCode

# A refused key's outcome is the code it was answered with; "disabled" is counted apart from
# "unauthorized", which is its answer.
AUTH_OUTCOMES = (
    "ok",
    ErrorCode.UNAUTHORIZED.value,
    ErrorCode.IP_NOT_ALLOWED.value,
    ErrorCode.RATE_LIMITED.value,
    "disabled",
)

key_authentications = Counter(
    "akp_key_authentications",
    "Requests that presented an API key, by outcome: ok, unauthorized (malformed, unknown, wrong, "
    "expired or revoked), ip_not_allowed, rate_limited, disabled.",
    ["outcome"],
)
# One child per outcome, made once: labels() looks its child up under a lock on every call.
auth_outcome = {outcome: key_authentications.labels(outcome) for outcome in AUTH_OUTCOMES}

usage_pending_rows = Gauge(
    "akp_usage_pending_rows",
    "Usage counters (one per key and UTC day) counted in a worker and not yet written to the database.",
    multiprocess_mode="livesum",
)
usage_oldest_pending = Gauge(
    "akp_usage_oldest_pending_timestamp_seconds",
    "When the oldest usage count still waiting in a worker's buffer was made (Unix time; +Inf when "
    "nothing waits). time() minus it is how late usage reaches the database.",
    multiprocess_mode="livemin",
)
usage_oldest_pending.set(math.inf)
usage_flushes = Counter(
    "akp_usage_flushes",
    "Writes of a worker's buffered usage counters to the database, by outcome (ok, failed).",
    ["outcome"],
)
for _outcome in ("ok", "failed"):
    usage_flushes.labels(_outcome)  # both series from the start, at 0
usage_dropped_total = Counter(
    "akp_usage_dropped",
    "What a worker could not keep because its usage buffer was full (USAGE_BUFFER_MAX_ROWS) while "
    "the database did not take its writes: calls not counted, and last-use updates skipped.",
    ["what"],
)
usage_dropped = {what: usage_dropped_total.labels(what) for what in ("calls", "last_used")}

rate_limit_mode = Gauge(
    "akp_rate_limit_mode",
    "Workers by how they count rate limits: shared (in Redis, across workers and machines) or "
    "per-process (no Redis configured, or Redis unreachable).",
    ["mode"],
    multiprocess_mode="livesum",
)


def set_rate_limit_mode(shared: bool) -> None:
    rate_limit_mode.labels("shared").set(1 if shared else 0)
    rate_limit_mode.labels("per-process").set(0 if shared else 1)


request_log_flushes = Counter(
    "akp_request_log_flushes",
    "Writes of a worker's buffered request log rows to the database, by outcome (ok, failed).",
    ["outcome"],
)
for _outcome in ("ok", "failed"):
    request_log_flushes.labels(_outcome)
request_log_dropped = Counter(
    "akp_request_log_dropped",
    "Request log rows a worker could not keep because its buffer was full (REQUEST_LOG_BUFFER_MAX_ROWS) "
    "while the database did not take its writes.",
)
