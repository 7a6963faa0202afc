"""`{{ value|when }}`: a time in the viewer's zone, zone named, inside a `<time>` element.

`{{ value|when:"seconds" }}` adds seconds (the audit log). The `datetime` attribute keeps the
exact moment in UTC for machines; the title names the zone in full ("Europe/Berlin").
"""

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html

from portal.timezones import format_local

register = template.Library()


@register.filter
def when(value: Any, detail: str = "") -> str:
    if not isinstance(value, dt.datetime):
        return "—" if not value else str(value)
    moment = value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        timezone.get_current_timezone_name(),
        format_local(moment, seconds=detail == "seconds"),
    )
