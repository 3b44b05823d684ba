"""The indexes the long lists are read through, as the migrations leave them on each database:
the portable ones everywhere, the PostgreSQL-only ones (descending "empty last" orders, trigram
search) there only, and no single-column index that a composite one starts with."""

import pytest
from django.db import connection

from keys.filters import KEY_SORTS
from keys.models import LIST_INDEXES, LISTS_FILTER_ON

pytestmark = pytest.mark.django_db

PORTABLE = {
    "keys_apikey": {*LIST_INDEXES, "key_org_exposed", "key_seen_by"},
    "keys_auditevent": {"audit_org_time_id", "audit_org_action_time", "audit_key_time"},
}
POSTGRES_ONLY = {
    "keys_apikey": {"key_list_last_used_desc", "key_list_expires_desc", "key_name_trgm"},
    "keys_auditevent": {"audit_actor_trgm"},
}
REPLACED = {"key_org_created", "audit_org_time", "key_org_created_id", "key_org_name", "key_org_last_used"}
REPLACED |= {"key_org_expires", "key_org_last_used_desc", "key_org_expires_desc"}
TABLE = "keys_auditevent"


def _indexes(table: str) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return {
        name: info["columns"] for name, info in found.items() if info["index"] and not info["primary_key"]
    }


@pytest.mark.parametrize("table", sorted(PORTABLE))
def test_the_list_indexes_are_there(table):
    names = set(_indexes(table))
    assert PORTABLE[table] <= names
    postgres_only = POSTGRES_ONLY[table] & names
    assert postgres_only == (POSTGRES_ONLY[table] if connection.vendor == "postgresql" else set())
    assert not names & REPLACED


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("keys_apikey", "organization_id"),
        ("keys_apikey", "secret_seen_by_id"),
        ("keys_auditevent", "organization_id"),
        ("keys_auditevent", "action"),
        ("keys_auditevent", "key_id"),
    ],
)
def test_no_single_column_index_duplicates_a_composite_one(table, column):
    """Django's own index on the column (named ``<table>_<column>_<hash>``, and a ``_like`` twin on
    PostgreSQL) is gone; the composite indexes above start with the column."""
    assert not [name for name in _indexes(table) if name.startswith(f"{table}_{column}_")]


def test_the_audit_log_keeps_its_append_only_trigger():
    """The index migration rebuilt no table (SQLite drops a rebuilt table's triggers)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'keys_auditevent'"
            )
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass", [TABLE])
        assert cursor.fetchall()


def test_every_sort_of_the_key_lists_has_an_index_each_way():
    """Each sort's column leads an index (the descending sorts of nullable columns, "empty last",
    have theirs on PostgreSQL); role, application and account, whose ties are many, have one per
    direction, ties newest first in both."""
    led = {fields[0].lstrip("-") for fields in LIST_INDEXES.values()}
    assert {field for field in KEY_SORTS.values()} <= led
    for field in ("role", "application_name", "account_path"):
        assert (field, "-created_at", "-id") in LIST_INDEXES.values()
        assert (f"-{field}", "-created_at", "-id") in LIST_INDEXES.values()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite ignores INCLUDE")
def test_every_list_index_carries_what_the_lists_filter_on():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'keys_apikey' AND indexname LIKE 'key_list_%'"
        )
        found = dict(cursor.fetchall())
    assert set(found) == set(LIST_INDEXES) | {"key_list_last_used_desc", "key_list_expires_desc"}
    columns = [c if c in ("id", "role") or c.endswith("_at") else f"{c}_id" for c in LISTS_FILTER_ON]
    for name, definition in found.items():
        for column in columns:
            assert column in definition, (name, column)
