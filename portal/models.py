from django.db import models

from portal.permissions import DESCRIPTIONS, codename


class PortalPermission(models.Model):
    """Holds the portal's custom permissions; it has no rows and no table of its own."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [(codename(name), text) for name, text in DESCRIPTIONS.items()]

    def __str__(self) -> str:
        return "portal permissions"
