"""portal/observability.py and keys/metering/metrics.py in one process: who may read /metrics, what it
counts, that its labels stay few and never hold a secret, a Client ID, an email or a raw path; the
request id in the answer, the audit log and the JSON log lines."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import time
import uuid

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from accounts.actors import Actor
from audit.models import AuditAction, AuditEvent
from keys import credentials, services
from keys.metering import ratelimit, usage
from keys.models import ApiKey
from portal.logs import JsonFormatter
from portal.observability import WorkerProcesses, queued_seconds
from tests.helpers.api import assert_error, bearer
from tests.helpers.deployment import ROOT

pytestmark = pytest.mark.django_db

SECTION_9 = (
    "akp_http_requests_total",
    "akp_http_request_duration_seconds",
    "akp_key_authentications_total",
    "akp_usage_pending_rows",
    "akp_usage_oldest_pending_timestamp_seconds",
    "akp_rate_limit_mode",
)


def scrape(client, **extra) -> str:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def series(text: str) -> set[tuple[str, tuple]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def wrong_checksum(secret: str) -> str:
    return secret[:-1] + ("a" if secret[-1] != "a" else "b")


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---- who may read it ----


def test_loopback_may_read_the_metrics_and_others_get_a_404(client):
    text = scrape(client)
    for name in SECTION_9:
        assert name in text
    refused = client.get("/metrics", REMOTE_ADDR="203.0.113.5")
    assert refused.status_code == 404 and refused.content == client.get("/nothing-here").content


def test_behind_a_proxy_a_request_that_skipped_it_is_not_loopback(client, settings):
    settings.PROXY_COUNT = 1
    # Through the proxy on the same machine: the proxy's loopback address is not the client's.
    assert (
        client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200
    )
    assert (
        client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 404
    )
    # No X-Forwarded-For, fewer entries than trusted proxies: the address is unknown, so refused.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
    settings.PROXY_COUNT = 2
    assert (
        client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 404
    )


def test_the_allowed_networks_and_the_token(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    settings.METRICS_TOKEN = "scrape-me-" + "t" * 30
    assert client.get("/metrics").status_code == 404  # loopback is no longer listed
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    token = {"HTTP_AUTHORIZATION": f"Bearer {settings.METRICS_TOKEN}"}
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", **token).status_code == 200
    wrong = {"HTTP_AUTHORIZATION": "Bearer scrape-me"}
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", **wrong).status_code == 404
    settings.METRICS_ALLOWED_IPS = []  # the token alone
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", **token).status_code == 200


def test_metrics_can_be_turned_off(client, settings):
    settings.METRICS_ENABLED = False
    assert client.get("/metrics").status_code == 404


# ---- the exposition ----


def test_openmetrics_when_the_scraper_asks_for_it(client):
    plain = client.get("/metrics")
    assert plain["Content-Type"].startswith("text/plain")
    assert not plain.content.endswith(b"# EOF\n")
    asked = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    assert asked.status_code == 200
    assert asked["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert asked.content.endswith(b"# EOF\n")
    assert b"# TYPE akp_http_requests counter" in asked.content


def test_process_metrics_in_one_process(client):
    assert value("process_cpu_seconds_total") > 0  # the client's own collector, in REGISTRY
    assert "process_resident_memory_bytes" in scrape(client)


def test_worker_processes_reads_each_live_worker_by_pid(tmp_path):
    """Multiprocess mode: the pids of the live-gauge files, each read from /proc. A dead worker's
    files are gone (gunicorn's child_exit), so it is not listed."""
    for name in (f"gauge_livesum_{os.getpid()}.db", f"gauge_livemin_{os.getpid()}.db", "counter_4.db"):
        (tmp_path / name).touch()
    collector = WorkerProcesses(str(tmp_path))
    assert collector.pids() == [os.getpid()]
    samples = {s.name: s for family in collector.collect() for s in family.samples}
    assert samples["process_cpu_seconds_total"].labels == {"pid": str(os.getpid())}
    assert samples["process_resident_memory_bytes"].value > 0


def test_metrics_directory_is_made_by_whichever_process_needs_it(tmp_path):
    """`manage.py` before gunicorn ever ran (migrate at deploy time) with the directory not made yet."""
    missing = tmp_path / "not" / "made"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CACHE_URL"}}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(missing), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert any(missing.glob("counter_*.db"))


# ---- what it counts ----


@pytest.mark.parametrize(
    "header",
    ["t=1700000000.250", "t=1700000000250", "t=1700000000250000"],
    ids=["seconds", "milliseconds", "microseconds"],
)
def test_queued_seconds_reads_each_unit_proxies_write(header):
    assert queued_seconds(header, 1700000001.0) == pytest.approx(0.75)


@pytest.mark.parametrize("header", ["", "t=", "1700000000", "t=abc", "t=17e8", "t=-5"])
def test_an_unreadable_request_start_is_ignored(header):
    assert queued_seconds(header, 1700000001.0) is None


def test_a_proxy_clock_ahead_is_no_negative_wait():
    assert queued_seconds("t=1700000002", 1700000001.0) == 0.0


def test_time_queued_is_measured_behind_a_proxy_only(client, settings):
    def observed() -> float:
        return value("akp_http_request_queue_seconds_count")

    start = f"t={time.time() - 0.2:.3f}"
    before = observed()
    client.get("/healthz", HTTP_X_REQUEST_START=start)  # no proxy: anyone could write it
    assert observed() == before
    settings.PROXY_COUNT = 1
    client.get("/healthz", HTTP_X_REQUEST_START=start, HTTP_X_FORWARDED_FOR="198.51.100.7")
    client.get("/healthz", HTTP_X_REQUEST_START="yesterday")
    assert observed() == before + 1
    assert value("akp_http_request_queue_seconds_sum") >= 0.2


def test_requests_are_counted_by_surface_route_and_status_class(api, client, make_key, login):
    issued = make_key()
    key_route = {"surface": "rest", "method": "GET", "route": "api/v1/key", "status": "2xx"}
    item_route = {"surface": "rest", "method": "GET", "route": "api/v1/org/api-keys/<key_id>"}

    def counts() -> tuple:
        return (
            value("akp_http_requests_total", **key_route),
            value("akp_http_requests_total", **item_route, status="4xx"),
            value("akp_http_request_duration_seconds_count", surface="rest"),
            value(
                "akp_http_requests_total",
                surface="portal",
                method="GET",
                route="settings/api-keys/",
                status="2xx",
            ),
        )

    before = counts()
    for _ in range(3):
        assert api("get", "/api/v1/key", issued.secret).status_code == 200
    assert api("get", f"/api/v1/org/api-keys/{uuid.uuid4()}", issued.secret).status_code == 404
    login("advanced@acme.test").get("/settings/api-keys/")
    after = counts()
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 1, 4, 1]


