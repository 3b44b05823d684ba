"""The rough edges of an admin's day: the audit log and the key list at desktop and phone
widths, dates with their zone, the 403 page, and the small things around them."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.actors import Actor
from accounts.models import User
from keys.services import update_key
from tests.helpers.browser import run_axe

FITS = """(selector) => {
  const region = document.querySelector(selector);
  const box = region.getBoundingClientRect();
  const heads = [...region.querySelectorAll('thead th')]
    .filter(th => getComputedStyle(th).display !== 'none')  // a column folded away is not clipped
    .map(th => th.getBoundingClientRect());
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


def test_dates_carry_the_members_zone_and_counts_say_what_they_count(sign_in, demo, make_key):
    seeded = [make_key(name=f"counted {n}") for n in range(3)]
    from keys.services import revoke_key

    revoke_key(actor=Actor.for_user(User.objects.get(email="advanced@acme.test")), key=seeded[0].key)
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    # The badge counts keys in use; the list says it shows the revoked one too.
    expect(page.locator("#quota-badge")).to_have_text("2 keys in use · no limit")
    expect(page.locator("#key-table .result-summary")).to_have_text(
        "Showing 1–3 of 3 keys, revoked and expired ones included"
    )
    page.get_by_label("Status").select_option("active")
    expect(page.locator("#key-table .result-summary")).to_have_text("Showing 1–2 of 2 keys")
    # The member's time zone, on the Password page, UTC until they choose another.
    page.get_by_role("link", name="Password").click()
    zone = page.get_by_label("Time zone", exact=True)
    expect(zone).to_have_value("UTC")
    zone.select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.get_by_role("status")).to_contain_text("Dates are now shown in Asia/Tokyo")
    assert run_axe(page, "password and time zone") == []
    page.goto(seeded[1].key.get_absolute_url())
    expect(page.locator("time", has_text="JST").first).to_be_visible()
    page.goto("/settings/audit-log/")
    expect(page.locator("#audit-table tbody tr").first.locator("time").first).to_contain_text("JST")


def test_key_list_fits_at_1280_and_folds_columns_when_narrower(sign_in, demo_keys, screenshot):
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    headers = page.locator("#key-table thead th")
    expect(headers).to_have_text(
        [
            "Name↕",
            "Application↕",
            "Role↕",
            "Account↕",
            "Scopes",
            "Status",
            "Created↓",
            "Last used↕",
            "Expires↕",
        ]
    )
    assert page.evaluate(FITS, "#key-table .table-scroll") == {"scroll": 0, "page": 0, "clipped": 0}
    for header in headers.all():
        expect(header).to_be_visible()
    sap = page.locator("#key-table tbody tr", has_text="SAP ERP Integration")
    # A key in a grace period says so in the list, the moment with its zone on hover.
    grace = sap.get_by_text("Old secret until")
    expect(grace).to_be_visible()
    assert grace.get_attribute("title").endswith(" UTC")
    expect(sap.locator(".key-client-id")).to_have_text(
        f"Client ID {demo_keys['SAP ERP Integration'].client_id}"
    )
    expect(sap.locator(".key-folded")).to_be_hidden()
    screenshot(page, "key-list-1280")
    # Narrower: role, account, created and last used fold into the name's cell.
    page.set_viewport_size({"width": 1024, "height": 800})
    assert page.evaluate(FITS, "#key-table .table-scroll") == {"scroll": 0, "page": 0, "clipped": 0}
    expect(page.locator("#key-table thead th.col-fold").first).to_be_hidden()
    expect(sap.locator(".key-folded")).to_be_visible()
    expect(sap.locator(".key-folded")).to_contain_text("Admin + API · Acme Corp · created")
    assert run_axe(page, "key list at 1024 px") == []
    screenshot(page, "key-list-1024")
    # A phone: one card per key, every field labelled, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(sap.locator("td[data-label='Role']")).to_be_visible()
    expect(sap.locator(".key-folded")).to_be_hidden()
    screenshot(page, "key-list-390")


