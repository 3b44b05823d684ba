"""GraphQL's part of the leak response: apiKeyBySecret (as REST's lookup) and a key's exposure."""

from __future__ import annotations

import pytest

from audit.models import AuditAction, AuditEvent
from keys import credentials, leaks
from tests.helpers.graphql import assert_graphql_error, graphql
from tests.helpers.services import set_policy

pytestmark = pytest.mark.django_db

BY_SECRET = """query($secret: String!) {
  apiKeyBySecret(secret: $secret) { id name status exposed exposure { reason sourceUrl at } }
}"""
URL = "https://github.com/acme/erp/blob/main/.env"


def test_api_key_by_secret_names_the_key_and_is_audited(client, make_key, demo):
    caller = make_key(name="caller", scopes=["api-keys:read"])
    target = make_key(name="target")
    body = graphql(client, BY_SECRET, caller.secret, variables={"secret": target.secret}).json()
    assert body == {
        "data": {
            "apiKeyBySecret": {
                "id": str(target.key.pk),
                "name": "target",
                "status": "ACTIVE",
                "exposed": False,
                "exposure": None,
            }
        }
    }
    event = AuditEvent.objects.get(action=AuditAction.KEY_LOOKED_UP)
    assert event.key_id == target.key.pk and target.secret not in str(event.details)


def test_api_key_by_secret_refusals(client, make_key, demo):
    caller = make_key(name="caller", scopes=["api-keys:read"])
    foreign = make_key(organization=demo.globex, name="globex")
    for secret in (foreign.secret, credentials.new_secret("live")):
        body = assert_graphql_error(
            graphql(client, BY_SECRET, caller.secret, variables={"secret": secret}), 200, "not_found"
        )
        assert body["data"] == {"apiKeyBySecret": None}
    bad = graphql(client, BY_SECRET, caller.secret, variables={"secret": "sk_live_nope"})
    assert "not a Client Secret" in assert_graphql_error(bad, 200, "bad_user_input")["errors"][0]["message"]
    verifier = make_key(name="verifier", scopes=["api-keys:verify"])
    assert_graphql_error(
        graphql(client, BY_SECRET, verifier.secret, variables={"secret": caller.secret}), 200, "access_denied"
    )


def test_a_leaked_keys_exposure(client, make_key, demo):
    set_policy(demo, leak_policy="flag")
    caller = make_key(name="caller", scopes=["api-keys:read"])
    leaked = make_key(name="leaked")
    leaks.report_leaked_secret(secret=leaked.secret, source_url=URL, source="test")
    key = graphql(client, BY_SECRET, caller.secret, variables={"secret": leaked.secret}).json()["data"][
        "apiKeyBySecret"
    ]
    assert key["exposed"] is True
    assert key["exposure"]["sourceUrl"] == URL and key["exposure"]["reason"].startswith(
        f"reported leaked at {URL}"
    )
    assert key["exposure"]["at"]
    # The leaked key asking about itself.
    own = graphql(client, "{ currentKey { exposed exposure { sourceUrl } } }", leaked.secret).json()
    assert own["data"]["currentKey"] == {"exposed": True, "exposure": {"sourceUrl": URL}}


def test_a_secret_in_the_url_is_refused_before_anything(client, make_key, demo):
    caller = make_key(name="caller", scopes=["api-keys:read"])
    target = make_key(name="target")
    query = f'{{ apiKeyBySecret(secret: "{target.secret}") {{ id }} }}'
    response = client.get(
        "/api/graphql",
        {"query": query},
        HTTP_AUTHORIZATION=f"Bearer {caller.secret}",
        HTTP_ACCEPT="application/json",
    )
    assert_graphql_error(response, 401, "unauthenticated")
    assert not AuditEvent.objects.filter(action=AuditAction.KEY_LOOKED_UP).exists()


def test_the_exposure_reads_the_same_over_rest_and_graphql(client, api, make_key, demo):
    set_policy(demo, leak_policy="disable")
    caller = make_key(name="caller", scopes=["api-keys:read"])
    leaked = make_key(name="leaked")
    leaks.report_leaked_secret(secret=leaked.secret, source_url=URL, source="test")
    rest = api("get", f"/api/v1/org/api-keys/{leaked.key.pk}", caller.secret).json()["exposure"]
    query = f'{{ apiKey(id: "{leaked.key.pk}") {{ exposure {{ reason sourceUrl at }} }} }}'
    exposure = graphql(client, query, caller.secret).json()["data"]["apiKey"]["exposure"]
    assert exposure == {"reason": rest["reason"], "sourceUrl": rest["source_url"], "at": rest["at"]}