def test_key_authentications_are_counted_by_outcome(api, make_key, demo):
    ok = make_key()
    fenced = make_key(allowed_ips=["192.0.2.0/24"])
    limited = make_key(rate_limit=1)
    paused = make_key()
    services.disable_key(actor=Actor.system(demo.acme.pk), key=paused.key)
    before = {
        o: value("akp_key_authentications_total", outcome=o)
        for o in ("ok", "unauthorized", "ip_not_allowed", "rate_limited", "disabled")
    }
    api("get", "/api/v1/key", ok.secret)
    api("get", "/api/v1/key", "sk_live_" + "x" * 49)
    api("get", "/api/v1/key", wrong_checksum(ok.secret))
    api("get", "/api/v1/key", fenced.secret)
    api("get", "/api/v1/key", limited.secret)
    api("get", "/api/v1/key", limited.secret)
    assert_error(api("get", "/api/v1/key", paused.secret), 401, "unauthorized")  # the same answer
    api("get", "/api/v1/openapi.json")  # no key: not an authentication
    counted = {o: value("akp_key_authentications_total", outcome=o) - before[o] for o in before}
    assert counted == {"ok": 2, "unauthorized": 2, "ip_not_allowed": 1, "rate_limited": 1, "disabled": 1}


def test_the_usage_waiting_to_be_written_and_its_age(api, make_key):
    usage.buffer.flush()
    assert value("akp_usage_pending_rows") == 0
    assert value("akp_usage_oldest_pending_timestamp_seconds") == math.inf
    api("get", "/api/v1/key", make_key().secret)
    api("get", "/api/v1/key", make_key().secret)
    assert value("akp_usage_pending_rows") == 2
    assert 0 < value("akp_usage_oldest_pending_timestamp_seconds") < math.inf
    flushed_before = value("akp_usage_flushes_total", outcome="ok")
    usage.buffer.flush()
    assert value("akp_usage_pending_rows") == 0
    assert value("akp_usage_oldest_pending_timestamp_seconds") == math.inf
    assert value("akp_usage_flushes_total", outcome="ok") == flushed_before + 1


