"""The request log: one row per request made with a key, or refused attempt naming one.

On PostgreSQL the table is partitioned by RANGE on ``time``, one partition per UTC day, which the
writer (``keys.metering.requestlog``) creates ahead of the rows and drops after
``REQUEST_LOG_DAYS``: old days leave by ``DROP TABLE`` of a partition, never a row-by-row delete.
Django does not write partitioned tables, so the table and its indexes are written here (the
model's state is the same as on SQLite); a partitioned table's unique constraints must hold the
partition key, and nothing reads a row by its id alone, so there is no primary key constraint (ids
come from the sequence). The key-and-time index carries the status, route and duration so that the
usage card's 24 hours are read from the index. On SQLite it is the model's plain table, whose
old rows leave by a range delete on its ``time`` index (PostgreSQL needs none: partitions).
"""

from django.db import migrations, models

POSTGRES_FORWARD = [
    """
    CREATE TABLE keys_requestlogentry (
        id bigserial NOT NULL,
        time timestamp with time zone NOT NULL,
        key_id uuid NOT NULL,
        method varchar(8) NOT NULL,
        route varchar(200) NOT NULL,
        path varchar(500) NOT NULL,
        status smallint NOT NULL CHECK (status >= 0),
        status_class smallint NOT NULL CHECK (status_class >= 0),
        error_code varchar(40) NOT NULL,
        reason varchar(20) NOT NULL,
        detail varchar(200) NOT NULL,
        client_ip inet NULL,
        duration_us integer NOT NULL CHECK (duration_us >= 0),
        request_id varchar(128) NOT NULL,
        surface varchar(8) NOT NULL,
        operation varchar(100) NOT NULL,
        operation_type varchar(12) NOT NULL
    ) PARTITION BY RANGE (time)
    """,
    """
    CREATE INDEX request_log_key_time ON keys_requestlogentry (key_id, time DESC, id DESC)
        INCLUDE (status, route, duration_us)
    """,
    """
    CREATE INDEX request_log_key_class ON keys_requestlogentry (key_id, status_class, time DESC, id DESC)
    """,
    """
    CREATE INDEX request_log_key_code ON keys_requestlogentry (key_id, error_code, time DESC, id DESC)
        WHERE NOT (error_code = '')
    """,
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_FORWARD:
            schema_editor.execute(statement, params=None)
    else:
        schema_editor.create_model(apps.get_model("keys", "RequestLogEntry"))


def backward(apps, schema_editor):
    schema_editor.execute("DROP TABLE IF EXISTS keys_requestlogentry", params=None)  # and its partitions


class Migration(migrations.Migration):
    dependencies = [
        ("keys", "0015_keys_seen_by_a_member_counted_from_one_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RequestLogEntry",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("time", models.DateTimeField()),
                        ("key_id", models.UUIDField()),
                        ("method", models.CharField(max_length=8)),
                        ("route", models.CharField(blank=True, default="", max_length=200)),
                        ("path", models.CharField(max_length=500)),
                        ("status", models.PositiveSmallIntegerField()),
                        ("status_class", models.PositiveSmallIntegerField()),
                        ("error_code", models.CharField(blank=True, default="", max_length=40)),
                        ("reason", models.CharField(blank=True, default="", max_length=20)),
                        ("detail", models.CharField(blank=True, default="", max_length=200)),
                        ("client_ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("duration_us", models.PositiveIntegerField()),
                        ("request_id", models.CharField(max_length=128)),
                        ("surface", models.CharField(max_length=8)),
                        ("operation", models.CharField(blank=True, default="", max_length=100)),
                        ("operation_type", models.CharField(blank=True, default="", max_length=12)),
                    ],
                    options={
                        "indexes": [
                            models.Index(fields=["key_id", "-time", "-id"], name="request_log_key_time"),
                            models.Index(
                                fields=["key_id", "status_class", "-time", "-id"], name="request_log_key_class"
                            ),
                            models.Index(
                                condition=models.Q(("error_code", ""), _negated=True),
                                fields=["key_id", "error_code", "-time", "-id"],
                                name="request_log_key_code",
                            ),
                            models.Index(fields=["time"], name="request_log_time"),
                        ],
                    },
                ),
            ],
        ),
        # After the state: the table is written from the model it describes (SQLite).
        migrations.RunPython(forward, backward),
    ]
