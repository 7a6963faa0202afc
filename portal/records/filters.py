"""The filter form of a list page, built from a record kind's `filters` and `ordering_choices`.

Every filter is a query parameter of the portal's URL with the same name as the API's, so the
URL holds the whole view and maps one to one onto the upstream request: arrays repeat
(`record_status=draft&record_status=posted`), dates are ISO, booleans `true`/`false`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.http import QueryDict
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from portal.records.kinds import KINDS, Filter, RecordKind
from portal.records.references import References
from portal.widgets import ISO_DATE_INPUT_FORMATS, IsoDateInput

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50
# Reference filters with at most this many choices are checkboxes; longer ones a select box.
CHECKBOX_LIMIT = 6


# Filter widgets render in Python. Django renders every widget, and every option of a select
# or checkbox group, through a template; on a list page that cost more than the 100-row table
# (see tests/bench/bench_list_page.py). The markup is the same as Django's own.


class FastSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        selected = set(self.format_value(value)[:1])  # one selected option, as a select shows
        options = "".join(
            f'<option value="{escape(key)}"{" selected" if str(key) in selected else ""}>'
            f"{escape(label)}</option>"
            for key, label in self.choices
        )
        final_attrs = flatatt(self.build_attrs(self.attrs, attrs))
        return mark_safe(f'<select name="{escape(name)}"{final_attrs}>{options}</select>')


class SelectOneOfMany(FastSelect):
    """A single select box feeding a multiple-choice field (a hand-made URL may repeat it)."""

    def value_from_datadict(self, data, files, name):
        getter = getattr(data, "getlist", None)
        values = getter(name) if getter else [data.get(name)]
        return [value for value in values if value not in (None, "")]


class FastCheckboxes(forms.CheckboxSelectMultiple):
    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        final_attrs = self.build_attrs(self.attrs, attrs)
        group_id = final_attrs.get("id", "")
        checked = {str(item) for item in self.format_value(value)}
        boxes = []
        for index, (key, label) in enumerate(self.choices):
            box_id = f"{group_id}_{index}"
            mark = " checked" if str(key) in checked else ""
            boxes.append(
                f'<div><label for="{escape(box_id)}"><input type="checkbox" '
                f'name="{escape(name)}" value="{escape(key)}" id="{escape(box_id)}"{mark}> '
                f"{escape(label)}</label></div>"
            )
        group = f' id="{escape(group_id)}"' if group_id else ""
        return mark_safe(f"<div{group}>{''.join(boxes)}</div>")


class FastInput(forms.TextInput):
    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        final_attrs = self.build_attrs(self.attrs, attrs)
        shown = self.format_value(value)
        value_attr = f' value="{escape(shown)}"' if shown not in (None, "") else ""
        return mark_safe(
            f'<input type="{escape(final_attrs.pop("type", self.input_type))}" '
            f'name="{escape(name)}"{value_attr}{flatatt(final_attrs)}>'
        )


class FastDateInput(FastInput, IsoDateInput):
    """An ISO date typed as text (see portal.widgets), rendered the fast way."""


def _reference_field(flt: Filter, references: References, data: QueryDict) -> forms.Field:
    choices = [(str(key), label) for key, label in references.choices(flt.reference)]
    known = {key for key, _ in choices}
    # A bookmarked id missing from the cached names still filters; it is shown by number.
    for value in data.getlist(flt.param):
        if value.strip().isdigit() and value.strip() not in known:
            choices.append((value.strip(), f"#{value.strip()}"))
            known.add(value.strip())
    if len(choices) <= CHECKBOX_LIMIT:
        widget: forms.Widget = FastCheckboxes
    else:
        widget = SelectOneOfMany
        choices = [("", "Any"), *choices]
    return forms.TypedMultipleChoiceField(
        label=flt.label, choices=choices, coerce=int, required=False, widget=widget
    )


def _field_for(flt: Filter, references: References, data: QueryDict) -> forms.Field:
    if flt.kind == "multi_choice":
        return forms.MultipleChoiceField(
            label=flt.label,
            choices=flt.choices,
            required=False,
            widget=FastCheckboxes,
        )
    if flt.kind == "reference":
        return _reference_field(flt, references, data)
    if flt.kind == "date":
        return forms.DateField(
            label=flt.label,
            required=False,
            input_formats=ISO_DATE_INPUT_FORMATS,
            widget=FastDateInput(),
        )
    if flt.kind == "boolean":
        return forms.TypedChoiceField(
            label=flt.label,
            choices=(("", "Any"), ("true", "Yes"), ("false", "No")),
            coerce=lambda value: value == "true",
            empty_value=None,
            required=False,
            widget=FastSelect,
        )
    if flt.param == "transaction_currency":
        return CurrencyField(label=flt.label, required=False)
    input_type = "search" if flt.param == "search" else "text"
    return forms.CharField(
        label=flt.label,
        required=False,
        max_length=200,
        widget=FastInput(attrs={"type": input_type}),
    )


class CurrencyField(forms.CharField):
    """An ISO 4217 code: three letters, upper-cased."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", FastInput(attrs={"size": 4, "placeholder": "USD"}))
        super().__init__(max_length=3, min_length=3, **kwargs)

    def clean(self, value: Any) -> str:
        value = super().clean(value).upper()
        if value and not value.isalpha():
            raise forms.ValidationError("Enter a three-letter currency code, like USD.")
        return value


