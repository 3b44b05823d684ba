"""The API key pages in Chromium: create → reveal → copy → Done, filters in the URL, regenerate,
revoke, roles, and a key created with the keyboard alone. No fixed sleeps: every wait is one of expect()'s."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Role
from keys.hotpath import usage
from keys.models import ApiKey, KeyUsageDay
from tests.helpers.browser import (
    api_status,
    fill_create_form,
    key_rows,
    open_create_dialog,
    reveal_dialog,
    revealed_secret,
    seed_keys,
)

# ---------------------------------------------------------------- create and reveal


def test_create_reveal_copy_done_reload_and_use(sign_in, demo, make_key, live_server, screenshot):
    seed_keys(demo, make_key)
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    expect(page.get_by_text("3 keys in use · no limit")).to_be_visible()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    dialog = open_create_dialog(page)
    fill_create_form(dialog, name="Warehouse ERP", scopes=("charge-points:read", "billing:write"))
    dialog.get_by_label("Expiry", exact=True).select_option("90")
    screenshot(page, "key-form")
    dialog.get_by_role("button", name="Create").click()

    reveal = reveal_dialog(page)
    # A native <dialog> opened with showModal() (so modal: the page behind is inert), named by its
    # heading and described by the warning.
    assert reveal.evaluate("d => d.localName === 'dialog' && d.matches(':modal')")
    expect(reveal).to_have_attribute("aria-labelledby", "reveal-title")
    expect(reveal).to_have_attribute("aria-describedby", "reveal-warning")
    secret = revealed_secret(reveal)
    client_id = reveal.locator("#reveal-client-id").inner_text().strip()
    screenshot(page, "key-reveal")
    copy = reveal.locator("[data-copy-target=reveal-client-secret]")
    expect(copy).to_have_accessible_name("Copy Client Secret")
    expect(copy).to_be_focused()
    copy.click()
    expect(copy).to_have_text("Copied Client Secret")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    copy_id = reveal.locator("[data-copy-target=reveal-client-id]")
    copy_id.click()
    expect(copy_id).to_have_text("Copied Client ID")

    reveal.get_by_role("button", name="Done").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("link", name="+ Add API Key")).to_be_focused()
    expect(key_rows(page).filter(has_text="Warehouse ERP")).to_have_count(1)
    expect(page.get_by_text("4 keys in use · no limit")).to_be_visible()  # quota refreshed out of band
    assert secret not in page.content()
    assert secret not in page.evaluate("JSON.stringify(sessionStorage) + JSON.stringify(localStorage)")

    page.reload()
    expect(key_rows(page).filter(has_text="Warehouse ERP")).to_have_count(1)
    assert secret not in page.content() and client_id in page.content()
    page.get_by_role("link", name="Warehouse ERP").click()
    expect(page.get_by_role("heading", name="Warehouse ERP")).to_be_visible()
    assert secret not in page.content()

    assert api_status(page, live_server, secret) == 200
    body = page.request.get(
        f"{live_server.url}/api/v1/key", headers={"Authorization": f"Bearer {client_id}:{secret}"}
    ).json()
    assert body["name"] == "Warehouse ERP" and body["scopes"] == ["charge-points:read", "billing:write"]


def test_the_demo_keys_are_listed_and_one_shows_its_30_days(sign_in, demo_keys, screenshot):
    """What a first `make run` shows: seed_demo's keys in the list, with their states, and a key
    page with its month of traffic."""
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    expect(page.get_by_text("7 keys in use · no limit")).to_be_visible()  # the revoked one is not in use
    rows = key_rows(page)
    expect(rows).to_have_count(8)
    for name, badge in [
        ("SAP ERP Integration", "Active"),
        ("SCADA BMS Integration", "Active"),
        ("Field Technician App", "Active"),
        ("Data Warehouse ETL", "Rotation due"),
        ("Production Dashboard", "Active"),
        ("CI Pipeline", "Expiring soon"),
        ("Billing Export (legacy)", "Revoked"),
        ("Webhook Relay", "Idle"),
    ]:
        expect(rows.filter(has_text=name).get_by_text(badge, exact=True)).to_be_visible()
    expect(rows.filter(has_text="Acme North")).to_have_count(2)
    expect(page.get_by_text("IoT Gateway")).to_have_count(0)  # Globex's own
    page.set_viewport_size({"width": 1280, "height": 1060})  # every row in the picture
    screenshot(page, "key-list")
    page.set_viewport_size({"width": 1280, "height": 860})

    page.get_by_role("link", name="SAP ERP Integration").click()
    expect(page.get_by_role("heading", name="SAP ERP Integration")).to_be_visible()
    expect(page.get_by_text("The previous secret still works until")).to_be_visible()
    usage_region = page.get_by_role("region", name="Usage")
    expect(usage_region.get_by_text("192.0.2.10")).to_be_visible()
    expect(usage_region.locator("svg.usage-chart:not(.usage-chart-narrow) rect.bar-ok")).to_have_count(30)
    expect(usage_region.locator("figcaption")).to_contain_text(
        re.compile(r"calls in the last 30 days on 30 of them")
    )


def test_errors_show_next_to_fields_in_the_dialog(sign_in, demo, make_key):
    make_key(name="Taken name")
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    dialog = open_create_dialog(page)
    dialog.get_by_label("Name", exact=True).fill("taken NAME")
    dialog.get_by_label("Expiry", exact=True).select_option("custom")
    days = dialog.get_by_label("Days until expiry")
    expect(days).to_be_focused()
    days.fill("5000")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.locator("#id_expiry_days_error")).to_contain_text("between 1 and 3650 days")
    expect(dialog.locator("#scopes-error")).to_contain_text("Choose at least one scope.")
    expect(dialog.get_by_label("Days until expiry")).to_be_focused()  # the first invalid field
    expect(dialog.get_by_label("Days until expiry")).to_have_value("5000")
    dialog.get_by_label("Days until expiry").fill("30")
    dialog.get_by_label("api-keys:read", exact=True).check()
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.locator("#id_name_error")).to_contain_text("already exists")
    expect(dialog.get_by_label("Name", exact=True)).to_be_focused()
    expect(dialog.locator("#id_expiry_days_error")).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("link", name="+ Add API Key")).to_be_focused()


# ---------------------------------------------------------------- the list


def test_filter_by_name_updates_the_url_and_shows_one_row(sign_in, demo, make_key):
    seed_keys(demo, make_key)
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    expect(key_rows(page)).to_have_count(4)
    page.get_by_role("search").get_by_label("Search").fill("scada")
    expect(page).to_have_url(re.compile(r"/settings/api-keys/\?q=scada$"))
    expect(key_rows(page)).to_have_count(1)
    expect(key_rows(page).first).to_contain_text("SCADA north")
    # The URL is a bookmark: opening it gives the same, filtered, full page.
    page.goto(page.url)
    expect(key_rows(page)).to_have_count(1)
    expect(page.get_by_role("search").get_by_label("Search")).to_have_value("scada")
    # Sorting swaps only the table, keeps the filter, and Back restores the previous state.
    page.get_by_role("search").get_by_label("Search").fill("")
    expect(key_rows(page)).to_have_count(4)
    page.get_by_role("link", name="Name", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=name"))
    expect(key_rows(page).first).to_contain_text("BI dashboard")
    expect(page.locator("#sort-name")).to_be_focused()  # the swapped-in header link keeps focus
    page.get_by_role("search").get_by_label("Status").select_option("revoked")
    expect(page).to_have_url(re.compile(r"status=revoked&sort=name|sort=name&status=revoked"))
    expect(key_rows(page)).to_have_count(1)
    page.get_by_role("search").get_by_role("link", name="Clear").click()
    expect(page).to_have_url(re.compile(r"/settings/api-keys/$"))
    expect(key_rows(page)).to_have_count(4)
    expect(page.get_by_role("search").get_by_label("Status")).to_have_value("")
    page.go_back()
    expect(key_rows(page)).to_have_count(1)
    page.go_back()
    expect(key_rows(page)).to_have_count(4)


# ---------------------------------------------------------------- regenerate and revoke


def test_regenerate_with_the_warning_stops_the_old_secret(sign_in, demo, make_key, live_server):
    old = make_key(name="Billing export", application=demo.incharge, scopes=["billing:read"])
    page = sign_in("advanced@acme.test")
    page.goto(f"/settings/api-keys/{old.key.pk}/")
    assert api_status(page, live_server, old.secret) == 200
    page.get_by_role("button", name="Regenerate").click()
    warning = page.get_by_role("dialog", name="Regenerate “Billing export”?")
    expect(warning).to_contain_text("Integrations using the current secret will stop working")
    expect(warning.get_by_label("Stop now")).to_be_checked()
    warning.get_by_role("button", name="Regenerate").click()
    reveal = reveal_dialog(page)
    expect(reveal).to_contain_text("The previous secret has stopped working")
    new_secret = revealed_secret(reveal)
    reveal.get_by_role("button", name="Done").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Regenerate")).to_be_focused()
    assert new_secret not in page.content()
    assert api_status(page, live_server, old.secret) == 401
    assert api_status(page, live_server, new_secret) == 200


def test_regenerate_with_one_hour_grace_keeps_both_working(sign_in, demo, make_key, live_server, screenshot):
    old = make_key(
        name="Charging app", application=demo.incharge, scopes=["charge-points:read", "sessions:write"]
    )
    today = timezone.now().date()
    KeyUsageDay.objects.bulk_create(
        KeyUsageDay(
            key=old.key,
            day=today - timedelta(days=n),
            total=40 + (n * 37) % 90,
            success=36 + (n * 37) % 90,
            client_errors=2,
            denied=1,
            rate_limited=1,
        )
        for n in range(1, 29, 2)
    )
    page = sign_in("advanced@acme.test")
    page.goto(f"/settings/api-keys/{old.key.pk}/")
    page.get_by_role("button", name="Regenerate").click()
    warning = page.get_by_role("dialog", name=re.compile("Regenerate"))
    warning.get_by_label("After 1 hour").check()
    warning.get_by_role("button", name="Regenerate").click()
    reveal = reveal_dialog(page)
    expect(reveal).to_contain_text("The previous secret keeps working until")
    new_secret = revealed_secret(reveal)
    reveal.get_by_role("button", name="Done").click()
    expect(page.get_by_text("The previous secret still works until")).to_be_visible()
    for secret in (old.secret, new_secret, new_secret):
        assert api_status(page, live_server, secret) == 200
    usage.buffer.flush(force_last_used=True)
    page.reload()
    expect(page.get_by_role("heading", name="Usage")).to_be_visible()
    expect(page.get_by_role("region", name="Usage").get_by_text("127.0.0.1")).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 1480})  # the whole page, chart included
    screenshot(page, "key-detail")


def test_revoke_confirms_and_the_key_stops_working(sign_in, demo, make_key, live_server):
    issued = make_key(name="Old integration")
    page = sign_in("advanced@acme.test")
    page.goto(f"/settings/api-keys/{issued.key.pk}/")
    page.get_by_role("button", name="Revoke").click()
    confirm = page.get_by_role("dialog", name="Revoke “Old integration”?")
    expect(confirm).to_contain_text("cannot be undone and takes effect at once")
    expect(confirm.get_by_role("link", name="Cancel")).to_be_focused()  # the safe choice first
    confirm.get_by_role("link", name="Cancel").click()  # closes the dialog, stays on the page
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page).to_have_url(re.compile(rf"/settings/api-keys/{issued.key.pk}/$"))
    expect(page.get_by_role("button", name="Revoke")).to_be_focused()
    page.get_by_role("button", name="Revoke").click()
    confirm = page.get_by_role("dialog", name="Revoke “Old integration”?")
    confirm.get_by_role("button", name="Revoke").click()
    expect(page.locator("#revoked-notice")).to_contain_text("Revoked by advanced@acme.test on")
    expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
    expect(page.get_by_role("button", name="Regenerate")).to_have_count(0)
    assert api_status(page, live_server, issued.secret) == 401


# ---------------------------------------------------------------- roles


def test_support_is_read_only(sign_in, demo, make_key):
    keys = seed_keys(demo, make_key)
    page = sign_in("support@acme.test")
    page.goto("/settings/api-keys/")
    expect(key_rows(page)).to_have_count(4)
    expect(page.get_by_role("link", name="+ Add API Key")).to_have_count(0)
    page.get_by_role("link", name="ERP production").click()
    expect(page.get_by_role("heading", name="ERP production")).to_be_visible()
    expect(page.get_by_role("button", name="Regenerate")).to_have_count(0)
    expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
    assert page.goto("/settings/api-keys/new/").status == 403
    assert page.goto(f"/settings/api-keys/{keys['erp'].key.pk}/revoke/").status == 403
    assert page.goto("/settings/audit-log/").status == 200


def test_admin_is_kept_out(sign_in, demo, make_key):
    issued = make_key(name="Hidden")
    page = sign_in("admin@acme.test")
    for path in ("/settings/api-keys/", f"/settings/api-keys/{issued.key.pk}/", "/settings/audit-log/"):
        response = page.goto(path)
        assert response.status == 403
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        assert "Hidden" not in page.content()


def test_admin_api_cannot_choose_advanced_admin(sign_in, demo, make_key):
    make_key(name="Above my role", role=Role.ADVANCED_ADMIN)
    make_key(name="Mine to manage", role=Role.ADMIN_API)
    page = sign_in("adminapi@acme.test")
    page.goto("/settings/api-keys/")
    expect(key_rows(page)).to_have_count(1)
    expect(key_rows(page).first).to_contain_text("Mine to manage")
    dialog = open_create_dialog(page)
    role = dialog.get_by_label("Role")
    expect(role).to_have_value(str(int(Role.ADMIN_API)))
    options = role.locator("option").all_inner_texts()
    assert "Advanced Admin" not in options and options[0] == "Admin + API"
    # Even a crafted request is refused by the server.
    role.evaluate(
        "s => { const o = document.createElement('option'); o.value = '50'; s.append(o); s.value = '50'; }"
    )
    fill_create_form(dialog, name="Sneaky", application="API Key Portal", scopes=("api-keys:read",))
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.locator("#id_role_error")).to_contain_text("Select a valid choice")
    assert not ApiKey.objects.filter(name="Sneaky").exists()


# ---------------------------------------------------------------- the keyboard alone


def test_keyboard_only_creation(sign_in, demo, live_server):
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    add = page.get_by_role("link", name="Create your first key")  # the empty state's call to action
    page.locator("body").focus()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "+ Add API Key":
            break
    expect(page.get_by_role("link", name="+ Add API Key")).to_be_focused()
    expect(add).to_be_visible()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Add API Key")
    expect(dialog.get_by_label("Application")).to_be_focused()
    # Tab order through the form: role, account, name, expiry, then the scope checkboxes.
    for label in ("Role", "Account", "Name"):
        page.keyboard.press("Tab")
        expect(dialog.get_by_label(label, exact=True)).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("Typed by keyboard")
    page.keyboard.press("Tab")
    expect(dialog.get_by_label("Expiry", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    read = dialog.get_by_label("api-keys:read", exact=True)
    expect(read).to_be_focused()
    page.keyboard.press("Space")
    expect(read).to_be_checked()
    # Focus is trapped: the page behind the modal <dialog> is inert, so Shift+Tab from the dialog's
    # first element never lands on it. Chromium may stop once on its own UI (the document, headless)
    # before wrapping to the dialog's last element.
    dialog.get_by_role("link", name="Close").focus()
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(
        "document.activeElement === document.body || !!document.activeElement.closest('dialog')"
    )
    if page.evaluate("document.activeElement === document.body"):
        page.keyboard.press("Shift+Tab")
    expect(dialog.get_by_role("button", name="Create")).to_be_focused()
    page.locator("#add-key-button").focus()  # inert: it cannot take focus while the dialog is open
    expect(dialog.get_by_role("button", name="Create")).to_be_focused()
    page.keyboard.press("Enter")

    reveal = reveal_dialog(page)
    copy_secret = reveal.locator("[data-copy-target=reveal-client-secret]")
    expect(copy_secret).to_be_focused()
    secret = revealed_secret(reveal)
    # No clipboard permission in this browser yet: the secret is selected for Ctrl+C instead.
    page.keyboard.press("Enter")
    expect(copy_secret).to_contain_text("Press Ctrl+C")
    assert page.evaluate("getSelection().toString()") == secret
    expect(copy_secret).to_be_focused()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.keyboard.press("Enter")
    expect(copy_secret).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.keyboard.press("Tab")
    expect(reveal.get_by_role("button", name="Done")).to_be_focused()
    page.keyboard.press("Tab")  # wraps around inside the dialog
    expect(reveal.get_by_role("button", name=re.compile("Client ID"))).to_be_focused()
    page.keyboard.press("Escape")  # Escape on the reveal is Done
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("link", name="+ Add API Key")).to_be_focused()
    expect(key_rows(page).filter(has_text="Typed by keyboard")).to_have_count(1)
    assert secret not in page.content()
    assert api_status(page, live_server, secret) == 200


def test_edit_renames_and_brings_the_expiry_earlier_from_the_dialog(sign_in, demo, make_key, live_server):
    issued = make_key(name="Warehouse sync", expires_in_days=60)
    page = sign_in("advanced@acme.test")
    page.goto(f"/settings/api-keys/{issued.key.pk}/")
    page.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit “Warehouse sync”")
    expect(dialog).to_contain_text("to change what a key may do, create a new key")
    page.keyboard.press("Escape")  # closes without saving
    expect(dialog).to_have_count(0)
    page.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit “Warehouse sync”")
    later = (issued.key.expires_at + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    dialog.get_by_label("Expires at (UTC)").fill(later)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".field-error")).to_contain_text("can only be brought earlier")
    sooner = (issued.key.expires_at - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    dialog.get_by_label("Name").fill("Warehouse sync (EU)")
    dialog.get_by_label("Expires at (UTC)").fill(sooner)
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Warehouse sync (EU)")
    expect(page.get_by_text("Saved. What the key may do is unchanged.")).to_be_visible()
    assert api_status(page, live_server, issued.secret) == 200  # same secret, still working


def test_disable_then_enable_from_the_key_page(sign_in, demo, make_key, live_server):
    issued = make_key(name="Night batch")
    page = sign_in("advanced@acme.test")
    page.goto(f"/settings/api-keys/{issued.key.pk}/")
    page.get_by_role("button", name="Disable").click()
    confirm = page.get_by_role("dialog", name="Disable “Night batch”?")
    expect(confirm).to_contain_text("enabling brings back the same secret")
    expect(confirm.get_by_role("link", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Disable").click()
    expect(page.locator("#disabled-notice")).to_contain_text("Disabled since")
    assert api_status(page, live_server, issued.secret) == 401
    page.get_by_role("button", name="Enable").click()
    confirm = page.get_by_role("dialog", name="Enable “Night batch”?")
    confirm.get_by_role("button", name="Enable").click()
    expect(page.locator("#disabled-notice")).to_have_count(0)
    expect(page.get_by_role("button", name="Disable")).to_be_visible()
    assert api_status(page, live_server, issued.secret) == 200


# ---------------------------------------------------------------- usage export


def test_download_the_usage_csv_from_the_key_page(sign_in, demo, make_key):
    issued = make_key(name="Billing export", application=demo.incharge, scopes=["billing:read"])
    today = timezone.now().date()
    KeyUsageDay.objects.create(
        key=issued.key, day=today, total=12, success=9, client_errors=2, rate_limited=1
    )
    page = sign_in("support@acme.test")
    page.goto(f"/settings/api-keys/{issued.key.pk}/")
    usage_card = page.get_by_role("region", name="Usage")
    with page.expect_download() as started:
        usage_card.get_by_role("link", name="Download CSV").click()
    download = started.value
    first = today - timedelta(days=29)
    assert download.suggested_filename == f"billing-export-usage-{first:%Y-%m-%d}-{today:%Y-%m-%d}.csv"
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "date,calls,errors,rate_limited"
    assert len(lines) == 31 and lines[-1] == f"{today:%Y-%m-%d},12,2,1"
    expect(page).to_have_url(re.compile(rf"/settings/api-keys/{issued.key.pk}/$"))  # still on the page

    with page.expect_download() as started:
        usage_card.get_by_role("link", name="last 7 days").click()
    assert len(Path(started.value.path()).read_text(encoding="utf-8").splitlines()) == 8
