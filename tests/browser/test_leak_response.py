"""Leak response in Chromium: an admin holding a leaked secret pastes it into "Find the key of a
secret" on API Keys, sees which key it is (the field emptied, the secret in no URL), and regenerates
that key from there; the leak policy is chosen on Settings → Security. axe-core on each screen."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.helpers.browser import api_status, close_reveal, reveal_dialog, revealed_secret, run_axe


def test_paste_a_leaked_secret_see_its_key_and_regenerate_it_from_there(live_server, sign_in, demo, make_key):
    leaked = make_key(name="Warehouse sync", application=demo.incharge, scopes=["billing:read"])
    make_key(name="Another integration", application=demo.incharge, scopes=["billing:read"])
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    page.get_by_text("Find the key of a secret").click()
    field = page.get_by_label("Client Secret")
    expect(field).to_be_visible()
    field.focus()
    page.keyboard.insert_text(leaked.secret)  # as a paste does
    page.get_by_role("button", name="Find the key").click()

    answer = page.locator("#find-result")
    expect(answer.get_by_role("link", name="Warehouse sync")).to_be_visible()
    expect(answer).to_contain_text(leaked.key.client_id)
    expect(answer).to_contain_text("current secret")
    expect(page.get_by_label("Client Secret")).to_have_value("")  # emptied after
    assert leaked.secret not in page.url and leaked.secret not in page.content()
    assert not run_axe(page, "key list with a found key")

    answer.get_by_role("button", name="Regenerate").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Warehouse sync")
    assert not run_axe(page, "regenerate dialog from the find form")
    dialog.get_by_role("button", name="Regenerate").click()
    reveal = reveal_dialog(page)
    new_secret = revealed_secret(reveal)
    close_reveal(reveal)
    # Done leads to the key's page (the find result has no list to refresh in place).
    expect(page).to_have_url(re.compile(rf"/settings/api-keys/{leaked.key.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Warehouse sync")
    assert api_status(page, live_server, leaked.secret) == 401  # the leaked secret stopped at once
    assert api_status(page, live_server, new_secret) == 200


def test_a_secret_no_key_of_yours_has_and_a_typo_say_so_next_to_the_field(live_server, sign_in, demo):
    page = sign_in("support@acme.test")
    page.goto("/settings/api-keys/find/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Find the key of a secret")
    page.get_by_label("Client Secret").fill("sk_live_not-a-real-secret")
    page.get_by_role("button", name="Find the key").click()
    expect(page.locator("#id_secret_error")).to_contain_text("not a Client Secret of this portal")
    expect(page.get_by_label("Client Secret")).to_have_value("")
    assert not run_axe(page, "find form with an error")


def test_the_leak_policy_is_chosen_on_the_security_page(live_server, sign_in, demo):
    page = sign_in("advanced@acme.test")
    page.goto("/settings/security/")
    group = page.get_by_role("group", name="When a secret is reported leaked")
    expect(group.get_by_label("Revoke the key")).to_be_checked()
    assert not run_axe(page, "security page with the leak policy")
    group.get_by_label("Flag it exposed only").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("flagged exposed and keeps working")).to_be_visible()
    expect(
        page.get_by_role("group", name="When a secret is reported leaked").get_by_label(
            "Flag it exposed only"
        )
    ).to_be_checked()
