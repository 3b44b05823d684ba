"""accounts/views.py: signing in and out, the lockout after repeated failures, changing the
password, and the applications pages; bad input is a form error, never a 500."""

import pytest
from django.test import Client

from accounts.models import User
from audit.models import AuditAction, AuditEvent
from tests.helpers.demo import PASSWORD
from tests.helpers.portal import field_error

pytestmark = pytest.mark.django_db

NUL = "\x00"
LONG = "x" * 10_000


def test_login_page_has_the_labelled_fields(client):
    html = client.get("/login/").content.decode()
    assert '<label for="id_username">Email</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert ">Log in</button>" in html


def test_in_development_the_login_page_names_the_demo_sign_in(client, settings):
    settings.DEBUG = True
    settings.DEMO_PASSWORD = "another-demo-password"  # the one seed_demo gives the demo users
    html = client.get("/login/").content.decode()
    note = html[html.index("</form>") :]
    assert (
        "Demo: <code>advanced@acme.test</code> and the other demo users, password "
        "<code>another-demo-password</code> — see the README."
    ) in note
    assert PASSWORD not in html


def test_in_production_the_login_page_names_no_demo_sign_in(client, settings):
    settings.DEBUG = False
    settings.DEMO_PASSWORD = "another-demo-password"
    html = client.get("/login/").content.decode()
    assert ">Log in</button>" in html
    assert "Demo:" not in html and "another-demo-password" not in html and "demo users" not in html


