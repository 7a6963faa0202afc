"""Each person's time zone: which one a request shows times in, and how a time reads.

Times are stored in UTC. `TimeZoneMiddleware` activates the person's zone for the request
(their profile, else settings.TIME_ZONE), so Django's `localtime` and the `when` filter show
times in it; `format_local` always names the zone, so "14:02" is never ambiguous.
"""

import datetime as dt
import zoneinfo
from functools import cache

from django.utils import timezone


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone this system knows, sorted ("Africa/Abidjan" ... "UTC")."""
    return tuple(sorted(zoneinfo.available_timezones()))


def is_time_zone(name: str) -> bool:
    return bool(name) and name in time_zone_names()


def zone_abbreviation(moment: dt.datetime) -> str:
    """ "CET", "EST", "UTC"; zones without a letter abbreviation read "UTC+03"."""
    abbreviation = moment.strftime("%Z")
    if abbreviation[:1] in ("+", "-"):
        return f"UTC{abbreviation}"
    return abbreviation or "UTC"


def format_local(value: dt.datetime, *, seconds: bool = False) -> str:
    """ "2026-11-30 14:02 CET": the time in the active zone, ISO date, zone named."""
    shown = timezone.localtime(value) if timezone.is_aware(value) else value
    text = shown.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    if timezone.is_naive(shown):
        return text
    return f"{text} {zone_abbreviation(shown)}"


def profile_time_zone(user) -> str:
    """The zone `user` (or their browser) chose, or "" when none is known yet."""
    from portal.models import UserProfile

    if user is None or not user.is_authenticated:
        return ""
    chosen = UserProfile.objects.filter(user=user).values_list("time_zone", flat=True).first()
    return chosen if chosen and is_time_zone(chosen) else ""