def test_the_rate_limiting_mode(settings):
    shared = bool(ratelimit.limiter().check_shared())  # None without Redis; with it, a ping
    assert shared == bool(settings.REDIS_URL)
    assert value("akp_rate_limit_mode", mode="shared") == (1 if shared else 0)
    assert value("akp_rate_limit_mode", mode="per-process") == (0 if shared else 1)
    ratelimit.RateLimiter("redis://127.0.0.1:1/0")  # another limiter than the process's says nothing
    assert value("akp_rate_limit_mode", mode="shared") == (1 if shared else 0)


# ---- what its labels may hold ----


def test_no_label_holds_a_secret_a_client_id_an_email_or_a_raw_path(api, client, make_key, login):
    issued = make_key()
    key_id = str(issued.key.pk)
    api("get", f"/api/v1/org/api-keys/{key_id}", issued.secret)
    api("get", f"/api/v1/org/api-keys/{key_id}/usage?days=3", issued.secret)
    api("get", f"/api/v1/nothing/{issued.key.client_id}", issued.secret)
    api("get", f"/api/v1/key?key={issued.secret}")  # refused: a key in the URL
    client.get(f"/no-such-page/{issued.secret}")
    login("advanced@acme.test").get(f"/settings/api-keys/{key_id}/")
    api("get", "/api/v1/key", issued.secret, REQUEST_METHOD="BREW")
    text = scrape(client)
    for forbidden in (
        issued.secret,
        issued.key.client_id,
        key_id,
        "advanced@acme.test",
        "no-such-page",
        "BREW",
    ):
        assert forbidden not in text
    assert 'route="api/v1/org/api-keys/<key_id>"' in text and 'method="OTHER"' in text


def test_a_thousand_distinct_keys_add_no_series(api, client, make_key, demo):
    warm = make_key()
    api("get", "/api/v1/key", warm.secret)
    api("get", f"/api/v1/org/api-keys/{warm.key.pk}", warm.secret)
    api("get", "/api/v1/key", "sk_live_" + "x" * 49)
    known = series(scrape(client))
    pepper = credentials.current_pepper()
    secrets = [credentials.new_secret("live") for _ in range(1000)]
    ApiKey.objects.bulk_create(
        ApiKey(
            organization=demo.acme,
            application=warm.key.application,
            account=warm.key.account,
            role=warm.key.role,
            name=f"many {i:04d}",
            scopes=["api-keys:read"],
            client_id=credentials.new_client_id("live"),
            secret_digest=credentials.digest(secret, pepper),
            pepper_id=pepper.id,
        )
        for i, secret in enumerate(secrets)
    )
    ids = dict(ApiKey.objects.filter(name__startswith="many ").values_list("name", "pk"))
    for i, secret in enumerate(secrets):
        assert api("get", "/api/v1/key", secret).status_code == 200
        assert api("get", f"/api/v1/org/api-keys/{ids[f'many {i:04d}']}", secret).status_code == 200
        assert api("get", "/api/v1/key", wrong_checksum(secret)).status_code == 401
    assert series(scrape(client)) == known


# ---- the request id ----


