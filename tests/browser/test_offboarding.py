"""Offboarding in Chromium: a member creates a key, an Advanced Admin deactivates them from
Settings → Members, the member's open session is signed out on its next request, and the key
shows Exposed until it is regenerated. axe-core on the page and the dialog."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Role
from tests.helpers.browser import (
    close_reveal,
    fill_create_form,
    key_rows,
    open_create_dialog,
    reveal_dialog,
    run_axe,
)
from tests.helpers.demo import PASSWORD


def test_a_leaver_is_deactivated_and_the_keys_they_saw_are_exposed_until_regenerated(
    browser, live_server, sign_in, demo, make_user, screenshot
):
    make_user("bob@acme.test", Role.ADMIN_API)
    # Bob, in his own browser, creates a key and sees its secret.
    bobs = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    bob = bobs.new_page()
    bob.goto("/login/")
    bob.get_by_label("Email").fill("bob@acme.test")
    bob.get_by_label("Password").fill(PASSWORD)
    bob.get_by_role("button", name="Log in").click()
    bob.goto("/settings/api-keys/")
    dialog = open_create_dialog(bob)
    fill_create_form(dialog, name="Bob's ERP bridge")
    dialog.get_by_role("button", name="Create").click()
    close_reveal(reveal_dialog(bob))

    # Ada finds him on Members and deactivates him.
    page = sign_in("advanced@acme.test")
    page.get_by_role("button", name="Settings").click()
    page.get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Members")
    row = page.locator("tr", has=page.get_by_role("rowheader", name="bob@acme.test"))
    expect(row.get_by_role("link", name=re.compile("1 key whose secret"))).to_be_visible()
    assert not run_axe(page, "members page")
    row.get_by_role("button", name="Deactivate bob@acme.test").click()
    confirm = page.get_by_role("dialog", name="Deactivate bob@acme.test?")
    expect(confirm.locator("#seen-keys")).to_contain_text("Bob's ERP bridge")
    expect(confirm.get_by_role("link", name="Cancel")).to_be_focused()
    assert not run_axe(page, "deactivate dialog")
    screenshot(page, "members-deactivate")
    confirm.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_text("bob@acme.test is deactivated and signed out everywhere")).to_be_visible()
    expect(page.locator("#exposed-banner")).to_contain_text("1 key is exposed")
    expect(row.get_by_role("button", name="Reactivate bob@acme.test")).to_be_visible()

    # Bob's open session ends at his next request.
    bob.goto("/settings/api-keys/")
    expect(bob).to_have_url(re.compile(r"/login/"))
    bobs.close()

    # The key is exposed until regenerated.
    page.locator("#exposed-banner").get_by_role("link", name="Show it").click()
    expect(key_rows(page)).to_have_count(1)
    expect(key_rows(page).first).to_contain_text("Exposed")
    key_rows(page).first.get_by_role("link", name="Bob's ERP bridge").click()
    expect(page.locator("#exposed-notice")).to_contain_text("seen by bob@acme.test")
    expect(page.locator("#detail-seen-by")).to_contain_text("bob@acme.test")
    page.get_by_role("button", name="Regenerate").click()
    page.get_by_role("dialog").get_by_role("button", name="Regenerate").click()
    close_reveal(reveal_dialog(page))
    expect(page.locator("#exposed-notice")).to_have_count(0)
    expect(page.locator("#detail-seen-by")).to_have_text("advanced@acme.test")
