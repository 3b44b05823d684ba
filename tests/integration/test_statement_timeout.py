"""A statement that runs too long is cancelled (PostgreSQL's statement_timeout, set on the
connections of the processes that serve requests), and a cancelled statement or a database that
went away answers 503: the API's JSON body, the portal's "try again" page."""

import os

import pytest
from django.db import OperationalError, ProgrammingError, connection, connections
from django.db.backends.signals import connection_created
from django.test import Client

from keys import selectors
from portal.database import limit_statement_time
from tests.helpers.api import assert_error, bearer
from tests.helpers.graphql import assert_graphql_error, graphql

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
CANCELLED = "canceling statement due to statement timeout"


def _fails(exception):
    def fail(*args, **kwargs):
        raise exception

    return fail


@pytest.fixture
def member(demo) -> Client:
    """A signed-in Advanced Admin whose requests answer with error pages, as in production."""
    client = Client(raise_request_exception=False)
    client.force_login(demo.user("advanced@acme.test"))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True])
def test_a_portal_page_stopped_by_the_database_is_a_503_page(member, monkeypatch, htmx):
    monkeypatch.setattr(selectors, "key_quota", _fails(OperationalError(CANCELLED)))
    response = member.get("/settings/api-keys/", **({"HTTP_HX_REQUEST": "true"} if htmx else {}))
    html = response.content.decode()
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "That took too long" in html and "Try again in a few seconds" in html and "portal.css" in html


@pytest.mark.django_db
def test_any_other_database_error_is_still_a_500(member, monkeypatch):
    monkeypatch.setattr(selectors, "key_quota", _fails(ProgrammingError("no such column")))
    response = member.get("/settings/api-keys/")
    assert response.status_code == 500 and "Something went wrong" in response.content.decode()


@pytest.mark.django_db
def test_the_apis_answer_503_json(client, api, make_key, monkeypatch):
    issued = make_key()
    api("get", "/api/v1/key", issued.secret)  # verified and cached: only the list needs the database
    monkeypatch.setattr(selectors, "page_of_keys", _fails(OperationalError(CANCELLED)))
    rest = api("get", "/api/v1/org/api-keys", issued.secret)
    assert_error(rest, 503, "service_unavailable")
    assert rest["Retry-After"] == "5"
    response = graphql(client, "{ apiKeys { total } }", issued.secret)
    assert_graphql_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"


@pytest.mark.django_db
def test_sqlite_connections_get_no_statement_timeout(django_assert_num_queries):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite only")
    with django_assert_num_queries(0):
        limit_statement_time(connection=connection)


# ---- on PostgreSQL, for real ----

postgres = pytest.mark.skipif(not ON_POSTGRES, reason="needs DATABASE_URL pointing at PostgreSQL")


@postgres
@pytest.mark.postgres
@pytest.mark.django_db
def test_a_new_connection_of_a_web_process_gets_the_timeout(settings):
    settings.DATABASE_STATEMENT_TIMEOUT_SECONDS = 0.2
    connection_created.connect(limit_statement_time, dispatch_uid="test statement timeout")
    fresh = connections.create_connection("default")
    try:
        with fresh.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "200ms"
            cursor.execute("SHOW random_page_cost")
            assert cursor.fetchone()[0] == "1.1"
            with pytest.raises(OperationalError, match="statement timeout"):
                cursor.execute("SELECT pg_sleep(1)")
    finally:
        connection_created.disconnect(dispatch_uid="test statement timeout")
        fresh.close()


@postgres
@pytest.mark.postgres
@pytest.mark.django_db
def test_zero_leaves_the_servers_own_settings(settings):
    settings.DATABASE_STATEMENT_TIMEOUT_SECONDS = 0
    settings.DATABASE_RANDOM_PAGE_COST = 0
    connection_created.connect(limit_statement_time, dispatch_uid="test statement timeout")
    fresh = connections.create_connection("default")
    try:
        with fresh.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('random_page_cost'), reset_val FROM pg_settings "
                "WHERE name = 'random_page_cost'"
            )
            current, server = cursor.fetchone()
            assert current == server
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "0"
    finally:
        connection_created.disconnect(dispatch_uid="test statement timeout")
        fresh.close()


@postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_statement_past_the_timeout_answers_503_in_the_portal_and_the_api(
    demo, make_key, monkeypatch, settings
):
    issued = make_key()
    client = Client(raise_request_exception=False)
    client.force_login(demo.user("advanced@acme.test"))
    client.get("/api/v1/key", **bearer(issued.secret))  # verified and cached

    def slow(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(2)")

    settings.DATABASE_STATEMENT_TIMEOUT_SECONDS = 0.1
    limit_statement_time(connection=connection)
    try:
        monkeypatch.setattr(selectors, "key_quota", slow)
        monkeypatch.setattr(selectors, "page_of_keys", slow)
        page = client.get("/settings/api-keys/")
        assert page.status_code == 503 and "That took too long" in page.content.decode()
        assert_error(client.get("/api/v1/org/api-keys", **bearer(issued.secret)), 503, "service_unavailable")
        with connection.cursor() as cursor:  # the connection is still good for the next request
            cursor.execute("SELECT 1")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