def test_a_refusal_keeps_the_top_bar_and_says_which_role_opens_api_keys(sign_in):
    page = sign_in("viewer@acme.test")
    # Landing on Applications, the member learns why API Keys is not in the menu.
    expect(page.get_by_role("heading", level=1)).to_have_text("Applications")
    expect(page.locator("#keys-access-note")).to_have_text(
        "API Keys needs the Advanced Admin or Admin + API role (Support may read keys without "
        "changing them): ask an Advanced Admin of your organization."
    )
    response = page.goto("/settings/api-keys/")
    assert response.status == 403
    expect(page.locator("#forbidden")).to_contain_text("Your role cannot see API keys. API Keys needs the")
    # Still signed in, with somewhere to go: the menu, the password page, logging out.
    expect(page.get_by_role("button", name="Settings")).to_be_visible()
    expect(page.get_by_role("link", name="Password")).to_be_visible()
    assert run_axe(page, "403") == []
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/**")


def test_a_description_is_added_like_the_name_shown_and_found(sign_in, demo, make_key, screenshot):
    issued = make_key(name="Warehouse sync")
    make_key(name="Other integration")
    page = sign_in("advanced@acme.test")
    page.goto(issued.key.get_absolute_url())
    expect(page.locator("#detail-description")).to_contain_text("None: add one")
    page.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit “Warehouse sync”")
    dialog.get_by_label("Description").fill("Run by the logistics team; secret in Vault kv/warehouse")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#detail-description")).to_have_text(
        "Run by the logistics team; secret in Vault kv/warehouse"
    )
    assert run_axe(page, "key page with a description") == []
    page.goto("/settings/api-keys/")
    page.get_by_label("Search").fill("logistics")
    expect(page.locator("#key-table tbody tr")).to_have_count(1)
    expect(page.locator("#key-table tbody tr")).to_contain_text("Warehouse sync")
    expect(page.locator("#keys-csv")).to_have_attribute("href", "/settings/api-keys/export.csv?q=logistics")


def test_the_usage_chart_reads_on_a_phone(sign_in, demo_keys, screenshot):
    page = sign_in("advanced@acme.test")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(demo_keys["Production Dashboard"].get_absolute_url())
    wide = page.locator("svg.usage-chart:not(.usage-chart-narrow)")
    narrow = page.locator("svg.usage-chart-narrow")
    expect(wide).to_be_hidden()
    expect(narrow).to_be_visible()
    expect(narrow.locator("rect.bar-ok")).to_have_count(30)
    # Its axis labels at a size people read (the wide chart squeezed to 316 px drew them at 4 px).
    sizes = narrow.locator("text.axis").evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert min(sizes) >= 9, sizes
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    narrow.scroll_into_view_if_needed()
    screenshot(page, "usage-chart-390")
    assert run_axe(page, "key page at 390 px") == []
    page.set_viewport_size({"width": 1280, "height": 860})
    expect(wide).to_be_visible()
    expect(narrow).to_be_hidden()


# What only Swagger UI itself can fix (listed in the README): a link inside each operation's
# summary button, and a tag heading one level too deep.
SWAGGER_UI_OWN = {"nested-interactive", "heading-order"}


def _axe_ids(page, name: str) -> set[str]:
    run_axe(page, name)  # loads axe-core and prints every violation
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return {violation["id"] for violation in result["violations"]}


def test_the_rest_docs_and_the_explorer_lead_back_and_pass_axe(sign_in):
    page = sign_in("advanced@acme.test")
    page.goto("/api/v1/docs")
    expect(page.locator("#swagger-ui .opblock").first).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_label("Server")).to_be_visible()
    assert _axe_ids(page, "REST docs") <= SWAGGER_UI_OWN
    page.locator("#back-to-portal").click()
    expect(page).to_have_url(re.compile(r"/settings/api-keys/$"))
    page.goto("/api/graphql")
    expect(page.get_by_label("Query").first).to_be_attached()
    expect(page.locator(".graphiql-response textarea")).to_have_attribute("aria-label", "Response")
    assert _axe_ids(page, "GraphQL explorer") == set()
    page.locator("#back-to-portal").click()
    expect(page).to_have_url(re.compile(r"/settings/api-keys/$"))
