"""Searchable pickers over the read model's reference lists (customers, companies, ...).

`ReferencePicker` is a form widget: a search box that asks `reference_picker` (htmx, search as
you type) for matching names, shown as checkboxes of the same field; ticking one selects it.
Without JavaScript the search box is submitted with its form and the matches come back with
the page. The markup is `templates/records/_picker.html` (partials `picker` and `options`), so
any form can use the widget and any page the endpoint. Database reads only.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from portal.permissions import VIEW_RECORDS
from portal.readmodel.selectors import mirrored_references

PICKER_SOURCES = ("customers", "companies", "vendors", "items")
MATCH_LIMIT = 15
QUERY_MAX_LENGTH = 100
_FIELD_NAME = re.compile(r"^[a-z_]{1,40}$")


def reference_names(*, source: str, keys: list[str]) -> dict[str, str]:
    """key -> name for these keys of a reference list (unknown keys are absent)."""
    wanted = [key for key in keys if key.isdigit()]
    if not wanted:
        return {}
    return dict(
        mirrored_references(source=source).filter(key__in=wanted).values_list("key", "name")
    )


def reference_matches(
    *, source: str, query: str, limit: int = MATCH_LIMIT
) -> list[tuple[str, str]]:
    """(key, name) of the entries whose name (or id) holds `query`, by name."""
    query = (query or "").strip()[:QUERY_MAX_LENGTH]
    if not query:
        return []
    entries = mirrored_references(source=source)
    condition = entries.filter(name__icontains=query)
    if query.isdigit():
        condition = condition | entries.filter(key=query)
    return list(condition.order_by("name", "key").values_list("key", "name")[:limit])


class ReferencePicker(forms.Widget):
    """A multiple-choice field's widget: chosen entries as ticked boxes, a search box, matches."""

    def __init__(self, *, source: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.source = source
        self.query = ""

    def choices_for(self, values: list[str]) -> list[tuple[str, str]]:
        """The field's choices: the values in the URL, named where the copy knows them."""
        keys = [value.strip() for value in values if value and value.strip().isdigit()]
        names = reference_names(source=self.source, keys=keys)
        return [(key, names.get(key) or f"#{key}") for key in dict.fromkeys(keys)]

    def value_from_datadict(self, data, files, name):
        self.query = (data.get(f"{name}_q") or "").strip()[:QUERY_MAX_LENGTH]
        getter = getattr(data, "getlist", None)
        values = getter(name) if getter else [data.get(name)]
        return [value for value in values if value not in (None, "")]

    def format_value(self, value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            value = [value]
        return [str(item) for item in value]

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        final_attrs = self.build_attrs(self.attrs, attrs)
        chosen_keys = self.format_value(value)
        names = reference_names(source=self.source, keys=chosen_keys)
        chosen = [(key, names.get(key) or f"#{key}") for key in chosen_keys]
        matches = [
            match
            for match in reference_matches(source=self.source, query=self.query)
            if match[0] not in chosen_keys
        ]
        return mark_safe(
            render_to_string(
                "records/_picker.html#picker",
                picker_context(
                    name=name,
                    source=self.source,
                    input_id=final_attrs.get("id") or f"id_{name}",
                    query=self.query,
                    chosen=chosen,
                    matches=matches,
                ),
            )
        )


def picker_context(
    *,
    name: str,
    source: str,
    input_id: str,
    query: str,
    chosen: list[tuple[str, str]],
    matches: list[tuple[str, str]],
) -> dict[str, Any]:
    return {
        "name": name,
        "source": source,
        "input_id": input_id,
        "query": query,
        "chosen": chosen,
        "matches": matches,
        "search_url": reverse("records:picker", kwargs={"source": source}),
    }


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
def reference_picker(request: HttpRequest, source: str) -> HttpResponse:
    """The matches of a picker's search box (htmx), as its `options` partial."""
    if source not in PICKER_SOURCES:
        raise Http404("No such list of names.")
    name = request.GET.get("field", "")
    if not _FIELD_NAME.match(name):
        raise Http404("No such field.")
    query = (request.GET.get(f"{name}_q") or "").strip()[:QUERY_MAX_LENGTH]
    chosen = set(request.GET.getlist(name))
    matches = [
        match for match in reference_matches(source=source, query=query) if match[0] not in chosen
    ]
    context = picker_context(
        name=name, source=source, input_id=f"id_{name}", query=query, chosen=[], matches=matches
    )
    return render(request, "records/_picker.html#options", context)
