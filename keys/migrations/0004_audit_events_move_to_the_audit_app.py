"""AuditEvent moves to the ``audit`` app. Only Django's model state changes: the table, its
indexes and its append-only triggers stay as they are (``audit.AuditEvent`` keeps the table name)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("keys", "0003_expiry_notice_sent_for")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="auditevent", name="audit_org_time"),
                migrations.DeleteModel(name="AuditEvent"),
            ],
            database_operations=[],
        )
    ]
