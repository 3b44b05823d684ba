"""apiKeysConnection: Relay's cursor connection over the API lists' keyset cursors, so Relay's and
Apollo's pagination helpers work; the same keys, order and filters as apiKeys and REST."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from keys.models import ApiKey
from tests.helpers.graphql import error_codes, graphql

pytestmark = pytest.mark.django_db

CONNECTION = """query($first: Int, $after: String, $last: Int, $before: String, $search: String) {
  apiKeysConnection(first: $first, after: $after, last: $last, before: $before, search: $search) {
    totalCount
    edges { cursor node { name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def data(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
def six_keys(make_key):
    """A caller (the oldest key) and five more, one second apart: k1 (oldest) … k5 (newest)."""
    caller = make_key(name="k0")
    start = timezone.now() - timedelta(hours=1)
    ApiKey.objects.filter(pk=caller.key.pk).update(created_at=start)
    for n in range(1, 6):
        issued = make_key(name=f"k{n}", scopes=["api-keys:read"])
        ApiKey.objects.filter(pk=issued.key.pk).update(created_at=start + timedelta(seconds=n))
    return caller


def page(client, secret, **variables) -> dict:
    return data(graphql(client, CONNECTION, secret, variables=variables))["apiKeysConnection"]


def names(found: dict) -> list[str]:
    return [edge["node"]["name"] for edge in found["edges"]]


def test_first_and_after_walk_the_list_forwards(client, six_keys):
    secret = six_keys.secret
    first = page(client, secret, first=2)
    assert names(first) == ["k5", "k4"] and first["totalCount"] == 6
    assert first["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": first["edges"][0]["cursor"],
        "endCursor": first["edges"][1]["cursor"],
    }
    second = page(client, secret, first=2, after=first["pageInfo"]["endCursor"])
    assert names(second) == ["k3", "k2"]
    assert second["pageInfo"]["hasNextPage"] and second["pageInfo"]["hasPreviousPage"]
    third = page(client, secret, first=2, after=second["pageInfo"]["endCursor"])
    assert names(third) == ["k1", "k0"] and not third["pageInfo"]["hasNextPage"]
    # Any edge's cursor marks its key.
    assert names(page(client, secret, first=3, after=first["edges"][0]["cursor"])) == ["k4", "k3", "k2"]


def test_last_and_before_walk_the_list_backwards(client, six_keys):
    secret = six_keys.secret
    last = page(client, secret, last=2)
    assert names(last) == ["k1", "k0"]
    assert last["pageInfo"]["hasPreviousPage"] and not last["pageInfo"]["hasNextPage"]
    before = page(client, secret, last=2, before=last["pageInfo"]["startCursor"])
    assert names(before) == ["k3", "k2"] and before["pageInfo"]["hasNextPage"]
    # Fewer keys before the cursor than asked for: those there are, and nothing before them.
    start = page(client, secret, last=5, before=before["pageInfo"]["startCursor"])
    assert names(start) == ["k5", "k4"] and not start["pageInfo"]["hasPreviousPage"]
    between = page(
        client, secret, first=10, after=start["edges"][0]["cursor"], before=last["edges"][0]["cursor"]
    )
    assert names(between) == ["k4", "k3", "k2"]


def test_the_cursors_are_rests(client, api, six_keys):
    rest = api("get", "/api/v1/org/api-keys?limit=2", six_keys.secret).json()
    after_rest = page(client, six_keys.secret, first=2, after=rest["next"])
    following = api("get", f"/api/v1/org/api-keys?limit=2&cursor={rest['next']}", six_keys.secret).json()
    assert names(after_rest) == [key["name"] for key in following["data"]]
    assert page(client, six_keys.secret, first=2)["pageInfo"]["endCursor"] == rest["next"]


def test_filters_as_in_api_keys(client, six_keys):
    found = page(client, six_keys.secret, search="k3")
    assert names(found) == ["k3"] and found["totalCount"] == 1
    query = "{ apiKeysConnection(status: DISABLED) { totalCount edges { node { name } } } }"
    assert data(graphql(client, query, six_keys.secret))["apiKeysConnection"] == {
        "totalCount": 0,
        "edges": [],
    }


@pytest.mark.parametrize(
    "variables",
    [
        {"first": 2, "last": 2},
        {"first": 0},
        {"first": 101},
        {"last": 0},
        {"first": 2, "after": "bm90IGEgY3Vyc29y"},
        {"last": 2, "before": "!!"},
    ],
)
def test_bad_arguments_are_bad_user_input_at_the_field(client, six_keys, variables):
    response = graphql(client, CONNECTION, six_keys.secret, variables=variables)
    body = response.json()
    assert response.status_code == 200 and body["data"] == {"apiKeysConnection": None}
    assert error_codes(response) == ["bad_user_input"] and body["errors"][0]["path"] == ["apiKeysConnection"]


def test_a_key_without_read_scope_is_refused(client, make_key):
    verifier = make_key(scopes=["api-keys:verify"])
    response = graphql(client, "{ apiKeysConnection { totalCount } }", verifier.secret)
    assert error_codes(response) == ["access_denied"]


def test_the_query_count_does_not_grow_with_the_page(client, make_key):
    caller = make_key()
    query = (
        "{ apiKeysConnection(first: 100) { totalCount edges { cursor node { name application account } } } }"
    )
    data(graphql(client, "{ currentKey { id } }", caller.secret))
    with CaptureQueriesContext(connection) as one:
        data(graphql(client, query, caller.secret))
    for n in range(30):
        make_key(name=f"bulk {n}", scopes=["api-keys:read"])
    data(graphql(client, "{ currentKey { id } }", caller.secret))
    with CaptureQueriesContext(connection) as many:
        assert len(data(graphql(client, query, caller.secret))["apiKeysConnection"]["edges"]) == 31
    assert len(many) == len(one), [q["sql"] for q in many]
