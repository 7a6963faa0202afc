from django.conf import settings
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


class UserProfile(models.Model):
    """What the portal remembers about a person besides their account: their time zone."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_profile"
    )
    # An IANA name ("Europe/Berlin"); "" until the person or their browser chose one, which
    # shows times in settings.TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True)
    # True once the person picked the zone themselves: the browser's guess never overrides it.
    time_zone_chosen = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"profile of {self.user}"
