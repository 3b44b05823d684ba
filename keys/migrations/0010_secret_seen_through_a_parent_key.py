import django.db.models.deletion
from django.db import migrations, models


def through_which_key(apps, schema_editor):
    """Existing live keys: the current secret was seen through the key that last created or
    regenerated it, as the audit log says (none when a member or a command did). One UPDATE with a
    subquery, whatever the number of keys."""
    from django.db.models import OuterRef, Subquery

    ApiKey = apps.get_model("keys", "ApiKey")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    last = AuditEvent.objects.filter(
        key_id=OuterRef("pk"), action__in=["key.created", "key.regenerated"]
    ).order_by("-occurred_at", "-id")
    ApiKey.objects.filter(revoked_at__isnull=True).update(
        secret_seen_through_id=Subquery(last.values("actor_key_id")[:1])
    )


class Migration(migrations.Migration):

    dependencies = [
        ("keys", "0009_indexes_for_large_lists"),
        ("audit", "0006_request_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="secret_seen_through",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="keys.apikey",
            ),
        ),
        migrations.AddField(
            model_name="apikey",
            name="previous_secret_seen_through",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="keys.apikey",
            ),
        ),
        migrations.RunPython(through_which_key, migrations.RunPython.noop, elidable=True),
    ]
