"""Each key's copy of its application's name and its account's path (``ApiKey.CopiedField``): what
the key lists sort by for "Application" and "Account", so that an index of the keys table answers
those sorts. Filled in for the keys there are, in one statement each."""

from django.db import migrations
from django.db.models import OuterRef, Subquery

import keys.models


def backfill(apps, schema_editor):
    key = apps.get_model("keys", "ApiKey")
    application = apps.get_model("accounts", "Application")
    account = apps.get_model("accounts", "Account")
    key.objects.update(
        application_name=Subquery(application.objects.filter(pk=OuterRef("application_id")).values("name")),
        account_path=Subquery(account.objects.filter(pk=OuterRef("account_id")).values("path")),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_user_time_zone"),
        ("keys", "0012_apikey_description"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="application_name",
            field=keys.models.CopiedField(default="", editable=False, max_length=120, source="application.name"),
        ),
        migrations.AddField(
            model_name="apikey",
            name="account_path",
            field=keys.models.CopiedField(default="", editable=False, max_length=1000, source="account.path"),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
