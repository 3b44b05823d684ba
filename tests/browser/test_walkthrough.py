"""The rough edges of an admin's day (issue 26): the audit log and the key list at desktop and phone
widths, dates with their zone, the 403 page, and the small things around them."""

from __future__ import annotations

from playwright.sync_api import expect

from accounts.actors import Actor
from accounts.models import User
from keys.services import update_key
from tests.helpers.browser import run_axe

FITS = """(selector) => {
  const region = document.querySelector(selector);
  const box = region.getBoundingClientRect();
  const heads = [...region.querySelectorAll('thead th')].map(th => th.getBoundingClientRect());
  return {
    scroll: region.scrollWidth - region.clientWidth,
    page: document.documentElement.scrollWidth - window.innerWidth,
    clipped: heads.filter(h => h.right > box.right + 0.5 || h.width < 40).length,
  };
}"""


def test_audit_log_reads_at_1280_with_each_change_on_its_own_line(sign_in, demo, make_key, screenshot):
    issued = make_key(name="ERP production", expires_in_days=30)
    update_key(
        actor=Actor.for_user(User.objects.get(email="advanced@acme.test")),
        key=issued.key,
        name="ERP production (EU)",
    )
    page = sign_in("advanced@acme.test")
    page.goto("/settings/audit-log/")
    fit = page.evaluate(FITS, "#audit-table .table-scroll")
    assert fit == {"scroll": 0, "page": 0, "clipped": 0}
    updated = page.locator("#audit-table tbody tr", has_text="Key updated")
    expect(updated.locator(".detail-lines li").first).to_have_text(
        "name: ERP production → ERP production (EU)"
    )
    created = page.locator("#audit-table tbody tr", has_text="Key created")
    # No row is taller than a few lines: the details wrap in a column of their own.
    assert created.bounding_box()["height"] < 140
    # The whole entry is one click away: the rest of its details and where it came from.
    more = created.locator("details.event-more")
    expect(more.locator("li", has_text="allowed networks")).to_be_hidden()
    more.locator("summary").click()
    expect(more.locator("li", has_text="allowed networks: anywhere")).to_be_visible()
    expect(page.locator("#audit-table tbody tr").first.locator("time").first).to_contain_text("UTC")
    screenshot(page, "audit-log-1280")
    assert run_axe(page, "audit log") == []
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "audit-log-390")
