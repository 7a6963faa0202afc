"""Every permission of the portal, named once.

Views (`permission_required(...)`), services and selectors (`user.has_perm(...)`) and the menu
import these names; nothing else writes a permission out. Django stores them as custom
permissions of `portal.PortalPermission` (codename and description below); `portal.roles` gives
them to the role groups.
"""

VIEW_RECORDS = "portal.view_records"
PREPARE_RECORDS = "portal.prepare_records"
APPROVE_RECORDS = "portal.approve_records"
VIEW_AUDIT_LOG = "portal.view_audit_log"

DESCRIPTIONS: dict[str, str] = {
    VIEW_RECORDS: "Can browse DualEntry records, drafts and proposals",
    PREPARE_RECORDS: "Can create and edit drafts, upload attachments, submit",
    APPROVE_RECORDS: "Can approve or reject submissions",
    VIEW_AUDIT_LOG: "Can read the audit log",
}


def codename(permission: str) -> str:
    """ "portal.view_records" -> "view_records" (what `Permission.codename` holds)."""
    return permission.partition(".")[2]
