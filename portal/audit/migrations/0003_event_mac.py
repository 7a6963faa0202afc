"""Every event gets `mac`, the HMAC-SHA256 of its hash under AUDIT_HMAC_KEY.

Events that exist when this runs are sealed with the key configured now: this attests the log
as it stands at migration time (verify it first with `verify_audit_log` from the previous
release). On PostgreSQL the append-only trigger is switched off for this one transaction.
"""

from django.db import migrations, models

from portal.audit.anchor import configured_key, event_mac


def seal_existing_events(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    key = configured_key()
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        schema_editor.execute(
            "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only"
        )
    events = AuditEvent.objects.using(schema_editor.connection.alias).filter(mac="")
    for event_id, event_hash in events.values_list("id", "hash").iterator():
        AuditEvent.objects.using(schema_editor.connection.alias).filter(id=event_id).update(
            mac=event_mac(event_hash, key=key)
        )
    if postgresql:
        schema_editor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="mac",
            field=models.CharField(
                default="",
                help_text="HMAC-SHA256 of `hash` under AUDIT_HMAC_KEY (never stored here).",
                max_length=64,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(seal_existing_events, migrations.RunPython.noop),
    ]
