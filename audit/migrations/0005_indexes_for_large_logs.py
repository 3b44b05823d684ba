"""Indexes that match how the audit log is read, newest first with the id breaking ties, so that any
page of millions of events is a short range of one index (each justified by ``EXPLAIN ANALYZE`` in
docs/benchmarks.md):

- ``audit_org_time_id`` (organization, occurred_at DESC, id DESC): an organization's log and its
  keyset pages; it replaces ``audit_org_time``, which lacked the id;
- ``audit_org_action_time``: one action of the log (a rare one no longer walks the whole log);
- ``audit_key_time``: one key's events (its page, and the log filtered by key name);
- PostgreSQL only: ``pg_trgm`` and a trigram index on ``UPPER(actor_label)`` for the actor filter;
- the single-column indexes on organization, action and key go: the ones above start with them,
  and every index is one more write for each event of this append-only table.

On PostgreSQL the indexes are built and dropped ``CONCURRENTLY`` (hence ``atomic = False``): events
keep being written while this runs. No table is rebuilt, so the append-only triggers stay.
"""

from django.db import migrations, models

PORTABLE = [
    models.Index(fields=["organization", "-occurred_at", "-id"], name="audit_org_time_id"),
    models.Index(fields=["organization", "action", "-occurred_at", "-id"], name="audit_org_action_time"),
    models.Index(fields=["key", "-occurred_at", "-id"], name="audit_key_time"),
]
REPLACED = models.Index(fields=["organization", "-occurred_at"], name="audit_org_time")
# The single-column indexes Django made for these columns (PostgreSQL also has a "_like" one for a
# CharField's LIKE 'prefix%').
DROPPED_COLUMNS = ["organization_id", "action", "key_id"]
POSTGRES_ONLY = {"audit_actor_trgm": "USING gin (UPPER(actor_label::text) gin_trgm_ops)"}


def _postgres(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def _concurrently(schema_editor) -> dict:
    return {"concurrently": True} if _postgres(schema_editor) else {}


def _column_indexes(schema_editor, model) -> list[tuple[str, str]]:
    table = model._meta.db_table
    found = [(column, schema_editor._create_index_name(table, [column])) for column in DROPPED_COLUMNS]
    if _postgres(schema_editor):
        found.append(("action", schema_editor._create_index_name(table, ["action"], suffix="_like")))
    return found


def forward(apps, schema_editor):
    model = apps.get_model("audit", "AuditEvent")
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
    for _, name in _column_indexes(schema_editor, model):
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {schema_editor.quote_name(name)}")


def backward(apps, schema_editor):
    model = apps.get_model("audit", "AuditEvent")
    table = schema_editor.quote_name(model._meta.db_table)
    concurrently = "CONCURRENTLY " if _postgres(schema_editor) else ""
    for column, name in _column_indexes(schema_editor, model):
        opclass = " varchar_pattern_ops" if name.endswith("_like") else ""
        schema_editor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {schema_editor.quote_name(name)} ON {table} ({column}{opclass})"
        )
    schema_editor.add_index(model, REPLACED, **_concurrently(schema_editor))
    if _postgres(schema_editor):
        for name in POSTGRES_ONLY:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    for index in PORTABLE:
        schema_editor.remove_index(model, index, **_concurrently(schema_editor))


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("accounts", "0002_organization_security_policy"),
        ("audit", "0004_member_events"),
        ("keys", "0009_indexes_for_large_lists"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="auditevent", name="audit_org_time"),
                migrations.AlterField(
                    model_name="auditevent",
                    name="organization",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.PROTECT,
                        related_name="audit_events",
                        to="accounts.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="action",
                    field=models.CharField(
                        choices=[
                            ("key.created", "Key created"),
                            ("key.regenerated", "Key regenerated"),
                            ("key.revoked", "Key revoked"),
                            ("key.updated", "Key updated"),
                            ("key.disabled", "Key disabled"),
                            ("key.enabled", "Key enabled"),
                            ("key.auth_failed", "Key authentication failed"),
                            ("key.ip_refused", "Key used from a network not allowed"),
                            ("policy.updated", "Security policy changed"),
                            ("member.deactivated", "Member deactivated"),
                            ("member.reactivated", "Member reactivated"),
                            ("permission.denied", "Permission denied"),
                            ("login.succeeded", "Signed in"),
                            ("login.failed", "Sign-in failed"),
                            ("logout", "Signed out"),
                        ],
                        max_length=32,
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="key",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.PROTECT,
                        related_name="audit_events",
                        to="keys.apikey",
                    ),
                ),
                *(migrations.AddIndex(model_name="auditevent", index=index) for index in PORTABLE),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        )
    ]
