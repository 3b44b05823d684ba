"""The key page's Requests tab in a browser: what an admin troubleshooting an integration sees, with
axe-core on it."""

from __future__ import annotations

from playwright.sync_api import expect

from keys.metering import requestlog
from tests.helpers.browser import run_axe


def test_the_requests_tab_says_why_filters_and_copies_the_request_id(sign_in, make_key, live_server):
    issued = make_key(name="SCADA bridge", scopes=["api-keys:read"])
    page = sign_in("advanced@acme.test")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    ok = page.request.get(f"{live_server.url}/api/v1/key", headers=headers)
    refused = page.request.delete(f"{live_server.url}/api/v1/org/api-keys/{issued.key.pk}", headers=headers)
    assert (ok.status, refused.status) == (200, 403)
    requestlog.buffer.flush()  # what the timer does every few seconds

    page.goto(f"/settings/api-keys/{issued.key.pk}/")
    page.get_by_role("link", name="Requests", exact=True).click()
    expect(page.get_by_role("heading", name="SCADA bridge")).to_be_visible()
    rows = page.locator("tr.request-row")
    expect(rows).to_have_count(2)
    newest = rows.first
    expect(newest).to_contain_text("DELETE")
    expect(newest).to_contain_text("403")
    expect(newest).to_contain_text("missing scope api-keys:write")
    assert not run_axe(page, "requests tab")

    newest.get_by_role("button", name="Copy request id").click()
    expect(newest.get_by_role("button", name="Copied request id")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == refused.headers["x-request-id"]

    page.get_by_label("Status").select_option("2xx")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("GET /api/v1/key")
    assert "status=2xx" in page.url

    page.get_by_label("From").fill("2026-12-04T10:00")
    page.get_by_label("To").fill("2026-12-04T09:00")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".field-error")).to_contain_text("To must be after From")
    assert not run_axe(page, "requests tab with a wrong filter")
