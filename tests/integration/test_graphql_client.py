"""A real GraphQL client (gql) against a running server: it builds the schema from introspection,
checks every operation against it, and runs create → list → regenerate → revoke with a key."""

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport


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
