"""Keys made by keys, through every door: a child is never wider than its parent (REST and
GraphQL answer 403 exceeds_parent_key), records its parent, and is exposed whenever its parent is:
offboarding flags it and lists it beside the parent."""

from __future__ import annotations

import re

import pytest

from accounts.models import Role
from keys.models import ApiKey
from tests.helpers.api import assert_error
from tests.helpers.graphql import graphql
from tests.helpers.portal import form_data, secret_in

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/org/api-keys"
CREATE = """mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { apiKey { id expiresAt allowedIps } clientSecret }
}"""


def _portal_key(client, demo, email: str, **overrides) -> tuple[ApiKey, str]:
    """A portal key made through the create form by ``email``: api-keys:write, 1 day, 127.0.0.1."""
    client.force_login(demo.user(email))
    fields = dict(
        application=demo.portal.pk,
        name="bob's automation",
        expiry="custom",
        expiry_days="1",
        allowed_ips="127.0.0.1",
        scopes=["api-keys:write"],
        role=int(Role.ADMIN_API),
    )
    fields.update(overrides)
    response = client.post("/settings/api-keys/new/", form_data(demo, **fields))
    secret = secret_in(response)
    client.logout()
    return ApiKey.objects.get(name=fields["name"]), secret


def _message(response, code="exceeds_parent_key") -> str:
    return assert_error(response, 403, code)["error"]["message"]


def test_the_minting_chain_ends_with_every_child_flagged_and_listed(api, client, demo, make_user):
    make_user("bob@acme.test", Role.ADMIN_API)
    parent, parent_secret = _portal_key(client, demo, "bob@acme.test")
    before = ApiKey.objects.count()

    # No expiry and no allowed networks: both wider than the parent.
    wide = api("post", KEYS, parent_secret, json={"name": "wide", "scopes": ["api-keys:read"]})
    assert "must expire by then" in _message(wide)
    forever_here = {"name": "wide", "scopes": ["api-keys:read"], "expires_in_days": 1}
    assert "only from 127.0.0.1" in _message(api("post", KEYS, parent_secret, json=forever_here))
    elsewhere = {**forever_here, "allowed_ips": ["10.0.0.0/8"]}
    assert "10.0.0.0/8 is outside the networks" in _message(api("post", KEYS, parent_secret, json=elsewhere))
    later = {**forever_here, "allowed_ips": ["127.0.0.1"], "expires_in_days": 2}
    assert "expires_in_days of at most 1" in _message(api("post", KEYS, parent_secret, json=later))
    # A write-only key cannot mint the verify scope it lacks.
    verify = {**forever_here, "allowed_ips": ["127.0.0.1"], "scopes": ["api-keys:verify"]}
    assert "lacks api-keys:verify" in _message(api("post", KEYS, parent_secret, json=verify))
    assert ApiKey.objects.count() == before

    # A narrower child is made, records its parent and ends with it at the latest.
    narrow = {
        "name": "child",
        "scopes": ["api-keys:write"],
        "expires_in_days": 1,
        "allowed_ips": ["127.0.0.1"],
    }
    created = api("post", KEYS, parent_secret, json=narrow)
    assert created.status_code == 201, created.content
    child = ApiKey.objects.get(pk=created.json()["id"])
    assert child.created_by_key_id == parent.pk and child.secret_seen_through_id == parent.pk
    assert child.expires_at <= parent.expires_at and child.allowed_ips == ["127.0.0.1"]
    # And a grandchild, through GraphQL.
    grand = graphql(
        client,
        CREATE,
        created.json()["key"],
        variables={
            "input": {
                "name": "grandchild",
                "scopes": ["api-keys:read"],
                "expiresInDays": 1,
                "allowedIps": ["127.0.0.1"],
            }
        },
    ).json()
    assert "errors" not in grand, grand
    grandchild = ApiKey.objects.get(pk=grand["data"]["createApiKey"]["apiKey"]["id"])
    assert grandchild.secret_seen_through_id == child.pk

    # Deactivating the member who saw the parent: the dialog lists the parent and its children.
    bob = demo.user("bob@acme.test")
    admin = client
    admin.force_login(demo.user("advanced@acme.test"))
    dialog = admin.get(f"/settings/members/{bob.pk}/deactivate/").content.decode()
    seen = re.search(r'<table class="table" id="seen-keys">(.*?)</table>', dialog, re.S).group(1)
    assert [name for name in ("bob&#x27;s automation", "child", "grandchild") if name in seen] == [
        "bob&#x27;s automation",
        "child",
        "grandchild",
    ]
    assert "through the key bob&#x27;s automation" in seen and "through the key child" in seen
    assert admin.post(f"/settings/members/{bob.pk}/deactivate/").status_code == 302
    assert set(ApiKey.objects.exposed().values_list("name", flat=True)) == {
        "bob's automation",
        "child",
        "grandchild",
    }
    child.refresh_from_db()
    assert "bob's automation" in child.exposed_reason and "bob@acme.test" in child.exposed_reason
    assert api("get", f"{KEYS}/{child.pk}", parent_secret).json()["exposed"] is True


def test_graphql_refuses_a_wider_child_with_the_same_code(client, demo, make_user):
    make_user("bob@acme.test", Role.ADMIN_API)
    _, secret = _portal_key(client, demo, "bob@acme.test")
    answer = graphql(
        client, CREATE, secret, variables={"input": {"name": "wide", "scopes": ["api-keys:read"]}}
    )
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "exceeds_parent_key" and "must expire by then" in error["message"]
    verify = {"name": "v", "scopes": ["api-keys:verify"], "expiresInDays": 1, "allowedIps": ["127.0.0.1"]}
    error = graphql(client, CREATE, secret, variables={"input": verify}).json()["errors"][0]
    assert error["extensions"]["code"] == "exceeds_parent_key" and "lacks api-keys:verify" in error["message"]
    assert not ApiKey.objects.filter(name__in=["wide", "v"]).exists()


def test_a_key_may_not_regenerate_a_key_wider_than_itself(api, client, demo, make_user, make_key):
    make_user("bob@acme.test", Role.ADMIN_API)
    _, secret = _portal_key(client, demo, "bob@acme.test", scopes=["api-keys:write", "api-keys:verify"])
    wider = make_key(name="wider", role=Role.ADMIN_API, scopes=["api-keys:read"])  # never expires
    refused = api("post", f"{KEYS}/{wider.key.pk}/regenerate", secret)
    assert "a key it regenerates must expire by then" in _message(refused)
    assert api("get", "/api/v1/key", wider.secret).status_code == 200  # the old secret still works
