"""GraphQL over HTTP (the GraphQL Foundation's spec): queries by GET for clients that ask for JSON,
mutations by GET refused with 405, application/graphql-response+json honoured with its status codes
(4xx for a request that never executed, 200 once it executed), application/json kept for older
clients, and the explorer for a browser asking for HTML."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from keys.models import ApiKey
from tests.helpers.api import bearer
from tests.helpers.graphql import GRAPHQL, assert_graphql_error, graphql

pytestmark = pytest.mark.django_db

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def get(client, secret: str | None = None, accept: str | None = JSON, **params):
    extra = {} if secret is None else bearer(secret)
    if accept is not None:
        extra["HTTP_ACCEPT"] = accept
    return client.get(GRAPHQL, params, **extra)


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE, f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", None, "*/*"])
def test_a_query_by_get_runs_for_a_client_asking_for_json(client, make_key, accept):
    caller = make_key(name="by get")
    response = get(client, caller.secret, accept, query="{ currentKey { name } }")
    assert response.status_code == 200, response.content
    expected = GRAPHQL_RESPONSE if accept and accept.startswith(GRAPHQL_RESPONSE) else JSON
    assert response["Content-Type"] == expected
    assert response.json() == {"data": {"currentKey": {"name": "by get"}}}
    assert response["RateLimit-Remaining"] and response["Cache-Control"] == "no-store"
    assert not response.cookies  # no csrftoken, no session for a key
    assert "Cookie" not in response.get("Vary", "")


def test_a_query_by_get_takes_variables_and_an_operation_name(client, make_key):
    caller = make_key(name="by get")
    response = get(
        client,
        caller.secret,
        query="query A($id: ID!) { apiKey(id: $id) { name } } query B { currentKey { id } }",
        variables=json.dumps({"id": str(caller.key.pk)}),
        operationName="A",
    )
    assert response.json() == {"data": {"apiKey": {"name": "by get"}}}


def test_a_mutation_by_get_is_405_and_does_nothing(client, make_key):
    caller = make_key()
    query = f'mutation {{ revokeApiKey(id: "{caller.key.pk}") {{ status }} }}'
    for accept in (JSON, GRAPHQL_RESPONSE):
        response = get(client, caller.secret, accept, query=query)
        assert_graphql_error(response, 405, "method_not_allowed")
        assert response["Allow"] == "POST" and response["Content-Type"] == accept
    assert ApiKey.objects.get(pk=caller.key.pk).revoked_at is None


def test_the_named_operation_decides_whether_get_may_run_it(client, make_key):
    caller = make_key(name="reader")
    query = (
        "query Read { currentKey { name } } "
        f'mutation Write {{ revokeApiKey(id: "{caller.key.pk}") {{ id }} }}'
    )
    assert get(client, caller.secret, query=query, operationName="Read").json() == {
        "data": {"currentKey": {"name": "reader"}}
    }
    assert_graphql_error(
        get(client, caller.secret, query=query, operationName="Write"), 405, "method_not_allowed"
    )


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ currentKey { name }", "graphql_parse_failed"),
        ("{ currentKey { nope } }", "graphql_validation_failed"),
    ],
)
@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
def test_a_request_that_never_executes_is_400_without_data(client, make_key, query, code, accept):
    caller = make_key()
    for response in (
        get(client, caller.secret, accept, query=query),
        graphql(client, query, caller.secret, HTTP_ACCEPT=accept),
    ):
        body = assert_graphql_error(response, 400, code)
        assert "data" not in body and response["Content-Type"] == accept


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
def test_a_field_error_is_200_with_partial_data(client, make_key, accept):
    caller = make_key(name="caller")
    response = graphql(
        client, '{ currentKey { name } apiKey(id: "nope") { id } }', caller.secret, HTTP_ACCEPT=accept
    )
    assert response.status_code == 200 and response["Content-Type"] == accept
    body = response.json()
    assert body["data"] == {"currentKey": {"name": "caller"}, "apiKey": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["not_found"]


def test_a_refused_key_is_answered_in_the_media_type_asked_for(client):
    response = get(client, "sk_live_nope", GRAPHQL_RESPONSE, query="{ currentKey { id } }")
    assert_graphql_error(response, 401, "unauthenticated")
    assert response["Content-Type"] == GRAPHQL_RESPONSE


def test_a_browser_gets_the_explorer_even_with_a_query_in_the_url(client, login):
    browser = login("advanced@acme.test")
    for params in ({}, {"query": "{ currentUser { email } }"}):
        response = get(browser, accept=BROWSER, **params)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
        assert "graphiql" in response.content.decode().lower()
    assert get(Client(), accept=None).status_code == 200  # no Accept, no query: a browser's address bar


def test_a_session_may_query_by_get_but_not_mutate(login, make_key):
    browser = Client(enforce_csrf_checks=True)
    session = login("advanced@acme.test")
    browser.cookies = session.cookies
    response = get(browser, query="{ currentUser { email } }")
    assert response.json() == {"data": {"currentUser": {"email": "advanced@acme.test"}}}
    target = make_key()
    response = get(browser, query=f'mutation {{ disableApiKey(id: "{target.key.pk}") {{ id }} }}')
    assert_graphql_error(response, 405, "method_not_allowed")
    assert ApiKey.objects.get(pk=target.key.pk).disabled_at is None


def test_a_get_without_a_key_or_a_session_is_401(client):
    assert_graphql_error(get(client, query="{ currentKey { id } }"), 401, "unauthenticated")


@pytest.mark.parametrize(
    "params",
    [
        {},  # a JSON client without a query
        {"query": ""},
        {"query": "{ currentKey { id } }", "variables": "{not json"},
        {"query": "{ currentKey { id } }", "variables": "[1]"},
    ],
)
def test_a_get_that_is_not_a_graphql_request_is_400(client, make_key, params):
    caller = make_key()
    assert_graphql_error(get(client, caller.secret, **params), 400, "bad_request")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('"just a string"', JSON),
        ("42", JSON),
        ('{"query": "{ currentKey { id } }"}', "text/plain"),
        (b"\xff\xfe{}", JSON),
        ('{"query": "{ currentKey { id } }", "operationName": 7}', JSON),
    ],
)
def test_a_post_that_is_not_a_graphql_request_is_400(client, make_key, body, content_type):
    caller = make_key()
    response = client.post(GRAPHQL, data=body, content_type=content_type, **bearer(caller.secret))
    assert_graphql_error(response, 400, "bad_request")


def test_a_secret_in_a_get_url_is_refused_as_for_rest(client, make_key):
    """A GET's URL ends up in logs and browser history: a query or variables holding a secret are
    refused before anything runs, and the caller is told to regenerate the key."""
    caller = make_key()
    presented = make_key(name="presented")
    response = get(
        client,
        caller.secret,
        query="query($k: String!) { currentKey { id } }",
        variables=json.dumps({"k": presented.secret}),
    )
    body = assert_graphql_error(response, 401, "unauthenticated")
    assert "regenerate" in body["errors"][0]["message"] and presented.secret not in response.content.decode()
