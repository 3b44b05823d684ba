"""An index for every sort of the key lists, each carrying every column the lists filter on, so that
any filter under any sort, at any depth, is a walk of one index that never reads the table
(``EXPLAIN (ANALYZE, BUFFERS)`` figures in docs/benchmarks.md):

- the sorts by role, application and account get indexes (application and account through the
  keys' copies of the name and path, ``ApiKey.CopiedField``), one per direction: ties go to the
  newest key either way, which a backward scan of one index cannot give;
- the indexes of the other sorts (created, name, last used, expires) are rebuilt carrying the same
  columns (status, flags, application, account, role, creator, who saw the secret): under them, a
  status or flag filter read the row of every key it passed; and with the ties' order (newest
  first) after the sort's column, so that the many keys never used or never expiring need no sort.

Built and dropped ``CONCURRENTLY`` on PostgreSQL (hence ``atomic = False``), as in
``0009_indexes_for_large_lists``, the new ones before the old ones go; SQLite gets the portable
indexes (it ignores ``include``).
"""

from django.db import migrations, models

#: What the lists filter on, carried by every sort index (PostgreSQL; SQLite ignores ``include``).
CARRIED = (
    *("created_at", "id", "application", "account", "role", "created_by"),
    *("revoked_at", "expires_at", "disabled_at", "last_used_at", "regenerated_at"),
    *("secret_seen_by", "previous_secret_seen_by", "previous_expires_at"),
)


def index(name: str, *fields: str) -> models.Index:
    keys = {f.lstrip("-") for f in fields}
    return models.Index(
        fields=["organization", *fields], include=[c for c in CARRIED if c not in keys], name=name
    )


PORTABLE = [
    index("key_list_created", "-created_at", "-id"),
    index("key_list_name", "name", "-created_at", "-id"),
    index("key_list_last_used", "last_used_at", "-created_at", "-id"),
    index("key_list_expires", "expires_at", "-created_at", "-id"),
    index("key_list_role", "role", "-created_at", "-id"),
    index("key_list_role_desc", "-role", "-created_at", "-id"),
    index("key_list_application", "application_name", "-created_at", "-id"),
    index("key_list_application_desc", "-application_name", "-created_at", "-id"),
    index("key_list_account", "account_path", "-created_at", "-id"),
    index("key_list_account_desc", "-account_path", "-created_at", "-id"),
]
REPLACED = [
    models.Index(
        fields=["organization", "-created_at", "-id"],
        include=["account", "role", "revoked_at", "expires_at", "disabled_at"],
        name="key_org_created_id",
    ),
    models.Index(fields=["organization", "name"], name="key_org_name"),
    models.Index(fields=["organization", "last_used_at"], include=["created_at", "id"], name="key_org_last_used"),
    models.Index(fields=["organization", "expires_at"], include=["created_at", "id"], name="key_org_expires"),
]
_COLUMNS = {c: f"{c}_id" for c in ("application", "account", "created_by", "secret_seen_by")}
_COLUMNS["previous_secret_seen_by"] = "previous_secret_seen_by_id"


def _descending(column: str) -> str:
    carried = ", ".join(_COLUMNS.get(c, c) for c in CARRIED if c not in (column, "created_at", "id"))
    return f"(organization_id, {column} DESC NULLS LAST, created_at DESC, id DESC) INCLUDE ({carried})"


#: The descending "empty last" orders (SQLite cannot index NULLS LAST).
POSTGRES_ONLY = {
    "key_list_last_used_desc": _descending("last_used_at"),
    "key_list_expires_desc": _descending("expires_at"),
}
POSTGRES_REPLACED = ["key_org_last_used_desc", "key_org_expires_desc"]


def _postgres(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def _concurrently(schema_editor) -> dict:
    return {"concurrently": True} if _postgres(schema_editor) else {}


def forward(apps, schema_editor):
    model = apps.get_model("keys", "ApiKey")
    table = schema_editor.quote_name(model._meta.db_table)
    for new in PORTABLE:
        schema_editor.add_index(model, new, **_concurrently(schema_editor))
    if _postgres(schema_editor):
        for name, definition in POSTGRES_ONLY.items():
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")
        schema_editor.execute(f"ANALYZE {table}")  # the new columns' statistics
        for name in POSTGRES_REPLACED:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    for old in REPLACED:
        schema_editor.remove_index(model, old, **_concurrently(schema_editor))


def backward(apps, schema_editor):
    model = apps.get_model("keys", "ApiKey")
    table = schema_editor.quote_name(model._meta.db_table)
    for old in REPLACED:
        schema_editor.add_index(model, old, **_concurrently(schema_editor))
    if _postgres(schema_editor):
        for name, definition in (
            ("key_org_last_used_desc", "(organization_id, last_used_at DESC NULLS LAST) INCLUDE (created_at, id)"),
            ("key_org_expires_desc", "(organization_id, expires_at DESC NULLS LAST) INCLUDE (created_at, id)"),
        ):
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")
        for name in POSTGRES_ONLY:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    for new in PORTABLE:
        schema_editor.remove_index(model, new, **_concurrently(schema_editor))


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("keys", "0013_key_copies_of_application_name_and_account_path")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                *(migrations.RemoveIndex(model_name="apikey", name=old.name) for old in REPLACED),
                *(migrations.AddIndex(model_name="apikey", index=new) for new in PORTABLE),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        )
    ]
