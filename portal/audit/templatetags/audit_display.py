"""Audit events for people in templates: `{% load audit_display %}`.

`{% readable event references as changes %}` (see portal.audit.display),
`{{ event|event_record }}` ("Customer refund 1091"),
`{% company_name event.company_id references %}` and `{% portal_actor history "created_by" %}`
(who did it, from the portal's own log).
"""

from typing import Any

from django import template

from portal.audit import actions
from portal.audit.display import (
    ReadableChanges,
    readable_changes,
    record_title,
    reference_name,
)

register = template.Library()

# Which of the portal's own events stand behind DualEntry's created_by / updated_by.
_AUTHOR_ACTIONS = {
    "created_by": (actions.RECORD_CREATED,),
    "updated_by": (actions.RECORD_CREATED, actions.RECORD_UPDATED, actions.POSTED),
}


@register.simple_tag
def readable(event: Any, references: Any = None) -> ReadableChanges:
    return readable_changes(
        action=event.action, kind_slug=event.kind, changes=event.changes, references=references
    )


@register.filter
def event_record(event: Any) -> str:
    return record_title(event.kind, event.key)


@register.simple_tag
def company_name(company_id: Any, references: Any = None) -> str:
    if company_id in (None, ""):
        return ""
    return reference_name(references, "companies", company_id) or f"Company {company_id}"


@register.simple_tag
def portal_actor(history: Any, field_name: str) -> str:
    """The person who did through the portal what DualEntry credits to its API user:
    "Priya Preparer" (the earliest creation for `created_by`, the latest save for
    `updated_by`), or "" when the portal's history has no such event."""
    wanted = _AUTHOR_ACTIONS.get(field_name, ())
    events = [event for event in history or [] if event.action in wanted and event.success]
    if not events:
        return ""
    # History is newest first.
    event = events[-1] if field_name == "created_by" else events[0]
    person = event.actor.get_full_name() if event.actor is not None else ""
    return person or event.actor_username
