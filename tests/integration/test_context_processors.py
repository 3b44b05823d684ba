"""portal/context_processors.py: the Settings menu shows each role exactly the pages it may open."""

import pytest

pytestmark = pytest.mark.django_db


MENU = {
    "advanced@acme.test": {"API Keys", "Applications", "Audit log"},
    "adminapi@acme.test": {"API Keys", "Applications", "Audit log"},
    "admin@acme.test": {"Applications"},
    "support@acme.test": {"API Keys", "Applications", "Audit log"},
    "viewer@acme.test": {"Applications"},
}


@pytest.mark.parametrize("email", list(MENU))
def test_menu_entries_per_role(login, demo, email):
    html = login(email).get("/settings/applications/").content.decode()
    assert 'popovertarget="settings-menu"' in html and ">\n          Settings" in html
    shown = {label for label in ("API Keys", "Applications", "Audit log") if f">{label}</a>" in html}
    assert shown == MENU[email]


@pytest.mark.parametrize(
    ("email", "status"),
    [(e, 200 if "API Keys" in MENU[e] else 403) for e in MENU],
)
def test_key_pages_answer_403_to_roles_without_access(login, demo, email, status):
    client = login(email)
    assert client.get("/settings/api-keys/").status_code == status
    assert client.get("/settings/audit-log/").status_code == status