def test_login_and_logout(client, demo):
    response = client.post("/login/", {"username": "advanced@acme.test", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/settings/api-keys/").status_code == 200
    assert AuditEvent.objects.filter(
        action=AuditAction.LOGIN_SUCCEEDED, actor_label="advanced@acme.test"
    ).exists()
    assert client.get("/logout/").status_code == 405  # logout is a POST
    assert client.post("/logout/").status_code == 302
    assert client.get("/settings/api-keys/").status_code == 302


def test_email_is_case_insensitive(client, demo):
    response = client.post("/login/", {"username": "Advanced@ACME.test", "password": PASSWORD})
    assert response.status_code == 302


def test_wrong_password_is_an_error_next_to_the_form(client, demo):
    response = client.post("/login/", {"username": "advanced@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert "do not match" in response.content.decode()
    event = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert event.organization == demo.acme and "nope" not in str(event.details)


def test_repeated_failures_lock_the_account_and_the_address(client, demo, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "support@acme.test", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    # Even the right password is refused now, with a clear message.
    response = client.post(
        "/login/", {"username": "support@acme.test", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9"
    )
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    # The same account from another address is locked too (per account)...
    other = client.post(
        "/login/", {"username": "support@acme.test", "password": PASSWORD}, REMOTE_ADDR="10.0.0.10"
    )
    assert other.status_code == 429
    # ...and so is another account from the locked address (per IP).
    same_ip = client.post(
        "/login/", {"username": "viewer@acme.test", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9"
    )
    assert same_ip.status_code == 429
    fresh = client.post(
        "/login/", {"username": "viewer@acme.test", "password": PASSWORD}, REMOTE_ADDR="10.0.0.11"
    )
    assert fresh.status_code == 302


def test_behind_a_proxy_the_lockout_counts_the_client_not_the_proxy(client, demo, settings):
    settings.PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request comes from the proxy
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/login/",
            {"username": f"nobody{n}@acme.test", "password": "wrong"},
            HTTP_X_FORWARDED_FOR="203.0.113.66",
            **proxy,
        )
    # The attacker's own address is locked, even for an account it never tried...
    locked = client.post(
        "/login/",
        {"username": "viewer@acme.test", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.66",
        **proxy,
    )
    assert locked.status_code == 429
    # ...and a client cannot escape by sending an address of its choice: the proxy appends the real one.
    spoofed = client.post(
        "/login/",
        {"username": "viewer@acme.test", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.99, 203.0.113.66",
        **proxy,
    )
    assert spoofed.status_code == 429
    # Everyone else behind the same proxy signs in.
    elsewhere = client.post(
        "/login/",
        {"username": "advanced@acme.test", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.7",
        **proxy,
    )
    assert elsewhere.status_code == 302
    event = AuditEvent.objects.filter(action=AuditAction.LOGIN_SUCCEEDED).latest("pk")
    assert event.ip == "198.51.100.7"


def test_a_sign_in_that_skipped_the_proxy_has_no_address_not_the_proxys(client, demo, settings):
    settings.PROXY_COUNT = 1
    client.post("/login/", {"username": "viewer@acme.test", "password": "wrong"}, REMOTE_ADDR="127.0.0.1")
    event = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert event.ip is None
    # Such requests share one count of their own: they lock each other, never the proxied clients.
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/login/", {"username": f"nobody{n}@acme.test", "password": "x"}, REMOTE_ADDR="127.0.0.1")
    locked = client.post(
        "/login/", {"username": "advanced@acme.test", "password": PASSWORD}, REMOTE_ADDR="127.0.0.1"
    )
    assert locked.status_code == 429
    proxied = client.post(
        "/login/",
        {"username": "advanced@acme.test", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert proxied.status_code == 302


def test_a_change_of_case_in_the_email_gives_no_more_guesses(client, demo, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        # From a new address each time: only the per-account count can lock.
        client.post(
            "/login/", {"username": "viewer@acme.test", "password": "wrong"}, REMOTE_ADDR=f"10.0.1.{n}"
        )
    for variant in ("VIEWER@acme.test", "Viewer@ACME.TEST", " viewer@acme.test "):
        response = client.post("/login/", {"username": variant, "password": PASSWORD}, REMOTE_ADDR="10.0.2.1")
        assert response.status_code == 429, variant
        assert "Too many failed sign-in attempts" in response.content.decode()


def test_failures_in_any_case_add_up(client, demo, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        email = "support@acme.test" if n % 2 else "SUPPORT@Acme.Test"
        client.post("/login/", {"username": email, "password": "wrong"}, REMOTE_ADDR=f"10.0.3.{n}")
    response = client.post(
        "/login/", {"username": "support@acme.test", "password": PASSWORD}, REMOTE_ADDR="10.0.4.1"
    )
    assert response.status_code == 429


@pytest.mark.parametrize(
    "data",
    [
        {"username": f"advanced{NUL}@acme.test", "password": "acme-demo-2026"},
        {"username": LONG, "password": "p" * 100_000},
        {"username": "advanced@acme.test", "password": NUL},
    ],
)
def test_login_with_bad_input_is_a_form_error(demo, data):
    response = Client().post("/login/", data)
    assert response.status_code == 200
    assert "_auth_user_id" not in response.wsgi_request.session


def test_password_change(client, demo):
    client.force_login(demo.user("viewer@acme.test"))
    response = client.post(
        "/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-longer-passphrase-42",
            "new_password2": "a-much-longer-passphrase-42",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(email="viewer@acme.test").check_password("a-much-longer-passphrase-42")


def test_password_change_with_bad_input_is_a_form_error(demo, login):
    client = login("advanced@acme.test")
    response = client.post(
        "/password/", {"old_password": NUL, "new_password1": LONG, "new_password2": f"b{NUL}"}
    )
    assert response.status_code == 200
    assert field_error(response, "old_password") == "Null characters are not allowed."
    assert field_error(response, "new_password2") == "Null characters are not allowed."
    assert demo.user("advanced@acme.test").check_password("acme-demo-2026")


def test_applications_pages(login, demo):
    client = login("viewer@acme.test")
    html = client.get("/settings/applications/").content.decode()
    for name in ("InCharge", "Infodeck", "API Key Portal"):
        assert name in html
    detail = client.get("/settings/applications/incharge/").content.decode()
    assert "https://incharge.acme.test/api" in detail
    assert "charge-points:read" in detail and "sessions:write" in detail
    assert 'curl -H "Authorization: Bearer $CLIENT_SECRET" https://incharge.acme.test/api/' in detail
    portal = client.get("/settings/applications/portal/").content.decode()
    assert "/api/v1/org/api-keys" in portal and "api-keys:verify" in portal


def test_applications_of_another_organization_are_not_found(login, demo):
    client = login("advanced@globex.test")
    assert client.get("/settings/applications/incharge/").status_code == 404
    assert "InCharge" not in client.get("/settings/applications/").content.decode()


def test_nul_in_an_application_path_is_not_found(demo, login):
    assert login("advanced@acme.test").get("/settings/applications/%00/").status_code == 404


def test_a_member_sets_their_time_zone_on_the_password_page(login):
    client = login("advanced@acme.test")
    html = client.get("/password/").content.decode()
    assert '<label for="id_time_zone">Time zone</label>' in html
    assert '<option value="UTC" selected>UTC</option>' in html
    response = client.post("/password/time-zone/", {"time_zone": "Europe/Berlin"})
    assert response.status_code == 302
    assert User.objects.get(email="advanced@acme.test").time_zone == "Europe/Berlin"
    assert '<option value="Europe/Berlin" selected>' in client.get("/password/").content.decode()


@pytest.mark.parametrize("value", ["Mars/Olympus", "", NUL, LONG, "localtime"])
def test_an_unknown_time_zone_is_an_error_beside_the_field(login, value):
    client = login("advanced@acme.test")
    response = client.post("/password/time-zone/", {"time_zone": value})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_time_zone_error"' in html
    assert User.objects.get(email="advanced@acme.test").time_zone == "UTC"


def test_dates_on_the_pages_are_in_the_members_time_zone(login, make_key):
    issued = make_key(name="zone test")
    user = User.objects.get(email="advanced@acme.test")
    user.time_zone = "Asia/Tokyo"
    user.save(update_fields=["time_zone"])
    html = login("advanced@acme.test").get(issued.key.get_absolute_url()).content.decode()
    assert " JST</time>" in html
    assert " UTC</time>" not in html


@pytest.mark.parametrize("email", ["admin@acme.test", "viewer@acme.test"])
def test_who_cannot_see_keys_is_told_which_role_opens_them(login, email):
    client = login(email)
    assert (
        "API Keys needs the Advanced Admin or Admin + API role"
        in client.get("/settings/applications/").content.decode()
    )
    refused = client.get("/settings/api-keys/")
    assert refused.status_code == 403
    html = refused.content.decode()
    assert 'class="topbar"' in html and ">Log out</button>" in html
    assert "API Keys needs the Advanced Admin or Admin + API role" in html


@pytest.mark.parametrize("email", ["advanced@acme.test", "support@acme.test"])
def test_who_sees_keys_gets_no_such_note(login, email):
    assert "keys-access-note" not in login(email).get("/settings/applications/").content.decode()


def test_a_stored_zone_this_machine_does_not_know_reads_as_utc(login, make_key):
    issued = make_key(name="zone test")
    User.objects.filter(email="advanced@acme.test").update(time_zone="Mars/Olympus_Mons")
    response = login("advanced@acme.test").get(issued.key.get_absolute_url())
    assert response.status_code == 200 and " UTC</time>" in response.content.decode()
