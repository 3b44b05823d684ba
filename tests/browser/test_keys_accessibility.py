"""axe-core (vendored from the npm package, tests/browser/vendor/axe.min.js) on every key screen:
no serious or critical violation. Also: the list is usable at phone width."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import (
    close_reveal,
    fill_create_form,
    key_rows,
    open_create_dialog,
    reveal_dialog,
    run_axe,
    seed_keys,
)


def test_axe_on_every_key_screen(sign_in, demo, make_key):
    keys = seed_keys(demo, make_key)
    page = sign_in("advanced@acme.test")
    results = {}

    page.goto("/settings/api-keys/")
    expect(key_rows(page)).to_have_count(4)
    results["list"] = run_axe(page, "list")

    dialog = open_create_dialog(page)
    results["form"] = run_axe(page, "form dialog")
    fill_create_form(dialog, name="Axe check", scopes=("charge-points:read",))
    dialog.get_by_label("Name", exact=True).fill("ERP production")  # taken: an error on the form
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.locator("#id_name_error")).to_be_visible()
    results["form with errors"] = run_axe(page, "form dialog with errors")
    dialog.get_by_label("Name", exact=True).fill("Axe check")
    dialog.get_by_role("button", name="Create").click()
    reveal = reveal_dialog(page)
    results["reveal"] = run_axe(page, "reveal dialog")
    close_reveal(reveal)

    page.goto(f"/settings/api-keys/{keys['scada'].key.pk}/")
    results["detail"] = run_axe(page, "detail")
    page.get_by_role("button", name="Regenerate").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    results["regenerate"] = run_axe(page, "regenerate dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    results["revoke"] = run_axe(page, "revoke dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Edit").click()
    edit = page.get_by_role("dialog")
    edit.get_by_label("Name").fill("")
    edit.get_by_role("button", name="Save").click()
    expect(edit.locator("#id_name_error")).to_be_visible()
    results["edit with errors"] = run_axe(page, "edit dialog with errors")
    page.keyboard.press("Escape")

    page.goto("/settings/audit-log/")
    results["audit log"] = run_axe(page, "audit log")

    blocking = {name: [v["id"] for v in found] for name, found in results.items() if found}
    assert not blocking, blocking


@pytest.mark.parametrize("path", ["/settings/api-keys/", "/settings/audit-log/", "detail"])
def test_phone_width_has_no_sideways_scrolling(sign_in, demo, make_key, path):
    keys = seed_keys(demo, make_key)
    page = sign_in("advanced@acme.test")
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"/settings/api-keys/{keys['scada'].key.pk}/" if path == "detail" else path)
    expect(page.locator("h1")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    if path == "detail":
        assert not run_axe(page, "detail at phone width")


def test_axe_on_the_applications_pages(sign_in, demo):
    page = sign_in("advanced@acme.test")
    results = {}
    for slug in ("", "portal/", "incharge/"):
        page.goto(f"/settings/applications/{slug}")
        results[slug or "list"] = run_axe(page, f"applications {slug or 'list'}")
    assert not any(results.values()), results


def test_axe_on_the_disable_and_enable_dialogs(sign_in, demo, make_key):
    issued = make_key(name="Axe pause")
    page = sign_in("advanced@acme.test")
    page.goto(f"/settings/api-keys/{issued.key.pk}/")
    results = {}
    page.get_by_role("button", name="Disable").click()
    confirm = page.get_by_role("dialog", name="Disable “Axe pause”?")
    expect(confirm).to_be_visible()
    results["disable dialog"] = run_axe(page, "disable dialog")
    confirm.get_by_role("button", name="Disable").click()
    expect(page.locator("#disabled-notice")).to_be_visible()
    results["disabled key"] = run_axe(page, "disabled key")
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_role("dialog", name="Enable “Axe pause”?")).to_be_visible()
    results["enable dialog"] = run_axe(page, "enable dialog")
    assert not any(results.values()), results
