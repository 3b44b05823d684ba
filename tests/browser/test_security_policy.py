"""Settings → Security and allowed networks in Chromium: an Advanced Admin tightens the policy and
finds the keys it leaves behind, the create form then offers only what the policy allows, an edit
may only narrow a key's networks; Support reads the policy, Viewer is kept out; axe-core on each."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from keys.models import ApiKey
from tests.helpers.browser import (
    api_status,
    fill_create_form,
    key_rows,
    open_create_dialog,
    reveal_dialog,
    revealed_secret,
    run_axe,
)


def test_an_advanced_admin_tightens_the_policy_and_new_keys_follow_it(
    sign_in, demo, make_key, live_server, screenshot
):
    make_key(name="Legacy ERP")  # never expires, usable from anywhere
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    page.get_by_role("button", name="Settings").click()
    page.get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Security")
    expect(page.locator("#outside-count dd")).to_have_text("0")
    assert not run_axe(page, "security page")

    page.get_by_label("Rotation period (days)").fill("30")
    page.get_by_label("Maximum key lifetime (days)").fill("0")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_max_key_lifetime_days_error")).to_contain_text("greater than or equal to 1")
    assert not run_axe(page, "security page with an error")
    page.get_by_label("Maximum key lifetime (days)").fill("90")
    page.get_by_label("Require allowed networks").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("1 existing key is outside it")).to_be_visible()
    expect(page.get_by_label("Require allowed networks")).to_be_checked()
    screenshot(page, "security")

    page.locator("#outside-count a").click()
    expect(page).to_have_url(re.compile(r"/settings/api-keys/\?flag=outside_policy$"))
    expect(key_rows(page)).to_have_count(1)
    expect(key_rows(page).first).to_contain_text("Legacy ERP")
    expect(page.locator("#outside-policy-banner")).to_contain_text("1 key is outside")

    dialog = open_create_dialog(page)
    expiry = dialog.get_by_label("Expiry", exact=True)
    options = expiry.locator("option").all_inner_texts()
    assert options == ["30 days", "90 days", "Custom…"]
    expect(expiry).to_have_value("90")
    fill_create_form(dialog, name="Plant gateway")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.locator("#id_allowed_ips_error")).to_contain_text("requires at least one allowed network")
    dialog.get_by_label("Allowed networks").fill("127.0.0.1\n192.0.2.0/24")
    dialog.get_by_role("button", name="Create").click()
    secret = revealed_secret(reveal_dialog(page))
    assert api_status(page, live_server, secret) == 200  # the browser calls from 127.0.0.1
    key = ApiKey.objects.get(name="Plant gateway")
    assert key.allowed_ips == ["127.0.0.1", "192.0.2.0/24"] and key.expires_at is not None


def test_allowed_networks_are_shown_and_only_narrowed(sign_in, demo, make_key, live_server):
    issued = make_key(name="SCADA bridge", allowed_ips=["127.0.0.0/8", "192.0.2.0/24"])
    page = sign_in("advanced@acme.test")
    page.goto(f"/settings/api-keys/{issued.key.pk}/")
    expect(page.locator("#detail-allowed-ips code")).to_have_text(["127.0.0.0/8", "192.0.2.0/24"])
    page.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit “SCADA bridge”")
    networks = dialog.get_by_label("Allowed networks")
    networks.fill("127.0.0.0/8\n198.51.100.0/24")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#id_allowed_ips_error")).to_contain_text("198.51.100.0/24 is outside the networks")
    assert not run_axe(page, "edit dialog with a network error")
    dialog.get_by_label("Allowed networks").fill("192.0.2.0/24")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#detail-allowed-ips code")).to_have_text(["192.0.2.0/24"])
    # The browser calls from 127.0.0.1, which the key no longer allows: refused at once.
    assert api_status(page, live_server, issued.secret) == 403


def test_support_reads_the_policy_and_a_viewer_is_kept_out(sign_in, demo):
    page = sign_in("support@acme.test")
    page.goto("/settings/security/")
    expect(page.locator("#policy-read-only")).to_be_visible()
    # Read-only values read as text, not as fields that look editable.
    expect(page.locator("#policy-values dd")).to_contain_text(["90 days", "No limit", "No"])
    expect(page.locator("#policy-form")).to_have_count(0)
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    assert not run_axe(page, "security page, read-only")
    page.context.clear_cookies()
    page = sign_in("viewer@acme.test")
    response = page.goto("/settings/security/")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile("not allowed|403", re.I))
