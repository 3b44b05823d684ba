"""A real GraphQL client (gql) against a running server: it builds the schema from introspection,
checks every operation against it, and runs create → list → regenerate → revoke with a key; and
it reads the served schema in REST's vocabulary."""

from datetime import datetime, timedelta

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport
from gql.utilities import update_schema_scalar
from graphql import GraphQLEnumType, GraphQLNonNull, GraphQLScalarType

from accounts.models import KeyRole
from keys.authentication.presented import VerificationCode

# What a client maps DateTime to: REST's times (2026-03-01T12:00:00.000Z) read by the standard library.
DATETIME = GraphQLScalarType("DateTime", serialize=datetime.isoformat, parse_value=datetime.fromisoformat)


@pytest.fixture
def client_for(live_server):
    def make(secret: str) -> Client:
        transport = RequestsHTTPTransport(
            url=f"{live_server.url}/api/graphql", headers={"Authorization": f"Bearer {secret}"}, timeout=10
        )
        return Client(transport=transport, fetch_schema_from_transport=True)

    return make


def run(session, document: str, **variables):
    request = gql(document)
    if variables:
        request.variable_values = variables
    return session.execute(request)


def test_create_list_regenerate_revoke_with_gql(transactional_db, make_key, client_for):
    caller = make_key(name="gql caller")
    with client_for(caller.secret) as session:
        assert session.client.schema.query_type.fields.keys() >= {"currentKey", "apiKeys", "apiKey", "scopes"}
        created = session.execute(
            gql(
                """mutation Create($input: CreateApiKeyInput!) {
                  createApiKey(input: $input) { apiKey { id name status } clientSecret }
                }"""
            ),
            variable_values={
                "input": {"name": "made by gql", "scopes": ["api-keys:read"], "expiresInDays": 30}
            },
        )["createApiKey"]
        key_id = created["apiKey"]["id"]
        assert created["apiKey"]["status"] == "ACTIVE" and created["clientSecret"].startswith("sk_live_")
        listed = run(session, '{ apiKeys(search: "made by") { total items { id name } } }')["apiKeys"]
        assert listed == {"total": 1, "items": [{"id": key_id, "name": "made by gql"}]}
        regenerated = session.execute(
            gql("mutation($id: ID!) { regenerateApiKey(id: $id) { clientSecret } }"),
            variable_values={"id": key_id},
        )["regenerateApiKey"]
        assert regenerated["clientSecret"] != created["clientSecret"]
        revoked = run(session, "mutation($id: ID!) { revokeApiKey(id: $id) { status } }", id=key_id)
        assert revoked == {"revokeApiKey": {"status": "REVOKED"}}
        with pytest.raises(TransportQueryError) as refused:
            session.execute(
                gql("mutation($id: ID!) { regenerateApiKey(id: $id) { clientSecret } }"),
                variable_values={"id": key_id},
            )
        assert refused.value.errors[0]["extensions"]["code"] == "key_not_active"
    with (
        pytest.raises(TransportQueryError, match="unauthenticated"),
        client_for(regenerated["clientSecret"]) as gone,
    ):
        run(gone, "{ currentKey { id } }")


def test_gql_reads_the_served_schema_in_rests_vocabulary(transactional_db, make_key, live_server):
    """The schema fetched by introspection from the running server: enums for every REST enum,
    nullable root fields (partial data reaches the client), REST's time format through a custom
    DateTime scalar, and Relay pagination."""
    caller = make_key(name="gql reader")
    transport = RequestsHTTPTransport(
        url=f"{live_server.url}/api/graphql",
        headers={"Authorization": f"Bearer {caller.secret}", "Accept": "application/graphql-response+json"},
        timeout=10,
    )
    client = Client(
        transport=transport, fetch_schema_from_transport=True, serialize_variables=True, parse_results=True
    )
    with client as session:
        served = session.client.schema
        assert isinstance(served.type_map["KeyRole"], GraphQLEnumType)
        assert list(served.type_map["KeyRole"].values) == [m.name for m in KeyRole]
        assert list(served.type_map["VerificationCode"].values) == [m.name for m in VerificationCode]
        assert str(served.type_map["ApiKey"].fields["role"].type) == "KeyRole!"
        assert not isinstance(served.query_type.fields["apiKey"].type, GraphQLNonNull)
        update_schema_scalar(served, "DateTime", DATETIME)
        key = session.execute(gql("{ currentKey { role status createdAt } }"))["currentKey"]
        assert key["role"] == "ADVANCED_ADMIN" and key["status"] == "ACTIVE"
        assert key["createdAt"].tzinfo is not None and key["createdAt"].microsecond % 1000 == 0
        assert abs(key["createdAt"] - caller.key.created_at) < timedelta(milliseconds=1)

        with pytest.raises(TransportQueryError) as partial:
            session.execute(gql('{ currentKey { name } apiKey(id: "nope") { id } }'))
        assert partial.value.data == {"currentKey": {"name": "gql reader"}, "apiKey": None}
        assert partial.value.errors[0]["path"] == ["apiKey"]

        for n in range(3):
            make_key(name=f"paged {n}", scopes=["api-keys:read"])
        walk = gql(
            """query($after: String) { apiKeysConnection(first: 2, after: $after) {
                 edges { node { name } } pageInfo { hasNextPage endCursor } } }"""
        )
        seen, after = [], None
        while True:
            page = session.execute(walk, variable_values={"after": after})["apiKeysConnection"]
            seen += [edge["node"]["name"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert sorted(seen) == ["gql reader", "paged 0", "paged 1", "paged 2"]
