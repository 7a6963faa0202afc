from django.db import models


class PortalPermission(models.Model):
    """Holds the portal's custom permissions; it has no rows and no table of its own."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_records", "Can browse DualEntry records, drafts and proposals"),
            ("prepare_records", "Can create and edit drafts, upload attachments, submit"),
            ("approve_records", "Can approve or reject submissions"),
            ("view_audit_log", "Can read the audit log"),
        ]

    def __str__(self) -> str:
        return "portal permissions"
