"""The portal's roles: Django groups with the custom permissions of `PortalPermission`."""

from collections.abc import Iterable

from portal.permissions import (
    APPROVE_RECORDS,
    PREPARE_RECORDS,
    VIEW_AUDIT_LOG,
    VIEW_RECORDS,
    codename,
)

VIEWER = "Viewer"
PREPARER = "Preparer"
APPROVER = "Approver"

# Codenames (`Permission.codename`) of each role's permissions.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    VIEWER: (codename(VIEW_RECORDS), codename(VIEW_AUDIT_LOG)),
    PREPARER: (codename(VIEW_RECORDS), codename(VIEW_AUDIT_LOG), codename(PREPARE_RECORDS)),
    APPROVER: (codename(VIEW_RECORDS), codename(VIEW_AUDIT_LOG), codename(APPROVE_RECORDS)),
}


def role_names(user) -> list[str]:
    """Human-readable roles of a user, for the header."""
    if not user.is_authenticated:
        return []
    names = sorted(group.name for group in user.groups.all())
    if user.is_superuser:
        names.insert(0, "Administrator")
    return names


def sync_role_groups() -> None:
    """Create the role groups with their permissions (the data migration does the same at
    install time; tests that flush the database call this to get them back)."""
    from django.contrib.auth.models import Group, Permission

    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="portal", codename__in=codenames)
        )


def user_set_roles(*, user, roles: Iterable[str]) -> None:
    """Give the user exactly these portal roles (single sign-on re-maps them at every sign-in);
    groups that are not portal roles are left alone."""
    from django.contrib.auth.models import Group

    wanted = set(roles)
    groups = list(Group.objects.filter(name__in=wanted))
    if len(groups) < len(wanted):  # a role group was deleted: recreate rather than drop a role
        sync_role_groups()
        groups = list(Group.objects.filter(name__in=wanted))
    unwanted = user.groups.filter(name__in=ROLE_PERMISSIONS).exclude(name__in=wanted)
    user.groups.remove(*unwanted)
    user.groups.add(*groups)
