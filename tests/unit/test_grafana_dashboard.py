"""docs/grafana-dashboard.json, as a team provisions it from a file: a datasource variable instead of
an import-time placeholder, `job` and `instance` variables narrowing every query, and "0" instead of
"No data" where no series means nothing happened. (tests/integration/test_prometheus.py runs every
query against a real Prometheus.)"""

from __future__ import annotations

import json
import re

from tests.helpers.deployment import ROOT

DASHBOARD = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
PANELS = DASHBOARD["panels"]
# A metric name followed by its label matchers, e.g. akp_http_requests_total{status="5xx", job=~"$job"}.
SELECTOR = re.compile(r"\b((?:akp|process)_[a-z_]+)(\{[^}]*\})?")
# Panels that count things: no series means none happened.
COUNTING = {
    "Requests by surface and status class",
    "Key authentications by outcome",
    "Rate-limited calls",
    "Usage flush lag",
    "Usage counters waiting and writes",
    "Server errors",
    "Usage dropped (buffer full)",
}


def expressions() -> list[str]:
    return [target["expr"] for panel in PANELS for target in panel["targets"]]


def test_the_datasource_is_a_variable_not_an_import_placeholder():
    assert "__inputs" not in DASHBOARD
    assert "DS_PROMETHEUS" not in json.dumps(DASHBOARD)
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    reference = {"type": "prometheus", "uid": "${datasource}"}
    for panel in PANELS:
        assert panel["datasource"] == reference, panel["title"]
        assert all(target["datasource"] == reference for target in panel["targets"]), panel["title"]
    assert variables["job"]["datasource"] == variables["instance"]["datasource"] == reference


def test_every_query_is_narrowed_to_the_chosen_job_and_instance():
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert "job" in variables["job"]["definition"]
    assert 'job=~"$job"' in variables["instance"]["definition"]  # instances of the chosen jobs
    selectors = [m for expression in expressions() for m in SELECTOR.finditer(expression)]
    assert len(selectors) >= 14
    for match in selectors:
        matchers = match.group(2) or ""
        assert 'job=~"$job"' in matchers and 'instance=~"$instance"' in matchers, match.group(0)


def test_zero_instead_of_no_data_where_no_series_means_none():
    titles = {panel["title"] for panel in PANELS}
    assert titles >= COUNTING
    for panel in PANELS:
        if panel["title"] in COUNTING:
            assert panel["fieldConfig"]["defaults"].get("noValue") == "0", panel["title"]
    server_errors = next(p for p in PANELS if p["title"] == "Server errors")
    assert "or vector(0)" in server_errors["targets"][0]["expr"]  # 0 %, not "No data", until the first 5xx
