from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "Viewer": ("view_records", "view_audit_log"),
    "Preparer": ("view_records", "view_audit_log", "prepare_records"),
    "Approver": ("view_records", "view_audit_log", "approve_records"),
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; make ours exist now.
    portal_config = apps.get_app_config("portal")
    portal_config.models_module = True
    create_permissions(portal_config, apps=apps, verbosity=0)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="portal", codename__in=codenames)
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