def test_every_answer_has_a_request_id_and_a_plain_incoming_one_is_kept(api, client, make_key):
    issued = make_key()
    ids = {api("get", "/api/v1/key", issued.secret)["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)
    assert client.get("/login/")["X-Request-ID"]
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.19")["X-Request-ID"] == "lb-7f3a.19"
    smuggled = client.get("/healthz", HTTP_X_REQUEST_ID=issued.secret)["X-Request-ID"]
    assert smuggled != issued.secret and len(smuggled) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="x" * 200)["X-Request-ID"] != "x" * 200


def test_audit_events_record_the_request_id(api, client, make_key):
    issued = make_key()
    created = api(
        "post", "/api/v1/org/api-keys", issued.secret, json={"name": "traced", "scopes": ["api-keys:read"]}
    )
    event = AuditEvent.objects.get(action=AuditAction.KEY_CREATED, key_id=created.json()["id"])
    assert event.request_id == created["X-Request-ID"]
    refused = client.get("/api/v1/key", **bearer("sk_live_" + "y" * 49), REMOTE_ADDR="198.51.100.77")
    failed = AuditEvent.objects.get(action=AuditAction.KEY_AUTH_FAILED, ip="198.51.100.77")
    assert failed.request_id == refused["X-Request-ID"]
    # Outside a request (a command, the system): none.
    assert make_key(name="made by the system").key.audit_events.get().request_id is None


# ---- LOG_FORMAT=json ----


def test_the_json_formatter_writes_one_object_with_the_request_id_and_no_secret(api, make_key, caplog):
    issued = make_key()
    formatter = JsonFormatter()
    record = logging.LogRecord("keys", logging.ERROR, __file__, 1, "leaked %s", (issued.secret,), None)
    entry = json.loads(formatter.format(record))
    assert issued.secret not in json.dumps(entry) and entry["level"] == "ERROR"
    assert entry["request_id"] is None and entry["logger"] == "keys"
    try:
        raise ValueError(f"boom {issued.secret}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert issued.secret not in formatter.format(record)


PROCESS_LOGS = r"""
import logging, sys
import django
django.setup()
from django.test import Client
secret = sys.argv[1]
logging.getLogger("keys").warning("a line that mentions %s", secret)
Client().get("/healthz", HTTP_X_REQUEST_ID="trace-123")
"""


def test_log_format_json_writes_a_json_object_per_line_with_each_request(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CACHE_URL"}}
    env.update(LOG_FORMAT="json", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", LOG_LEVEL="INFO")
    secret = credentials.new_secret("live")
    result = subprocess.run(
        [sys.executable, "-c", PROCESS_LOGS, secret], env=env, capture_output=True, text=True, check=True
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert secret not in result.stderr
    assert lines[0]["logger"] == "keys" and lines[0]["request_id"] is None
    request = next(line for line in lines if line["logger"] == "portal.requests")
    assert request["request_id"] == "trace-123"
    assert {k: request[k] for k in ("surface", "method", "route", "status", "key_id")} == {
        "surface": "probe",
        "method": "GET",
        "route": "healthz",
        "status": 200,
        "key_id": None,
    }
    assert request["duration_ms"] >= 0


# ---- the task queue ----


def test_the_task_backlog_is_read_from_the_database_at_scrape_time(client, settings):
    from django_tasks_db.models import DBTaskResult

    from accounts.emails import send_member_email
    from tests.helpers.tasks import DATABASE

    def samples() -> dict[str, float]:
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(scrape(client))
            for sample in family.samples
            if sample.name.startswith("akp_tasks")
        }

    assert samples() == {"akp_tasks_ready": 0, "akp_tasks_oldest_ready_timestamp_seconds": math.inf}
    settings.TASKS = DATABASE
    before = time.time()
    send_member_email.enqueue(0, "nobody.builds_this", {})
    send_member_email.enqueue(0, "nobody.builds_this", {})
    found = samples()
    assert found["akp_tasks_ready"] == 2
    assert before - 1 <= found["akp_tasks_oldest_ready_timestamp_seconds"] <= time.time()
    DBTaskResult.objects.update(status="SUCCESSFUL")
    assert samples()["akp_tasks_ready"] == 0