def page_size_field() -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label="Per page",
        choices=[(str(size), str(size)) for size in PAGE_SIZES],
        coerce=int,
        empty_value=DEFAULT_PAGE_SIZE,
        required=False,
        widget=FastSelect,
    )


def _with_default_page_size(data: QueryDict) -> QueryDict:
    """The page size select shows the default when the URL does not name one."""
    if data.get("limit"):
        return data
    data = data.copy()
    data["limit"] = str(DEFAULT_PAGE_SIZE)
    return data


class ListFilterForm(forms.Form):
    """Filters, sort order and page size of a list page (bound to `request.GET`)."""

    def __init__(self, data: QueryDict, *, kind: RecordKind, references: References) -> None:
        super().__init__(_with_default_page_size(data), label_suffix="")
        self.kind = kind
        self.filter_names = [flt.param for flt in kind.filters]
        for flt in kind.filters:
            self.fields[flt.param] = _field_for(flt, references, data)
        if kind.ordering_choices:
            self.fields["ordering"] = forms.ChoiceField(
                label="Sort",
                choices=(("", "DualEntry's default order"), *kind.ordering_choices),
                required=False,
                widget=FastSelect,
            )
        self.fields["limit"] = page_size_field()

    @property
    def filter_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.filter_names]

    @property
    def view_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("ordering", "limit") if name in self.fields]

    def _valid(self) -> dict[str, Any]:
        self.is_valid()  # invalid fields are dropped from cleaned_data and shown with errors
        return self.cleaned_data

    def api_filters(self) -> dict[str, Any]:
        """The API's query parameters for the valid, non-empty filters."""
        cleaned = self._valid()
        return {
            name: cleaned[name]
            for name in self.filter_names
            if name in cleaned and cleaned[name] not in (None, "", [])
        }

    @property
    def limit(self) -> int:
        return self._valid().get("limit") or DEFAULT_PAGE_SIZE

    @property
    def ordering(self) -> str | None:
        return self._valid().get("ordering") or None

    @property
    def active_filter_count(self) -> int:
        return len(self.api_filters())


def offset_from(data: QueryDict) -> int:
    """The list offset from the URL; anything but a non-negative whole number means 0."""
    raw = (data.get("offset") or "").strip()
    return int(raw) if raw.isdigit() else 0


# Contract usage records (API v2 statuses of ObligationUsageSchemaOut).
USAGE_STATUS_CHOICES = (("draft", "Draft"), ("invoiced", "Invoiced"), ("archived", "Archived"))


class UsageFilterForm(forms.Form):
    status = forms.MultipleChoiceField(
        label="Status",
        choices=USAGE_STATUS_CHOICES,
        required=False,
        widget=FastCheckboxes,
    )
    obligation_id = forms.TypedMultipleChoiceField(
        label="Obligation", coerce=int, required=False, choices=()
    )

    def __init__(self, data: QueryDict, *, obligations: dict[int, str]) -> None:
        super().__init__(_with_default_page_size(data), label_suffix="")
        self.fields["limit"] = page_size_field()
        field = self.fields["obligation_id"]
        # The widget first: assigning choices hands them to the current widget.
        field.widget = (
            FastCheckboxes() if len(obligations) <= CHECKBOX_LIMIT else forms.SelectMultiple()
        )
        field.choices = [(str(pk), label) for pk, label in obligations.items()]

    def usage_filters(self) -> dict[str, Any]:
        self.is_valid()
        return {
            name: self.cleaned_data[name]
            for name in ("status", "obligation_id")
            if self.cleaned_data.get(name)
        }

    @property
    def limit(self) -> int:
        self.is_valid()
        return self.cleaned_data.get("limit") or DEFAULT_PAGE_SIZE


class DraftsFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=(
            ("", "All kinds"),
            *((kind.slug, kind.label_plural.capitalize()) for kind in KINDS.values()),
        ),
        widget=FastSelect,
    )
    company_id = forms.TypedMultipleChoiceField(
        label="Company", coerce=int, required=False, widget=FastCheckboxes
    )

    def __init__(self, data: QueryDict, *, companies: list[tuple[Any, str]]) -> None:
        super().__init__(data, label_suffix="")
        self.fields["company_id"].choices = [(str(pk), name) for pk, name in companies]

    def selection(self) -> tuple[list[RecordKind], list[int]]:
        self.is_valid()
        slug = self.cleaned_data.get("kind")
        kinds = [KINDS[slug]] if slug else list(KINDS.values())
        return kinds, self.cleaned_data.get("company_id") or []
