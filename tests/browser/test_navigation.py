"""Sign in, and the Settings menu shows exactly what the role allows."""

from playwright.sync_api import expect


def test_advanced_admin_sees_api_keys_in_settings(sign_in):
    page = sign_in("advanced@acme.test")
    settings_button = page.get_by_role("button", name="Settings")
    expect(settings_button).to_have_attribute("aria-expanded", "false")
    settings_button.click()
    expect(settings_button).to_have_attribute("aria-expanded", "true")
    menu = page.locator("#settings-menu")
    expect(menu.get_by_role("link", name="API Keys")).to_be_visible()
    expect(menu.get_by_role("link", name="Applications")).to_be_visible()
    expect(menu.get_by_role("link", name="Members")).to_be_visible()
    expect(menu.get_by_role("link", name="Security")).to_be_visible()
    expect(menu.get_by_role("link", name="Audit log")).to_be_visible()
    page.keyboard.press("Escape")
    expect(settings_button).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()
    expect(settings_button).to_be_focused()
    # Tabbing out of the menu closes it, and so does a click elsewhere.
    page.keyboard.press("Enter")
    expect(settings_button).to_have_attribute("aria-expanded", "true")
    for name in ("API Keys", "Applications", "Members", "Security", "Audit log"):
        page.keyboard.press("Tab")
        expect(menu.get_by_role("link", name=name)).to_be_focused()
    page.keyboard.press("Tab")
    expect(menu).to_be_hidden()
    expect(settings_button).to_have_attribute("aria-expanded", "false")
    settings_button.click()
    expect(menu).to_be_visible()
    page.get_by_role("heading", level=1).click()
    expect(menu).to_be_hidden()


def test_admin_has_no_api_keys_link(sign_in):
    page = sign_in("admin@acme.test")
    page.get_by_role("button", name="Settings").click()
    menu = page.locator("#settings-menu")
    expect(menu.get_by_role("link", name="Applications")).to_be_visible()
    expect(menu.get_by_role("link", name="API Keys")).to_have_count(0)
    expect(menu.get_by_role("link", name="Audit log")).to_have_count(0)
    expect(menu.get_by_role("link", name="Security")).to_have_count(0)
    expect(menu.get_by_role("link", name="Members")).to_have_count(0)
    response = page.goto("/settings/api-keys/")
    assert response.status == 403


def test_wrong_password_shows_error_next_to_form(page, demo):
    page.goto("/login/")
    page.get_by_label("Email").fill("advanced@acme.test")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
