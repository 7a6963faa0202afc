"""`{% approval_actions %}`: the approval buttons of a record's detail page.

The conditions are computed by `selectors.record_approval_actions` (from the record the page
already fetched and the portal's database); the template only shows the result.
"""

from django import template

from portal.approvals.selectors import record_approval_actions

register = template.Library()


@register.inclusion_tag("approvals/_record_buttons.html", takes_context=True)
def approval_actions(context) -> dict:
    request = context.get("request")
    kind = context.get("kind")
    key = context.get("key")
    if request is None or kind is None or not key:
        return {"actions": None}
    actions = record_approval_actions(
        user=request.user, kind=kind, key=str(key), record=context.get("record")
    )
    return {"actions": actions, "kind": kind, "key": key, "csrf_token": context.get("csrf_token")}


@register.filter
def approval_value(value) -> str:
    """A payload value for people: nested objects as "name: value" pairs, lists joined."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return (
            ", ".join(
                f"{name.replace('_', ' ')}: {approval_value(item)}"
                for name, item in value.items()
                if item not in (None, "", [], {})
            )
            or "—"
        )
    if isinstance(value, list):
        return "; ".join(approval_value(item) for item in value) or "—"
    return str(value)
