"""keys/api/graphql/limits: a document too costly, too deep or too long is refused with 400
query_too_complex before any resolver runs, whatever its shape: fragments spread many times,
aliases of a field that reads the database, introspection. What a client legitimately sends (a big
page, the explorer's and client generators' introspection query) still passes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from graphql import get_introspection_query

from accounts.models import Role
from tests.helpers.demo import ROLE_EMAILS
from tests.helpers.graphql import KEY_FIELDS, assert_graphql_error, error_codes, fan_out, graphql

pytestmark = pytest.mark.django_db


@contextmanager
def at_most_python_calls(limit: int) -> Iterator[None]:
    """Counts the Python function calls made in this thread: the work a request does, which no
    machine's speed changes (like a query count). Past the limit the work is stopped with an
    AssertionError, so a document that would keep a worker busy for minutes fails at once."""
    calls = 0

    def count(frame, event, arg) -> None:
        nonlocal calls
        if event == "call":
            calls += 1
            if calls > limit:
                sys.setprofile(None)
                raise AssertionError(f"more than {limit:,} Python calls")

    sys.setprofile(count)
    try:
        yield
    finally:
        sys.setprofile(None)


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


# ---- fragments: each costed once, however often it is spread ----

# A request refused for its shape does about 10,000 Python calls; expanding each spread of a fan-out
# of depth 24, as the counter this replaced did, about 50 million (40 s, past gunicorn's timeout).
REFUSAL_CALLS = 100_000


def test_a_fragment_fan_out_of_depth_24_is_refused_with_a_key(client, make_key):
    issued = make_key()
    assert len(fan_out(24)) < 1000
    ok(graphql(client, "{ currentKey { id } }", issued.secret))  # what a process loads once, loaded
    with at_most_python_calls(REFUSAL_CALLS):
        response = graphql(client, fan_out(24), issued.secret)
    assert_graphql_error(response, 400, "query_too_complex")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ADVANCED_ADMIN])
def test_a_fragment_fan_out_of_depth_24_is_refused_for_a_signed_in_member(login, role):
    session = login(ROLE_EMAILS[role])
    ok(graphql(session, "{ currentUser { email } }"))
    with at_most_python_calls(REFUSAL_CALLS):
        response = graphql(session, fan_out(24))
    assert_graphql_error(response, 400, "query_too_complex")
    # However far the leaf nests (60 levels of fragments, each doubling).
    with at_most_python_calls(REFUSAL_CALLS):
        response = graphql(session, fan_out(60, "currentUser{email}"))
    assert_graphql_error(response, 400, "query_too_complex")


def test_a_fragment_spread_within_the_budget_still_runs(client, make_key):
    issued = make_key()
    # 2**6 = 64 copies of currentKey{name}: 128 fields, merged into one answer.
    assert ok(graphql(client, fan_out(6), issued.secret))["currentKey"]["name"] == issued.key.name
    assert_graphql_error(graphql(client, fan_out(7), issued.secret), 400, "query_too_complex")  # 256


def test_fragments_that_cannot_be_expanded_are_refused_before_anything_else(client, make_key):
    issued = make_key()
    cycle = "query{...A} fragment A on Query{...B currentKey{id}} fragment B on Query{...A}"
    assert error_codes(graphql(client, cycle, issued.secret)) == ["graphql_validation_failed"]
    ok(graphql(client, "{ currentKey { id } }", issued.secret))
    with at_most_python_calls(REFUSAL_CALLS):
        response = graphql(client, fan_out(24, "...Missing"), issued.secret)
    assert error_codes(response) == ["graphql_validation_failed"]


@pytest.mark.parametrize(
    "document",
    [
        "{" + "a{" * 299 + "b" + "}" * 300,  # deeper than the parser goes
        # Deeper than graphql-core lets validation go through fragments (200): each adds a level.
        "query{currentKey{...F0}} "
        + " ".join(f"fragment F{i} on ApiKey{{a{{...F{i + 1}}}}}" for i in range(120))
        + " fragment F120 on ApiKey{id}",
        "{__schema{types{" + "ofType{" * 300 + "name" + "}" * 302 + "}",
    ],
)
def test_nesting_far_too_deep_is_too_complex(client, make_key, document):
    issued = make_key()
    assert_graphql_error(graphql(client, document, issued.secret), 400, "query_too_complex")


# ---- aliases of a field that reads the database cost what they run ----


def test_aliases_of_a_costly_field_are_refused_and_run_no_query(client, make_key):
    issued = make_key()
    ok(graphql(client, "{ currentKey { id } }", issued.secret))  # the key is verified (and cached)
    with CaptureQueriesContext(connection) as one:
        assert ok(graphql(client, "{ apiKeys { total } }", issued.secret))["apiKeys"]["total"] == 1
    assert [q for q in one if "COUNT(" in q["sql"].upper()]  # what the refused document would run
    hundred = "{ " + " ".join(f"a{i}: apiKeys {{ total }}" for i in range(100)) + " }"
    with CaptureQueriesContext(connection) as refused:
        assert_graphql_error(graphql(client, hundred, issued.secret), 400, "query_too_complex")
    assert not [q for q in refused if "COUNT(" in q["sql"].upper()], [q["sql"] for q in refused]
    # Twenty costs more than the budget too (20 x (10 + 1)); eighteen fit.
    for n, status in ((18, 200), (20, 400)):
        document = "{ " + " ".join(f"a{i}: apiKeys {{ total }}" for i in range(n)) + " }"
        assert graphql(client, document, issued.secret).status_code == status


def test_aliases_of_a_mutation_cost_like_any_field_that_writes(client, make_key):
    issued = make_key()
    revokes = "mutation { " + " ".join(f'r{i}: revokeApiKey(id: "{i}") {{ id }}' for i in range(20)) + " }"
    assert_graphql_error(graphql(client, revokes, issued.secret), 400, "query_too_complex")


def test_a_legitimate_big_query_still_passes(client, make_key):
    issued = make_key()
    for n in range(3):
        make_key(name=f"other {n}")
    query = f"""
    query Everything($id: ID!) {{
      currentKey {{ ...Key }}
      apiKeys(first: 100) {{ total items {{ ...Key }} next previous }}
      exposed: apiKeys(exposed: true) {{ total items {{ ...Key }} }}
      apiKey(id: $id) {{ ...Key }}
      scopes {{ name description }}
      __typename
    }}
    fragment Key on ApiKey {{ {KEY_FIELDS} __typename }}
    """
    answer = ok(graphql(client, query, issued.secret, variables={"id": str(issued.key.pk)}))
    assert answer["apiKeys"]["total"] == 4 and len(answer["apiKeys"]["items"]) == 4
    assert answer["apiKey"]["id"] == answer["currentKey"]["id"]


def test_more_tokens_than_the_limit_is_too_complex(client, make_key):
    issued = make_key()

    def verify(n: int) -> str:  # 16 tokens (commas are not) around n strings; costs 11
        scopes = ", ".join(['"api-keys:read"'] * n)
        return f'mutation {{ verifyApiKey(key: "nope", requiredScopes: [{scopes}]) {{ code }} }}'

    assert ok(graphql(client, verify(1984), issued.secret))["verifyApiKey"]["code"] == "UNAUTHORIZED"
    body = assert_graphql_error(graphql(client, verify(1985), issued.secret), 400, "query_too_complex")
    assert "2,000 tokens" in body["errors"][0]["message"]


# ---- introspection: counted under its own budget ----


@pytest.mark.parametrize(
    "options",
    [
        {},  # gql's fetch_schema_from_transport, graphql-core's default
        {  # everything GraphiQL may ask for
            "specified_by_url": True,
            "directive_is_repeatable": True,
            "schema_description": True,
            "input_value_deprecation": True,
            "one_of": True,
        },
    ],
)
def test_the_standard_introspection_query_passes(client, make_key, login, options):
    issued = make_key()
    query = get_introspection_query(**options)
    assert ok(graphql(client, query, issued.secret))["__schema"]["queryType"]["name"] == "Query"
    assert ok(graphql(login(ROLE_EMAILS[Role.VIEWER]), query))["__schema"]["types"]


def test_1500_aliases_of_introspection_are_refused(client, make_key, login):
    issued = make_key()
    document = "{" + " ".join(f"a{i}:__schema{{types{{fields{{name}}}}}}" for i in range(1500)) + "}"
    assert len(document) < 64 * 1024  # under the body limit: refused for what it asks
    ok(graphql(client, "{ currentKey { id } }", issued.secret))
    with at_most_python_calls(REFUSAL_CALLS):
        response = graphql(client, document, issued.secret)
    assert_graphql_error(response, 400, "query_too_complex")
    assert_graphql_error(graphql(login(ROLE_EMAILS[Role.VIEWER]), document), 400, "query_too_complex")


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        # Under the token limit: each refused by introspection's own rules.
        ("{ " + " ".join(f"a{i}: __schema {{ types {{ name }} }}" for i in range(2)) + " }", "once"),
        ("{ __schema { " + " ".join(f"t{i}: types {{ name }}" for i in range(40)) + " } }", "Aliases"),
        ("{ " + " ".join(f'a{i}: __type(name: "ApiKey") {{ name }}' for i in range(3)) + " }", "Aliases"),
        (
            "{ __schema { types { fields { type { " + "ofType { " * 11 + "name" + " }" * 11 + " } } } } }",
            "nests 16 levels",
        ),
        (
            '{ __type(name: "ApiKey") { ...T } } fragment T on __Type { '
            + " ".join(f"fields {{ ...U{i} }}" for i in range(6))
            + " } "
            + " ".join(
                f"fragment U{i} on __Field {{ name description isDeprecated deprecationReason "
                + "type { ...R } args { name type { ...R } } } "
                for i in range(6)
            )
            + "fragment R on __Type { kind name "
            + "ofType { kind name " * 7
            + "}" * 7
            + " }",
            "fields",
        ),
    ],
)
def test_introspection_is_counted(client, make_key, document, reason):
    issued = make_key()
    body = assert_graphql_error(graphql(client, document, issued.secret), 400, "query_too_complex")
    assert reason in body["errors"][0]["message"]
