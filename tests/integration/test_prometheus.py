"""A real Prometheus (Debian's ``prometheus`` package) scrapes a gunicorn with 2 workers: the totals
it stores across both workers equal the requests sent; the example alert rules pass ``promtool check
rules`` and load; every query of the Grafana dashboard runs; ``promtool check metrics`` accepts the
exposition.

Skipped where the binary is missing, except in CI (``CI=true``), which installs it and where a
missing binary fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.helpers.deployment import (
    ROOT,
    free_port,
    manage_commands,
    new_key_command,
    production_env,
    start_gunicorn,
)
from tests.helpers.threads import start_and_join

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
ALERTS = ROOT / "docs" / "alerts.yml"
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"

pytestmark = pytest.mark.skipif(
    not (PROMETHEUS and PROMTOOL) and os.environ.get("CI") != "true",
    reason="needs Debian's prometheus package (apt-get install prometheus); CI installs it",
)


@pytest.fixture(scope="module")
def tools() -> tuple[str, str]:
    if not (PROMETHEUS and PROMTOOL):
        pytest.fail("CI must install Debian's prometheus package (.ci/run does)")
    return PROMETHEUS, PROMTOOL


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    """gunicorn, 2 workers, on a throw-away database with a key; its access log names each worker."""
    work = tmp_path_factory.mktemp("scraped")
    env = production_env(f"sqlite:///{work / 'db.sqlite3'}", "scraped")
    outputs = manage_commands(env)(
        ["migrate", "--noinput", "-v0"], ["seed_demo"], new_key_command("scraped", "--scope", "api-keys:read")
    )
    secret = json.loads(outputs[-1])["key"]
    access_log = work / "access.log"
    process, url = start_gunicorn(
        env, extra_args=["--access-logfile", str(access_log), "--access-logformat", "%(p)s %(s)s %(U)s"]
    )
    yield url, secret, access_log
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(20)


@pytest.fixture(scope="module")
def prometheus(tools, portal, tmp_path_factory):
    """Prometheus scraping the portal every second, with the example alert rules."""
    work = tmp_path_factory.mktemp("prometheus")
    target = urllib.parse.urlsplit(portal[0]).netloc
    config = work / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(ALERTS)],
                "scrape_configs": [
                    {
                        "job_name": "portal",
                        "metrics_path": "/metrics",
                        "static_configs": [{"targets": [target]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [
            tools[0],
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(work / "prometheus.log").open("w"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/-/ready", timeout=1).read()
            break
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError((work / "prometheus.log").read_text()) from None
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(20)


def query(prometheus: str, expression: str) -> dict:
    address = prometheus + "/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(address, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def scalar(prometheus: str, expression: str) -> float:
    result = query(prometheus, expression)["result"]
    assert len(result) == 1, (expression, result)
    return float(result[0]["value"][1])


def status(url: str, secret: str) -> int:
    request = urllib.request.Request(url + "/api/v1/key", headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def send(url: str, secret: str, n: int) -> list[int]:
    """n requests from 8 threads at once, so that both workers answer some."""
    answers: list[int] = []
    lock = threading.Lock()
    per_thread = [n // 8 + (1 if i < n % 8 else 0) for i in range(8)]

    def run(count: int) -> None:
        for _ in range(count):
            answer = status(url, secret)
            with lock:
                answers.append(answer)

    start_and_join([threading.Thread(target=run, args=(count,)) for count in per_thread])
    return answers


def wait_for_two_scrapes_after(prometheus: str, moment: float) -> None:
    seen: set[float] = set()
    deadline = time.monotonic() + 30
    while len(seen) < 2:
        assert time.monotonic() < deadline, f"Prometheus scraped {len(seen)} time(s) since the traffic"
        result = query(prometheus, 'timestamp(up{job="portal"})')["result"]
        if result and float(result[0]["value"][1]) > moment:
            seen.add(float(result[0]["value"][1]))
        time.sleep(0.25)


def test_prometheus_counts_every_request_of_both_workers(portal, prometheus, tools):
    url, secret, access_log = portal
    ok = send(url, secret, 120)
    refused = send(url, secret[:-1] + ("a" if secret[-1] != "a" else "b"), 40)  # a wrong checksum
    assert set(ok) == {200} and set(refused) == {401}
    served_by = {
        line.split()[0] for line in access_log.read_text().splitlines() if line.endswith("/api/v1/key")
    }
    assert len(served_by) == 2, "one worker served every request; the test proves nothing"
    wait_for_two_scrapes_after(prometheus, time.time())

    assert scalar(prometheus, 'up{job="portal"}') == 1
    assert scalar(prometheus, 'sum(akp_key_authentications_total{outcome="ok"})') == 120
    assert scalar(prometheus, 'sum(akp_key_authentications_total{outcome="unauthorized"})') == 40
    assert scalar(prometheus, 'sum(akp_http_requests_total{surface="rest", route="api/v1/key"})') == 120
    assert scalar(prometheus, 'sum(akp_http_requests_total{surface="rest", status="4xx"})') == 40
    assert scalar(prometheus, 'sum(akp_http_request_duration_seconds_count{surface="rest"})') == 160
    assert scalar(prometheus, 'sum(akp_rate_limit_mode{mode="per-process"})') == 2  # both live workers


def test_the_example_alert_rules_check_and_load(prometheus, tools):
    checked = subprocess.run([tools[1], "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS: 6 rules found" in checked.stdout, (
        checked.stdout + checked.stderr
    )
    deadline = time.monotonic() + 20
    while True:
        with urllib.request.urlopen(prometheus + "/api/v1/rules", timeout=5) as response:
            rules = [rule for group in json.load(response)["data"]["groups"] for rule in group["rules"]]
        if len(rules) == 6 and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules):
            break
        assert time.monotonic() < deadline, rules
        time.sleep(0.5)
    assert {rule["name"] for rule in rules} == {
        "ApiKeyPortalServerErrors",
        "ApiKeyPortalUsageNotWritten",
        "ApiKeyPortalUsageLagging",
        "ApiKeyPortalUsageDropped",
        "ApiKeyPortalRequestLogNotWritten",
        "ApiKeyPortalRequestLogDropped",
    }
    assert all(rule["health"] == "ok" for rule in rules), rules


def test_every_query_of_the_grafana_dashboard_runs(prometheus):
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) >= 8
    for expression in expressions:
        # As Grafana sends it with "All" chosen for job and instance (their allValue).
        expression = (
            expression.replace("$__rate_interval", "1m").replace("$job", ".+").replace("$instance", ".+")
        )
        query(prometheus, expression)  # fails unless it parses and runs


def test_promtool_accepts_the_exposition(portal, tools):
    with urllib.request.urlopen(portal[0] + "/metrics", timeout=5) as response:
        exposition = response.read()
    checked = subprocess.run([tools[1], "check", "metrics"], input=exposition, capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert b"akp_key_authentications_total" in exposition
