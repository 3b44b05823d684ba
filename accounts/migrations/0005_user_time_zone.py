from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_user_session_generation"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="time_zone",
            field=models.CharField(
                default="UTC",
                help_text="The IANA time zone the portal shows this member's dates in.",
                max_length=64,
            ),
        ),
    ]
