"""Indexes that match the key lists' sorts and filters, so that a page of 100,000 keys costs what a
page of 100 does (each one justified by ``EXPLAIN ANALYZE`` in docs/benchmarks.md):

- ``key_org_created_id`` (organization, created_at DESC, id DESC), carrying the columns the lists
  filter on: the default order, its counts and the keys of deep pages read from the index alone.
  It replaces ``key_org_created``, which lacked the id that breaks ties;
- ``key_org_last_used`` and ``key_org_expires``: the ascending "last used" and "expires" sorts
  (empty last, as PostgreSQL sorts ascending);
- ``key_org_exposed``, partial: the few keys that may be exposed, which the API Keys and Members
  pages count on every view (a scan of every key without it);
- PostgreSQL only: the same two sorts descending with empty values last (SQLite cannot index
  ``NULLS LAST``, and puts NULLs there on its own for a descending index), and ``pg_trgm`` with a
  trigram index on ``UPPER(name)`` for the "contains" search (``icontains``);
- the organization's own index goes: every index above starts with it.

On PostgreSQL the indexes are built and dropped ``CONCURRENTLY`` (hence ``atomic = False``), so a
large table stays writable while this runs. SQLite gets the portable indexes only.
"""

from django.db import migrations, models

PORTABLE = [
    models.Index(
        fields=["organization", "-created_at", "-id"],
        include=["account", "role", "revoked_at", "expires_at", "disabled_at"],
        name="key_org_created_id",
    ),
    models.Index(fields=["organization", "last_used_at"], include=["created_at", "id"], name="key_org_last_used"),
    models.Index(fields=["organization", "expires_at"], include=["created_at", "id"], name="key_org_expires"),
    models.Index(
        fields=["organization"],
        condition=models.Q(revoked_at__isnull=True)
        & (models.Q(exposed_at__isnull=False) | models.Q(previous_exposed_at__isnull=False)),
        name="key_org_exposed",
    ),
]
REPLACED = models.Index(fields=["organization", "-created_at"], name="key_org_created")
POSTGRES_ONLY = {
    "key_org_last_used_desc": "(organization_id, last_used_at DESC NULLS LAST) INCLUDE (created_at, id)",
    "key_org_expires_desc": "(organization_id, expires_at DESC NULLS LAST) INCLUDE (created_at, id)",
    "key_name_trgm": "USING gin (UPPER(name::text) gin_trgm_ops)",
}


def _postgres(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def _concurrently(schema_editor) -> dict:
    return {"concurrently": True} if _postgres(schema_editor) else {}


def _organization_index(schema_editor, model) -> str:
    return schema_editor._create_index_name(model._meta.db_table, ["organization_id"])


def forward(apps, schema_editor):
    model = apps.get_model("keys", "ApiKey")
    table = schema_editor.quote_name(model._meta.db_table)
    concurrently = "CONCURRENTLY " if _postgres(schema_editor) else ""
    for index in PORTABLE:
        schema_editor.add_index(model, index, **_concurrently(schema_editor))
    if _postgres(schema_editor):
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, definition in POSTGRES_ONLY.items():
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")
        # Statistics of the indexed expression, without which the planner guesses how many rows a
        # search matches (and may sort every match rather than walk the time index for 50).
        schema_editor.execute(f"ANALYZE {table}")
    schema_editor.remove_index(model, REPLACED, **_concurrently(schema_editor))
    name = schema_editor.quote_name(_organization_index(schema_editor, model))
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


def backward(apps, schema_editor):
    model = apps.get_model("keys", "ApiKey")
    table = schema_editor.quote_name(model._meta.db_table)
    concurrently = "CONCURRENTLY " if _postgres(schema_editor) else ""
    name = schema_editor.quote_name(_organization_index(schema_editor, model))
    schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {table} (organization_id)")
    schema_editor.add_index(model, REPLACED, **_concurrently(schema_editor))
    if _postgres(schema_editor):
        for name in POSTGRES_ONLY:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    for index in PORTABLE:
        schema_editor.remove_index(model, index, **_concurrently(schema_editor))


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("keys", "0008_who_saw_the_secret_and_exposure")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="apikey", name="key_org_created"),
                migrations.AlterField(
                    model_name="apikey",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.PROTECT,
                        related_name="api_keys",
                        to="accounts.organization",
                    ),
                ),
                *(migrations.AddIndex(model_name="apikey", index=index) for index in PORTABLE),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        )
    ]
