"""The keys whose current secret a member saw, as one index carrying what the Members page's count
asks of each (whether the actor may see the key, whether it is in use): each member's count is a
range of it, where PostgreSQL walked a list index of every key once per member. It replaces the
foreign key's own index on the column."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_user_time_zone'),
        ('keys', '0014_indexes_for_every_filter_and_sort'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='apikey',
            name='secret_seen_by',
            field=models.ForeignKey(blank=True, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='seen_secrets', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='apikey',
            index=models.Index(fields=['secret_seen_by'], include=('organization', 'account', 'role', 'revoked_at', 'expires_at'), name='key_seen_by'),
        ),
    ]
