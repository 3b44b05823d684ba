"""A key's optional description: set when created (portal services, REST, GraphQL), changed like its
name through the update service (audited before → after), searched with its name, carried by every
answer that describes the key."""

from __future__ import annotations

import pytest

from accounts.actors import Actor
from accounts.models import User
from audit.models import AuditAction, AuditEvent
from keys.errors import ServiceError
from keys.models import ApiKey
from keys.names import MAX_DESCRIPTION_LENGTH, clean_description
from keys.services import update_key
from tests.helpers.graphql import graphql

pytestmark = pytest.mark.django_db

WHERE = "Run by the SAP team (ops@acme.test); secret in Vault kv/erp"


def _advanced() -> Actor:
    return Actor.for_user(User.objects.get(email="advanced@acme.test"))


def test_described_through_the_update_service_and_audited(make_key):
    issued = make_key(name="ERP production")
    assert issued.key.description == ""
    key = update_key(actor=_advanced(), key=issued.key, description=f"  {WHERE}\r\nline two  ")
    assert ApiKey.objects.get(pk=key.pk).description == f"{WHERE}\nline two"
    event = AuditEvent.objects.filter(action=AuditAction.KEY_UPDATED).latest("occurred_at")
    assert event.details == {"description": ["", f"{WHERE}\nline two"]}
    assert event.details_lines == [f"description: none → {WHERE}\nline two"]
    # Unchanged: nothing written, nothing audited.
    update_key(actor=_advanced(), key=key, description=f"{WHERE}\nline two")
    assert AuditEvent.objects.filter(action=AuditAction.KEY_UPDATED).count() == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("x" * (MAX_DESCRIPTION_LENGTH + 1), "the limit is 500"),
        ("bell \x07 here", "control characters"),
        ("sk_live_" + "A" * 49, "looks like a Client Secret"),
    ],
)
def test_a_bad_description_is_refused_with_its_reason(make_key, text, message):
    issued = make_key()
    with pytest.raises(ServiceError) as refused:
        update_key(actor=_advanced(), key=issued.key, description=text)
    assert message in refused.value.message and refused.value.field == "description"
    assert ApiKey.objects.get(pk=issued.key.pk).description == ""
    with pytest.raises(ServiceError):
        clean_description(text)


def test_rest_creates_and_returns_it_and_searches_it(api, make_key):
    caller = make_key(scopes=["api-keys:read", "api-keys:write"])
    body = api(
        "post",
        "/api/v1/org/api-keys",
        caller.secret,
        json={"name": "BI pipeline", "scopes": ["api-keys:read"], "description": WHERE},
    ).json()
    assert body["description"] == WHERE
    assert api("get", f"/api/v1/org/api-keys/{body['id']}", caller.secret).json()["description"] == WHERE
    found = api("get", "/api/v1/org/api-keys?search=vault%20kv", caller.secret).json()
    assert [k["name"] for k in found["data"]] == ["BI pipeline"]
    assert api("get", "/api/v1/key", body["key"]).json()["description"] == WHERE
    too_long = api(
        "post",
        "/api/v1/org/api-keys",
        caller.secret,
        json={"name": "long", "scopes": ["api-keys:read"], "description": "x" * 501},
    )
    assert too_long.status_code == 400


def test_graphql_creates_and_returns_it(client, make_key):
    caller = make_key(scopes=["api-keys:read", "api-keys:write"])
    created = graphql(
        client,
        """mutation($input: CreateApiKeyInput!) {
          createApiKey(input: $input) { apiKey { id description } clientSecret }
        }""",
        caller.secret,
        variables={"input": {"name": "GraphQL described", "scopes": ["api-keys:read"], "description": WHERE}},
    ).json()["data"]["createApiKey"]
    assert created["apiKey"]["description"] == WHERE
    listed = graphql(
        client, '{ apiKeys(search: "vault kv") { items { name description } } }', caller.secret
    ).json()["data"]["apiKeys"]["items"]
    assert listed == [{"name": "GraphQL described", "description": WHERE}]


def test_the_portal_shows_edits_and_searches_it(login, make_key):
    issued = make_key(name="ERP production")
    client = login("advanced@acme.test")
    page = client.get(issued.key.get_absolute_url()).content.decode()
    assert 'id="detail-description"><span class="muted">None: <a href=' in page
    response = client.post(
        f"/settings/api-keys/{issued.key.pk}/edit/",
        {"name": "ERP production", "description": WHERE, "allowed_ips": ""},
    )
    assert response.status_code == 302
    page = client.get(issued.key.get_absolute_url()).content.decode()
    assert f'id="detail-description">{WHERE.replace("(", "(")}</dd>' in page
    assert "ERP production" in client.get("/settings/api-keys/?q=SAP+team").content.decode()
    refused = client.post(
        f"/settings/api-keys/{issued.key.pk}/edit/",
        {"name": "ERP production", "description": "sk_live_" + "A" * 49, "allowed_ips": ""},
    )
    html = refused.content.decode()
    assert "looks like a Client Secret" in html and "sk_live_" + "A" * 49 not in html
