"""docs/alerts.yml passes `promtool check rules`, and `promtool test rules docs/alerts.test.yml`:
every alert fires in a test when it should and is silent in another (an idle night among them).

Skipped where promtool is missing (Debian's prometheus package), except in CI, which installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.helpers.deployment import ROOT

PROMTOOL = shutil.which("promtool")
ALERTS = ROOT / "docs" / "alerts.yml"
ALERT_TESTS = ROOT / "docs" / "alerts.test.yml"


def alert_names() -> set[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}


def test_every_alert_is_tested_firing_and_silent():
    firing, silent, idle = set(), set(), set()
    for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
            if "idle night" in case.get("name", "") and not check.get("exp_alerts"):
                idle.add(check["alertname"])
    assert len(alert_names()) == 6
    assert firing == alert_names()
    assert silent == alert_names()
    assert idle == alert_names()


@pytest.fixture(scope="module")
def promtool() -> str:
    if not PROMTOOL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install Debian's prometheus package (.ci/run does)")
        pytest.skip("needs promtool (apt-get install prometheus)")
    return PROMTOOL


def test_the_rules_check(promtool):
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in checked.stdout


def test_the_rules_unit_tests_pass(promtool):
    tested = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name], cwd=ALERT_TESTS.parent, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
