"""Key names are unique among an organization's live keys as people read them: compared after
Unicode NFKC, case folding and whitespace collapsed (``keys.names.fingerprint``), no longer only
case-insensitively. Each key gets the fingerprint of its name; the unique constraint moves to it.

Two live keys whose names were already twins before this (``"Dashboard"`` and
``"Dashboard\\u00a0"``) both keep working: the older one holds the name's fingerprint, each later
twin a fingerprint of its own (made from its id), and a new key or a rename to that name is refused
as ``name_taken`` from now on.
"""

import hashlib

from django.db import migrations, models

import keys.models
from keys.names import fingerprint


def fill_fingerprints(apps, schema_editor):
    ApiKey = apps.get_model("keys", "ApiKey")
    taken: set[tuple[int, str]] = set()
    changed = []
    for key in ApiKey.objects.order_by("created_at", "id").only("id", "name", "organization_id", "revoked_at"):
        value = fingerprint(key.name)
        if key.revoked_at is None:
            if (key.organization_id, value) in taken:
                value = hashlib.sha256(f"{value}:{key.pk}".encode()).hexdigest()
            taken.add((key.organization_id, value))
        key.name_fingerprint = value
        changed.append(key)
    ApiKey.objects.bulk_update(changed, ["name_fingerprint"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("keys", "0010_secret_seen_through_a_parent_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="name_fingerprint",
            field=keys.models.NameFingerprintField(default="", editable=False, max_length=64),
        ),
        migrations.RunPython(fill_fingerprints, migrations.RunPython.noop, elidable=True),
        migrations.RemoveConstraint(
            model_name="apikey",
            name="key_name_unique_among_live_keys",
        ),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.UniqueConstraint(
                fields=["organization", "name_fingerprint"],
                condition=models.Q(("revoked_at__isnull", True)),
                name="key_name_fingerprint_unique_among_live_keys",
            ),
        ),
    ]
