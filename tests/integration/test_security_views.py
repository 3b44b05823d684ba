"""Settings → Security, and the security policy enforced on every door that creates keys: the
portal form, REST, GraphQL and the create_api_key command."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Organization
from audit.models import AuditAction, AuditEvent
from keys.models import ApiKey
from keys.policy import SecurityPolicy
from tests.helpers.api import assert_error
from tests.helpers.graphql import graphql
from tests.helpers.portal import field_error, form_data
from tests.helpers.services import set_policy

pytestmark = pytest.mark.django_db

URL = "/settings/security/"


def _policy(demo) -> SecurityPolicy:
    return SecurityPolicy.of(Organization.objects.get(pk=demo.acme.pk))


def _save(client, **values):
    data = {"rotation_policy_days": "90", "max_key_lifetime_days": "", **values}
    return client.post(URL, {k: v for k, v in data.items() if v is not None})


# ---- the page ----


def test_an_advanced_admin_edits_the_policy(demo, login, make_key):
    make_key(name="forever")
    client = login("advanced@acme.test")
    page = client.get(URL).content.decode()
    for label in ("Rotation period (days)", "Maximum key lifetime (days)", "Require allowed networks"):
        assert f">{label}</label>" in page
    assert '<button type="submit" class="btn btn-primary">Save</button>' in page
    assert 'href="/settings/security/">Security</a>' in page  # in the Settings menu
    saved = _save(client, rotation_policy_days="30", max_key_lifetime_days="365", require_ip_allowlist="on")
    assert saved.status_code == 302 and saved["Location"] == URL
    assert _policy(demo) == SecurityPolicy(30, 365, True)
    after = client.get(URL).content.decode()
    assert "1 existing key is outside it" in after  # the message after saving
    outside = re.search(r'id="outside-count"><dt>Outside the policy</dt><dd>(.*?)</dd>', after).group(1)
    assert outside == '<a href="/settings/api-keys/?flag=outside_policy">1</a>'
    event = AuditEvent.objects.get(action=AuditAction.POLICY_UPDATED)
    assert event.details["max_key_lifetime_days"] == [None, 365]


@pytest.mark.parametrize(
    "values, field, says",
    [
        ({"rotation_policy_days": "0"}, "rotation_policy_days", "greater than or equal to 1"),
        ({"rotation_policy_days": ""}, "rotation_policy_days", "Enter the number of days"),
        ({"rotation_policy_days": "often"}, "rotation_policy_days", "Enter a whole number"),
        ({"max_key_lifetime_days": "3651"}, "max_key_lifetime_days", "less than or equal to 3650"),
    ],
)
def test_errors_are_shown_next_to_their_field(demo, login, values, field, says):
    response = _save(login("advanced@acme.test"), **values)
    assert response.status_code == 200
    assert says in field_error(response, field)
    assert _policy(demo) == SecurityPolicy()
    assert not AuditEvent.objects.filter(action=AuditAction.POLICY_UPDATED).exists()


@pytest.mark.parametrize("email", ["adminapi@acme.test", "support@acme.test"])
def test_admin_api_and_support_read_it_without_a_save_button(demo, login, email):
    client = login(email)
    page = client.get(URL).content.decode()
    assert 'id="policy-read-only"' in page and ">Save</button>" not in page
    assert re.search(r'<dd>90 days<p class="help">', page) and "<dd>No limit<p" in page
    assert 'name="rotation_policy_days"' not in page
    refused = _save(client, rotation_policy_days="5")
    assert refused.status_code == 403
    assert _policy(demo) == SecurityPolicy()
    assert AuditEvent.objects.get(action=AuditAction.PERMISSION_DENIED).details["attempted"] == (
        "change security policy"
    )


@pytest.mark.parametrize("email", ["admin@acme.test", "viewer@acme.test"])
def test_others_get_a_403_and_no_menu_entry(demo, login, email):
    client = login(email)
    assert client.get(URL).status_code == 403
    assert _save(client, rotation_policy_days="5").status_code == 403
    assert ">Security</a>" not in client.get("/settings/applications/").content.decode()
    assert _policy(demo) == SecurityPolicy()


def test_anonymous_is_sent_to_sign_in(client, demo):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# ---- the key list shows and filters the keys outside it ----


def test_the_key_list_shows_and_filters_keys_outside_the_policy(demo, login, make_key):
    make_key(name="forever")
    make_key(name="fenced", expires_in_days=30, allowed_ips=["192.0.2.0/24"])
    client = login("advanced@acme.test")
    assert 'id="outside-policy-banner"' not in client.get("/settings/api-keys/").content.decode()
    set_policy(demo, max_key_lifetime_days=90)
    listed = client.get("/settings/api-keys/").content.decode()
    assert "1 key is outside your organization" in listed
    filtered = client.get("/settings/api-keys/?flag=outside_policy").content.decode()
    assert ">forever</a>" in filtered and ">fenced</a>" not in filtered
    detail = client.get(f"/settings/api-keys/{ApiKey.objects.get(name='forever').pk}/").content.decode()
    assert "this key never expires (the policy allows 90 days)" in detail


# ---- enforced on every door ----


def test_the_create_form_offers_only_what_the_policy_allows(demo, login):
    set_policy(demo, max_key_lifetime_days=60, require_ip_allowlist=True)
    client = login("advanced@acme.test")
    form = client.get("/settings/api-keys/new/").content.decode()
    choices = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', form.split('name="expiry"')[1])
    assert choices[:3] == [
        ("30", "30 days"),
        ("60", "60 days (the policy&#x27;s maximum)"),
        ("custom", "Custom…"),
    ]
    assert re.search(r'<option value="60" selected>', form)
    refused = client.post("/settings/api-keys/new/", form_data(demo, expiry="custom", expiry_days="61"))
    assert "allows at most 60 days" in field_error(refused, "expiry_days")
    assert "requires at least one allowed network" in field_error(refused, "allowed_ips")
    never = client.post("/settings/api-keys/new/", form_data(demo, expiry="never", allowed_ips="192.0.2.1"))
    assert "Select a valid choice" in field_error(never, "expiry")
    ok = client.post("/settings/api-keys/new/", form_data(demo, expiry="60", allowed_ips="192.0.2.1"))
    assert ok.status_code == 200 and ApiKey.objects.filter(name="ERP production").exists()


def test_rest_graphql_and_the_command_obey_the_policy(demo, api, client, make_key):
    caller = make_key(name="caller")
    set_policy(demo, max_key_lifetime_days=30, require_ip_allowlist=True)
    body = {"name": "new", "scopes": ["api-keys:read"]}
    refused = api("post", "/api/v1/org/api-keys", caller.secret, json=body)
    assert "expire within 30 days" in assert_error(refused, 400, "validation_error")["error"]["message"]
    refused = api("post", "/api/v1/org/api-keys", caller.secret, json={**body, "expires_in_days": 30})
    assert "allowed network" in assert_error(refused, 400, "validation_error")["error"]["message"]
    created = api(
        "post",
        "/api/v1/org/api-keys",
        caller.secret,
        json={**body, "expires_in_days": 30, "allowed_ips": ["192.0.2.0/24"]},
    )
    assert created.status_code == 201

    answer = graphql(
        client,
        'mutation { createApiKey(input: {name: "gql", scopes: ["api-keys:read"]}) { clientSecret } }',
        caller.secret,
    ).json()
    assert answer["errors"][0]["extensions"]["code"] == "bad_user_input"
    assert "expire within 30 days" in answer["errors"][0]["message"]

    with pytest.raises(CommandError, match="expire within 30 days"):
        call_command(
            "create_api_key",
            "--organization",
            "acme",
            "--name",
            "cli",
            "--scope",
            "api-keys:read",
            stdout=StringIO(),
        )
    assert set(ApiKey.objects.values_list("name", flat=True)) == {"caller", "new"}


# ---- the leak policy ----


def test_the_leak_policy_is_chosen_on_the_page_and_audited_before_and_after(demo, login):
    client = login("advanced@acme.test")
    page = client.get(URL).content.decode()
    assert "<legend>When a secret is reported leaked</legend>" in page
    for value, label in (
        ("revoke", "Revoke the key"),
        ("disable", "Disable it"),
        ("flag", "Flag it exposed only"),
    ):
        assert f'value="{value}"' in page and f">{label}</label>" in page
    assert re.search(r'value="revoke"[^>]*checked', page)  # the default
    saved = _save(client, leak_policy="flag")
    assert saved.status_code == 302
    assert _policy(demo).leak_policy == "flag"
    event = AuditEvent.objects.get(action=AuditAction.POLICY_UPDATED)
    assert event.details == {"leak_policy": ["revoke", "flag"]}
    assert "leak policy: revoke → flag" in event.details_text
    # The rules for new keys did not change: no reminder about keys outside them is due.
    assert Organization.objects.get(pk=demo.acme.pk).policy_updated_at is None
    assert "flagged exposed and keeps working" in client.get(URL).content.decode()
    # A form without the field (an older page) leaves the leak policy as it is.
    _save(client, rotation_policy_days="60")
    assert _policy(demo).leak_policy == "flag" and _policy(demo).rotation_policy_days == 60


def test_an_unknown_leak_policy_is_an_error_next_to_its_field(demo, login):
    response = _save(login("advanced@acme.test"), leak_policy="delete-everything")
    assert response.status_code == 200
    assert "Choose what happens to a key whose secret is reported leaked." in field_error(
        response, "leak_policy"
    )
    assert _policy(demo).leak_policy == "revoke"


@pytest.mark.parametrize("email", ["adminapi@acme.test", "support@acme.test"])
def test_readers_see_the_leak_policy_and_cannot_change_it(demo, login, email):
    set_policy(demo, leak_policy="disable")
    client = login(email)
    page = client.get(URL).content.decode()
    assert re.search(r'id="leak-policy-value"><dt>When a secret is reported leaked</dt><dd>Disable it', page)
    assert _save(client, leak_policy="flag").status_code == 403
    assert _policy(demo).leak_policy == "disable"
