from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="PortalPermission",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "managed": False,
                "default_permissions": (),
                "permissions": [
                    ("view_records", "Can browse DualEntry records, drafts and proposals"),
                    ("prepare_records", "Can create and edit drafts, upload attachments, submit"),
                    ("approve_records", "Can approve or reject submissions"),
                    ("view_audit_log", "Can read the audit log"),
                ],
            },
        ),
    ]
