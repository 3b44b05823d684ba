"""An audit event's details as one readable line."""

import pytest

from audit.describe import describe_details, describe_lines


@pytest.mark.parametrize(
    "details, line",
    [
        ({"name": ["ERP", "ERP prod"]}, "name: ERP → ERP prod"),
        ({"allowed_ips": ["192.0.2.0/24", "2001:db8::/32"]}, "allowed networks: 192.0.2.0/24, 2001:db8::/32"),
        ({"allowed_ips": []}, "allowed networks: anywhere"),
        ({"allowed_ips": [[], ["192.0.2.0/24"]]}, "allowed networks: anywhere → 192.0.2.0/24"),
        ({"max_key_lifetime_days": [None, 90]}, "maximum key lifetime (days): no limit → 90"),
        ({"require_ip_allowlist": [False, True]}, "require allowed networks: off → on"),
        ({"rotation_policy_days": [90, 30]}, "rotation period (days): 90 → 30"),
        ({"grace_period_seconds": 3600}, "grace period: 1 hour"),
    ],
)
def test_details_read_as_a_line(details, line):
    assert describe_details(details) == line


def test_the_order_does_not_depend_on_how_the_database_kept_the_keys():
    shuffled = {"require_ip_allowlist": [False, True], "rotation_policy_days": [90, 30], "path": "/x"}
    assert describe_details(shuffled) == (
        "rotation period (days): 90 → 30 · require allowed networks: off → on · path: /x"
    )


def test_each_detail_is_a_line_of_its_own_and_a_moment_carries_its_zone():
    from django.utils import timezone

    from audit.describe import describe_lines

    details = {"name": ["ERP", "ERP prod"], "expires_at": [None, "2026-12-09T13:05:00+00:00"]}
    assert describe_lines(details) == ["name: ERP → ERP prod", "expires at: never → Dec 9, 2026 13:05 UTC"]
    with timezone.override("Europe/Berlin"):  # the member's time zone
        assert describe_lines(details)[1] == "expires at: never → Dec 9, 2026 14:05 CET"


def test_an_immediate_regeneration_reads_as_the_old_secret_stopping_at_once():
    # Stored by regenerate_key without a grace period; it once read "grace period: none · old
    # secret valid until: never", as if the old secret never stopped.
    assert describe_details({"grace_period_seconds": 0, "old_secret_valid_until": None}) == (
        "old secret stopped at once"
    )


def test_a_regeneration_with_a_grace_period_says_until_when():
    details = {"grace_period_seconds": 3600, "old_secret_valid_until": "2026-12-05T10:00:00+00:00"}
    assert describe_details(details) == (
        "grace period: 1 hour · old secret valid until: Dec 5, 2026 10:00 UTC"
    )


def test_a_look_up_says_whether_it_found_a_key():
    assert describe_lines({"found": True, "secret": "current"}) == ["found: yes", "secret: current"]
    assert describe_lines({"found": False}) == ["found: no"]
