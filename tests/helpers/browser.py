"""Driving the key pages in Chromium: seeding a list worth looking at, opening and filling dialogs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from keys.models import ApiKey

SECRET = re.compile(r"sk_live_[0-9A-Za-z]{49}")

AXE = Path(__file__).resolve().parents[1] / "browser" / "vendor" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def run_axe(page: Page, name: str) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now (all are printed)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Through the DevTools protocol: the portal's CSP (rightly) refuses inline <script> tags.
        cdp = page.context.new_cdp_session(page)
        cdp.send("Runtime.evaluate", {"expression": AXE.read_text()})
        cdp.detach()
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    violations = result["violations"]
    by_impact: dict[str, int] = {}
    for violation in violations:
        by_impact[violation["impact"]] = by_impact.get(violation["impact"], 0) + 1
    summary = ", ".join(f"{impact}: {count}" for impact, count in sorted(by_impact.items())) or "none"
    print(f"\naxe-core {name}: {len(violations)} violations ({summary})")
    for violation in violations:
        targets = [node["target"] for node in violation["nodes"]][:3]
        print(f"  [{violation['impact']}] {violation['id']}: {violation['help']} {targets}")
    return [v for v in violations if v["impact"] in BLOCKING]


def seed_keys(demo, make_key) -> dict:
    """A list worth looking at: several applications, roles, accounts and states."""
    keys = {
        "erp": make_key(
            name="ERP production", application=demo.incharge, scopes=["billing:read", "sessions:read"]
        ),
        "scada": make_key(
            name="SCADA north",
            application=demo.infodeck,
            account=demo.north,
            role=Role.ADMIN_API,
            scopes=["iot:write", "assets:read", "locations:read", "work-orders:read"],
        ),
        "bi": make_key(name="BI dashboard", role=Role.SUPPORT, scopes=["api-keys:read"], expires_in_days=5),
        "old": make_key(name="Legacy mobile backend", application=demo.incharge, scopes=["sessions:read"]),
    }
    ApiKey.objects.filter(pk=keys["old"].key.pk).update(revoked_at=timezone.now(), revoked_by_label="system")
    ApiKey.objects.filter(pk=keys["erp"].key.pk).update(created_at=timezone.now() - timedelta(days=120))
    return keys


def api_status(page: Page, live_server, secret: str) -> int:
    response = page.request.get(
        f"{live_server.url}/api/v1/key", headers={"Authorization": f"Bearer {secret}"}
    )
    return response.status


def open_create_dialog(page: Page):
    page.get_by_role("link", name="+ Add API Key").click()
    dialog = page.get_by_role("dialog", name="Add API Key")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Application")).to_be_focused()
    return dialog


def fill_create_form(
    dialog, *, name: str, application: str = "InCharge", scopes=("charge-points:read",)
) -> None:
    dialog.get_by_label("Application").select_option(label=application)
    expect(dialog.get_by_text(f"{application} catalogue")).to_be_visible()
    dialog.get_by_label("Name", exact=True).fill(name)
    for scope in scopes:
        dialog.get_by_label(scope).check()  # its description, then the scope: "View billing billing:read"


def reveal_dialog(page: Page):
    dialog = page.get_by_role("dialog", name=re.compile("created|New secret"))
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("will not be shown again")
    return dialog


def revealed_secret(dialog) -> str:
    secret = dialog.locator("#reveal-client-secret").inner_text().strip()
    assert SECRET.fullmatch(secret)
    return secret


def close_reveal(dialog) -> None:
    """Done on the reveal, and past the "not copied" question when the secret was not copied."""
    dialog.get_by_role("button", name="Done").click()
    anyway = dialog.get_by_role("button", name="Close anyway")
    if anyway.count():
        anyway.click()
    expect(dialog).to_have_count(0)


def key_rows(page: Page):
    return page.locator("#key-table tbody tr")
