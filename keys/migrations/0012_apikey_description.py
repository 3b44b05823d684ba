"""A key's optional description, searched like its name: on PostgreSQL with a trigram index on
``UPPER(description)`` beside 0009's on ``UPPER(name)``, so that "name or description contains" stays
an index search on a long list."""

from django.db import migrations, models

TRIGRAM = "key_description_trgm"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("keys", "ApiKey")._meta.db_table)
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {TRIGRAM} ON {table} "
        "USING gin (UPPER(description) gin_trgm_ops)"
    )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {TRIGRAM}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("keys", "0011_key_names_compared_as_people_read_them"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="description",
            field=models.TextField(
                blank=True,
                default="",
                help_text="Who runs the integration, where its secret lives: optional, shown on the key's page.",
                max_length=500,
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
