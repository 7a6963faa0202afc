"""Writes of the core app: a person's own settings."""

from django.core.exceptions import ValidationError

from portal.models import UserProfile
from portal.timezones import is_time_zone


def profile_time_zone_set(*, user, time_zone: str, chosen: bool) -> UserProfile:
    """Set `user`'s time zone. `chosen=False` is the browser's guess on first log-in: it
    fills an empty profile and never replaces a zone the person picked."""
    if not is_time_zone(time_zone):
        raise ValidationError(f"{time_zone!r} is not a time zone the portal knows.")
    profile, _ = UserProfile.objects.get_or_create(user=user)
    if not chosen and (profile.time_zone_chosen or profile.time_zone):
        return profile
    profile.time_zone = time_zone
    profile.time_zone_chosen = profile.time_zone_chosen or chosen
    profile.save(update_fields=["time_zone", "time_zone_chosen"])
    return profile
