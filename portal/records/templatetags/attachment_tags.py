"""`{% attachments_panel as panel %}`: the attachments section's data for `_attachments.html`.

The detail page includes `records/_attachments.html` with its own context (`kind`, `key`,
`record`, `request`); the upload view renders the same template with the panel it built (with
the outcome of the upload) as `attachments_panel`. Either way the decisions (may this person
attach files here?) come from `portal.records.attachment_selectors`, not from template logic.
"""

from django import template

from portal.records.attachment_selectors import AttachmentPanel, attachment_panel

register = template.Library()


@register.simple_tag(takes_context=True)
def attachments_panel(context) -> AttachmentPanel:
    supplied = context.get("attachments_panel")
    if isinstance(supplied, AttachmentPanel):
        return supplied
    kind = context["kind"]
    record = context.get("record")
    key = context.get("key")
    if key in (None, "") and record is not None:
        key = kind.key_of(record)
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return attachment_panel(kind=kind, key=str(key), record=record, user=user)
