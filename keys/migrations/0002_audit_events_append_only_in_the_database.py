"""Audit events are append-only in the database too, not only through the ORM and the admin.

The model and its queryset refuse updates and deletes; these triggers also refuse raw SQL, a
``dbshell`` session, or another program using the same database account.

- PostgreSQL refuses every row-level UPDATE and DELETE. ``TRUNCATE`` stays possible for the owner
  of the table (a deliberate retention purge, and Django's own test flush).
- SQLite refuses UPDATE. DELETE stays possible there because Django empties tables with
  ``DELETE FROM`` between transactional tests and SQLite has no separate ``TRUNCATE``; the ORM,
  the admin and every view refuse deletes on every database.

SQLite drops a table's triggers when a migration rebuilds the table (an ``AlterField`` on
``AuditEvent`` does): such a migration must create the trigger again.
``test_the_database_itself_refuses_to_change_audit_events`` fails if it does not.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION keys_auditevent_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER keys_auditevent_append_only
        BEFORE UPDATE OR DELETE ON keys_auditevent
        FOR EACH ROW EXECUTE FUNCTION keys_auditevent_append_only()
    """,
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS keys_auditevent_append_only ON keys_auditevent",
    "DROP FUNCTION IF EXISTS keys_auditevent_append_only()",
]
SQLITE_FORWARD = [
    """
    CREATE TRIGGER IF NOT EXISTS keys_auditevent_no_update
        BEFORE UPDATE ON keys_auditevent
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END
    """,
]
SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS keys_auditevent_no_update"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)  # None: "%" is not a placeholder

    return run


class Migration(migrations.Migration):
    dependencies = [("keys", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
