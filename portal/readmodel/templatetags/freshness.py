"""How old the read model's copy is, for people: `{{ moment|age }}` -> "45 s", "3 min", "2 h"."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

register = template.Library()


def age_text(seconds: float | None) -> str:
    """A short age: seconds under a minute, minutes under two hours, hours under two days."""
    if seconds is None:
        return "an unknown time"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


@register.filter
def age(moment: dt.datetime | None) -> str:
    """How long ago `moment` was, as `age_text` says it."""
    if moment is None:
        return age_text(None)
    return age_text((timezone.now() - moment).total_seconds())
