"""Settings → Members and offboarding through the portal and the APIs: the page for each role, its
filters and query count, the Deactivate and Reactivate dialogs, sign-in refused like a wrong
password, and the exposed flag on the key list, the key page, REST and GraphQL."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from audit.models import AuditAction, AuditEvent
from keys.models import ApiKey
from keys.services import regenerate_key
from tests.helpers.api import assert_error
from tests.helpers.demo import PASSWORD
from tests.helpers.graphql import graphql
from tests.helpers.portal import HX, is_full_page
from tests.helpers.services import create, user_actor

pytestmark = pytest.mark.django_db

URL = "/settings/members/"


def _bob_with_keys(demo, make_user, count: int = 2) -> User:
    bob = make_user("bob@acme.test", Role.ADMIN_API)
    for n in range(count):
        create(demo, user_actor(demo, bob.email), name=f"bob key {n}")
    return bob


def _row(html: str, email: str) -> str:
    return re.search(
        rf'<tr id="member-\d+"[^>]*>\s*<th scope="row" data-label="Email">{re.escape(email)}</th>(.*?)</tr>',
        html,
        re.S,
    ).group(1)


def test_advanced_admin_sees_every_member_with_the_secrets_they_have_seen(demo, login, make_user):
    bob = _bob_with_keys(demo, make_user)
    client = login("advanced@acme.test")
    page = client.get(URL)
    html = page.content.decode()
    assert page.status_code == 200 and is_full_page(page)
    assert 'href="/settings/members/">Members</a>' in html  # in the Settings menu
    row = _row(html, "bob@acme.test")
    assert "Admin + API" in row and "Acme Corp" in row and "Never" in row and "Active" in row
    assert f'href="/settings/api-keys/?seen_by={bob.pk}"' in row and ">2</a>" in row
    assert "Deactivate bob@acme.test" in row
    assert "You" in _row(html, "advanced@acme.test")  # no button for oneself
    assert "advanced@globex.test" not in html
    partial = client.get(URL + "?q=bob", **HX)
    assert not is_full_page(partial) and "bob@acme.test" in partial.content.decode()
    assert "viewer@acme.test" not in partial.content.decode()
    by_role = client.get(URL + f"?role={int(Role.SUPPORT)}").content.decode()
    assert "support@acme.test" in by_role and "bob@acme.test" not in by_role
    listed = client.get(f"/settings/api-keys/?seen_by={bob.pk}").content.decode()
    assert "bob key 0" in listed and "bob key 1" in listed and 'id="seen-by-note"' in listed


def test_support_reads_without_buttons_and_the_others_get_a_403(demo, login, make_user):
    _bob_with_keys(demo, make_user)
    html = login("support@acme.test").get(URL).content.decode()
    assert "bob@acme.test" in html and "Deactivate" not in html.split('id="member-table"')[1]
    bob = User.objects.get(email="bob@acme.test")
    assert login("support@acme.test").post(f"{URL}{bob.pk}/deactivate/").status_code == 403
    for email in ("adminapi@acme.test", "admin@acme.test", "viewer@acme.test"):
        client = login(email)
        assert client.get(URL).status_code == 403
        assert client.post(f"{URL}{bob.pk}/deactivate/").status_code == 403
        assert ">Members</a>" not in client.get("/settings/applications/").content.decode()
    assert User.objects.get(email="bob@acme.test").is_active
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count() >= 7


def test_the_member_list_costs_the_same_queries_for_many_members(demo, login, make_user):
    client = login("advanced@acme.test")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL).status_code == 200
        return len(captured)

    few = queries()
    for n in range(25):
        member = make_user(f"member{n}@acme.test", Role.ADMIN_API, demo.north if n % 2 else demo.south)
        if n < 5:
            create(
                demo,
                user_actor(demo, member.email),
                name=f"key {n}",
                account=member.memberships.get().account,
            )
    assert queries() == few


@pytest.mark.parametrize("htmx", [False, True])
def test_deactivate_lists_the_keys_then_flags_them_and_signs_the_member_out(demo, login, make_user, htmx):
    bob = _bob_with_keys(demo, make_user)
    bobs_browser = Client()
    bobs_browser.force_login(bob)
    assert bobs_browser.get("/settings/api-keys/").status_code == 200
    client = login("advanced@acme.test")
    dialog = client.get(f"{URL}{bob.pk}/deactivate/", **(HX if htmx else {})).content.decode()
    assert re.search(
        r'<(dialog|section) [^>]*aria-labelledby="member-title" aria-describedby="member-note"', dialog
    )
    seen = re.search(r'<table class="table" id="seen-keys">(.*?)</table>', dialog, re.S).group(1)
    assert "bob key 0" in seen and "bob key 1" in seen and "Never" in seen
    done = client.post(f"{URL}{bob.pk}/deactivate/", **(HX if htmx else {}))
    if htmx:
        assert done["HX-Redirect"] == URL
    else:
        assert done.status_code == 302 and done["Location"] == URL
    assert not User.objects.get(pk=bob.pk).is_active
    assert ApiKey.objects.exposed().count() == 2
    page = client.get(URL).content.decode()
    assert "bob@acme.test is deactivated and signed out everywhere. 2 keys" in page
    assert 'id="exposed-banner"' in page and "Reactivate bob@acme.test" in page
    # Bob's open session ends at his next request.
    response = bobs_browser.get("/settings/api-keys/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    # The key list shows the banner, the badge and the filter.
    listed = client.get("/settings/api-keys/?flag=exposed").content.decode()
    assert 'id="exposed-banner"' in listed and listed.count(">Exposed</span>") == 2
    key = ApiKey.objects.get(name="bob key 0")
    detail = client.get(f"/settings/api-keys/{key.pk}/").content.decode()
    assert 'id="exposed-notice"' in detail and "seen by bob@acme.test" in detail
    assert re.search(r'id="detail-seen-by">bob@acme.test <span class="badge badge-muted">deactivated', detail)


def test_refusals_are_shown_in_the_dialog(demo, login, make_user):
    second = make_user("second@acme.test", Role.ADVANCED_ADMIN)
    client = login("advanced@acme.test")
    own = client.get(f"{URL}{demo.user('advanced@acme.test').pk}/deactivate/").content.decode()
    assert "cannot deactivate or reactivate yourself" in own and ">Deactivate</button>" not in own
    client.post(f"{URL}{second.pk}/deactivate/")
    assert not User.objects.get(pk=second.pk).is_active
    # Now Ada is the last active Advanced Admin: the system itself may not deactivate her.
    from accounts.actors import Actor
    from keys.errors import ServiceError
    from keys.offboarding import deactivate_member

    with pytest.raises(ServiceError, match="last active Advanced Admin"):
        deactivate_member(actor=Actor.system(demo.acme.pk), member=demo.user("advanced@acme.test"))
    assert client.get(f"{URL}999999/deactivate/").status_code == 403  # unknown: refused, audited
    globex_admin = demo.user("advanced@globex.test")
    assert client.get(f"{URL}{globex_admin.pk}/deactivate/").status_code == 403
    assert User.objects.get(pk=globex_admin.pk).is_active


def test_reactivate_restores_sign_in_and_keeps_exposed(demo, login, make_user):
    bob = _bob_with_keys(demo, make_user, count=1)
    client = login("advanced@acme.test")
    client.post(f"{URL}{bob.pk}/deactivate/")
    dialog = client.get(f"{URL}{bob.pk}/reactivate/").content.decode()
    assert "stay flagged" in dialog
    assert client.post(f"{URL}{bob.pk}/reactivate/").status_code == 302
    assert User.objects.get(pk=bob.pk).is_active and ApiKey.objects.exposed().count() == 1
    signed_in = Client().post("/login/", {"username": "bob@acme.test", "password": PASSWORD})
    assert signed_in.status_code == 302


def test_deactivating_ends_every_session_even_one_a_password_change_rotated(demo, login, make_user):
    bob = _bob_with_keys(demo, make_user, count=0)
    bobs_browser = Client()
    signed_in = bobs_browser.post("/login/", {"username": "bob@acme.test", "password": PASSWORD})
    assert signed_in.status_code == 302
    first_key = bobs_browser.session.session_key
    new_password = "a-much-longer-passphrase-42"
    changed = bobs_browser.post(
        "/password/",
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert changed.status_code == 302
    assert bobs_browser.session.session_key != first_key  # the password change rotated the session
    assert bobs_browser.get("/settings/api-keys/").status_code == 200
    # A second browser of Bob's, whatever its session engine, signed in after the change.
    other_browser = Client()
    other_browser.force_login(User.objects.get(pk=bob.pk))
    admin = login("advanced@acme.test")
    admin.post(f"{URL}{bob.pk}/deactivate/")
    admin.post(f"{URL}{bob.pk}/reactivate/")
    assert User.objects.get(pk=bob.pk).is_active
    # Reactivating restores sign-in, never a session that deactivation ended.
    for browser in (bobs_browser, other_browser):
        response = browser.get("/settings/api-keys/")
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    again = Client().post("/login/", {"username": "bob@acme.test", "password": new_password})
    assert again.status_code == 302


def test_a_deactivated_member_is_refused_like_a_wrong_password(demo, login, make_user, client):
    bob = _bob_with_keys(demo, make_user, count=0)
    login("advanced@acme.test").post(f"{URL}{bob.pk}/deactivate/")
    browser = Client()
    refused = browser.post("/login/", {"username": "bob@acme.test", "password": PASSWORD})
    wrong = browser.post("/login/", {"username": "viewer@acme.test", "password": "not it at all"})
    message = "That email and password do not match an active account."
    assert refused.status_code == wrong.status_code == 200
    assert message in refused.content.decode() and message in wrong.content.decode()
    assert "deactivated" not in refused.content.decode()


def test_exposed_on_rest_and_graphql_and_cleared_by_regenerating(
    demo, login, make_user, make_key, api, client
):
    bob = _bob_with_keys(demo, make_user, count=2)
    reader = make_key(name="reader", scopes=["api-keys:read"])
    login("advanced@acme.test").post(f"{URL}{bob.pk}/deactivate/")
    client.logout()
    listed = api("get", "/api/v1/org/api-keys?exposed=true", reader.secret).json()
    assert {k["name"] for k in listed["data"]} == {"bob key 0", "bob key 1"}
    assert all(k["exposed"] for k in listed["data"]) and listed["total"] == 2
    others = api("get", "/api/v1/org/api-keys?exposed=false", reader.secret).json()
    assert [k["name"] for k in others["data"]] == ["reader"] and others["data"][0]["exposed"] is False
    assert_error(api("get", "/api/v1/org/api-keys?exposed=maybe", reader.secret), 400, "validation_error")
    key = ApiKey.objects.get(name="bob key 0")
    regenerate_key(actor=user_actor(demo), key=key)
    one = api("get", f"/api/v1/org/api-keys/{key.pk}", reader.secret).json()
    assert one["exposed"] is False
    answer = graphql(client, "{ apiKeys(exposed: true) { total items { name exposed } } }", reader.secret)
    assert answer.json()["data"]["apiKeys"] == {"total": 1, "items": [{"name": "bob key 1", "exposed": True}]}


def test_a_sub_account_advanced_admin_acts_only_inside_their_subtree(demo, make_user, client):
    """A root-level Admin + API who is also a Viewer on Acme North: the North Advanced Admin sees
    them (a membership in North) but may not deactivate them, nor see their keys outside North."""
    north_admin = make_user("north-admin@acme.test", Role.ADVANCED_ADMIN, demo.north)
    carol = make_user("carol@acme.test", Role.ADMIN_API, demo.acme_root)
    carol.memberships.create(account=demo.north, role=Role.VIEWER)
    carols = user_actor(demo, carol.email)
    for account in (demo.acme_root, demo.north, demo.south):
        create(demo, carols, name=f"carol {account.name}", account=account)
    carols_browser = Client()
    carols_browser.force_login(carol)
    client.force_login(north_admin)

    dialog = client.get(f"{URL}{carol.pk}/deactivate/").content.decode()
    assert "carol@acme.test also belongs to Acme Corp, outside the accounts you administer" in dialog
    assert ">Deactivate</button>" not in dialog
    assert "carol Acme North" in dialog
    for hidden in ApiKey.objects.filter(name__in=["carol Acme Corp", "carol Acme South"]):
        assert hidden.name not in dialog and str(hidden.pk) not in dialog
    refused = client.post(f"{URL}{carol.pk}/deactivate/").content.decode()
    assert "outside the accounts you administer" in refused
    assert User.objects.get(pk=carol.pk).is_active and not ApiKey.objects.exposed().exists()
    assert carols_browser.get("/settings/api-keys/").status_code == 200  # still signed in
    # The service gives the same answer, whichever door asks.
    from keys.errors import ServiceError
    from keys.offboarding import deactivate_member

    with pytest.raises(ServiceError, match="outside the accounts you administer"):
        deactivate_member(actor=user_actor(demo, north_admin.email), member=carol)
    assert AuditEvent.objects.filter(
        action=AuditAction.PERMISSION_DENIED, details__attempted="deactivate member"
    ).exists()
    # The organization's Advanced Admin may.
    client.force_login(demo.user("advanced@acme.test"))
    assert client.post(f"{URL}{carol.pk}/deactivate/").status_code == 302
    assert ApiKey.objects.exposed().count() == 3
