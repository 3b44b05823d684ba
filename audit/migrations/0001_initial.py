"""The audit log's model, taken over from the ``keys`` app: state only, the table already exists
(``keys_auditevent``, with its indexes and append-only triggers)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0001_initial"),
        ("keys", "0004_audit_events_move_to_the_audit_app"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("occurred_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False)),
                        ("action", models.CharField(choices=[("key.created", "Key created"), ("key.regenerated", "Key regenerated"), ("key.revoked", "Key revoked"), ("key.updated", "Key updated"), ("key.auth_failed", "Key authentication failed"), ("permission.denied", "Permission denied"), ("login.succeeded", "Signed in"), ("login.failed", "Sign-in failed"), ("logout", "Signed out")], db_index=True, max_length=32)),
                        ("actor_label", models.CharField(help_text="Who, as shown: email, key name or 'system'.", max_length=200)),
                        ("ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("user_agent", models.CharField(blank=True, default="", max_length=300)),
                        ("details", models.JSONField(blank=True, default=dict)),
                        ("account", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.account")),
                        ("actor_key", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="keys.apikey")),
                        ("actor_user", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("key", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="audit_events", to="keys.apikey")),
                        ("organization", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="audit_events", to="accounts.organization")),
                    ],
                    options={
                        "db_table": "keys_auditevent",
                        "ordering": ["-occurred_at", "-id"],
                        "indexes": [models.Index(fields=["organization", "-occurred_at"], name="audit_org_time")],
                    },
                ),
            ],
        )
    ]
