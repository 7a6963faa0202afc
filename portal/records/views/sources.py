"""The search behind a line's picker of what it applies (a credit, a prepayment, a payment):
htmx asks as people type; the answer is the `<option>`s of the picker's select, from the read
model (no DualEntry call). Without JavaScript the select already lists the open records."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.permissions import PREPARE_RECORDS
from portal.records import money_rules
from portal.records.forms import parse_int
from portal.records.forms.fields import RecordPickerWidget
from portal.records.kinds import RecordKind


@require_GET
@permission_required(PREPARE_RECORDS, raise_exception=True)
def pick_source(request: HttpRequest, kind: RecordKind) -> HttpResponse:
    field_name = request.GET.get("field", "")
    if field_name not in money_rules.KIND_SOURCE_FIELDS.get(kind.slug, ()):
        raise Http404(f"{kind.label_plural.capitalize()} have no line field {field_name!r}.")
    source_type = money_rules.SOURCE_TYPES[field_name]
    options = (
        money_rules.open_sources(
            kind_slug=kind.slug,
            field_name=field_name,
            company_id=parse_int(request.GET.get("company_id")),
            customer_id=parse_int(request.GET.get("customer_id"))
            if kind.slug == "refunds"
            else None,
            search=request.GET.get("q", "").strip()[:100],
            keep=[],
        )
        or []
    )
    widget = RecordPickerWidget()
    widget.noun = source_type.noun
    if options:
        first = f"Choose a {source_type.noun} ({len(options)} found)"
    else:
        first = f"No open {source_type.noun} matches"
    widget.choices = [("", first)] + [(str(option.value), option.label) for option in options]
    widget.available = {
        str(option.value): format(option.available, "f")
        for option in options
        if option.available is not None
    }
    context = widget.get_context(field_name, request.GET.get("current", ""), None)
    return render(request, "records/_record_picker.html#options", context)
