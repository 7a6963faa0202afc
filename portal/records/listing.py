"""Lists answered from the read model: sort, filter, search, totals per currency.

One query form (`ListQueryForm`) for the record lists, the drafts queue and the exports, and one
function turning its cleaned values into a queryset of `MirroredRecord` rows
(`listing_queryset`). Everything here reads the portal's database: never an upstream call.

Every parameter lives in the URL (`?q=acme&amount_min=100&sort=-amount`); a value that is not
valid is dropped and explained next to its field, so the list still answers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from django import forms
from django.db.models import Count, F, Model, Q, QuerySet, Sum
from django.db.models.functions import Length
from django.http import QueryDict
from django.utils import timezone
from django.utils.text import slugify

from portal.approvals.models import ApprovalRequest
from portal.audit import actions
from portal.audit.models import AuditEvent
from portal.readmodel.models import MirroredRecord
from portal.readmodel.selectors import (
    mirrored_records,
    mirrored_records_of,
    mirrored_references,
)
from portal.readmodel.services import amount_spellings
from portal.records.filters import (
    CHECKBOX_LIMIT,
    DEFAULT_PAGE_SIZE,
    FastCheckboxes,
    FastDateInput,
    FastInput,
    FastSelect,
    SelectOneOfMany,
    page_size_field,
)
from portal.records.kinds import KINDS, Column, RecordKind
from portal.records.pickers import ReferencePicker
from portal.records.selectors import DRAFT_STATUS, Pagination

_Model = TypeVar("_Model", bound=Model)

SEARCH_MAX_LENGTH = 200
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)
MAX_AMOUNT = Decimal("1e15")
AGE_CHOICES = (("", "Any time"), ("1", "Over a day"), ("7", "Over a week"), ("30", "Over a month"))

# Sort keys people see in the URL -> the read model's column. One table for every kind: the
# API field of a list column names its sort key (`SORT_FOR_FIELD`).
SORT_COLUMNS: dict[str, str] = {
    "number": "number",
    "date": "date",
    "second_date": "second_date",
    "end_date": "end_date",
    "name": "name",
    "customer": "customer_name",
    "company": "company_name",
    "amount": "amount",
    "remaining": "remaining",
    "status": "status",
    "updated": "upstream_updated_at",
    "kind": "kind",
}
SORT_FOR_FIELD: dict[str, str] = {
    "number": "number",
    "date": "date",
    "transaction_date": "second_date",
    "start_date": "second_date",
    "end_date": "end_date",
    "name": "name",
    "customer_name": "customer",
    "company_name": "company",
    "amount": "amount",
    "remaining_amount": "remaining",
    "record_status": "status",
    "status": "status",
    "updated_by": "updated",
}
DEFAULT_SORT = "-date"  # newest first


# --- amounts as people write them ------------------------------------------------------------

_AMOUNT_TEXT = re.compile(r"^[+-]?[\d.,'\s\u00a0\u202f]+$")


def parse_amount(text: str) -> Decimal | None:
    """`12000`, `12,000.00`, `12 000,00`, `12.000,00`, `1,5` -> a Decimal; None if not an amount.

    The last separator followed by one or two digits (or by other than three) is the decimal
    point; the others group thousands.
    """
    text = (text or "").strip()
    if not text or not _AMOUNT_TEXT.match(text) or not any(ch.isdigit() for ch in text):
        return None
    sign = "-" if text.startswith("-") else ""
    body = re.sub(r"[\s\u00a0\u202f']", "", text.lstrip("+-"))
    separators = [index for index, ch in enumerate(body) if ch in ".,"]
    if separators:
        last = separators[-1]
        decimals = body[last + 1 :]
        distinct = {body[index] for index in separators}
        # One kind of separator used once with exactly three digits after it groups thousands
        # (12,000); a mix (12.000,50) or a short tail (1,5) makes the last one the point.
        grouping_only = len(distinct) == 1 and (len(separators) > 1 or len(decimals) == 3)
        if grouping_only:
            body = body.replace(body[last], "")
        else:
            body = body[:last].replace(".", "").replace(",", "") + "." + decimals
    if not body or body == "." or not re.fullmatch(r"\d*\.?\d*", body):
        return None
    try:
        number = Decimal(sign + body)
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        return None
    return number


class AmountField(forms.CharField):
    """An amount typed the way people write it (see `parse_amount`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", FastInput(attrs={"inputmode": "decimal", "size": 10}))
        super().__init__(max_length=40, required=False, **kwargs)

    def clean(self, value: Any) -> Decimal | None:
        text = super().clean(value)
        if not text:
            return None
        number = parse_amount(text)
        if number is None:
            raise forms.ValidationError(
                f"“{text}” is not an amount: write it like 12000, 12,000.00 or 12 000,00."
            )
        return number


class BoundedDateField(forms.DateField):
    """An ISO date between 1900 and 2199 (anything else is a typo, not a filter)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, widget=FastDateInput(attrs={"type": "date"}), **kwargs)

    def clean(self, value: Any) -> dt.date | None:
        try:
            date = super().clean(value)
        except forms.ValidationError:
            raise forms.ValidationError("Enter a date like 2025-03-31.") from None
        except (OverflowError, ValueError):
            raise forms.ValidationError("Enter a date like 2025-03-31.") from None
        if date is not None and not EARLIEST_DATE <= date <= LATEST_DATE:
            raise forms.ValidationError(
                f"Enter a date between {EARLIEST_DATE:%Y} and {LATEST_DATE:%Y}."
            )
        return date


def _yes_no(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=(("", "Any"), ("yes", "Yes")),
        coerce=lambda value: value == "yes",
        empty_value=False,
        required=False,
        widget=FastSelect,
    )


def number_choice_field(label: str, choices: Sequence[tuple[str, str]]) -> forms.TypedChoiceField:
    """An optional pick of one numbered choice (a company, a person, an age in days): the
    number, or None for the empty choice."""
    return forms.TypedChoiceField(
        label=label,
        required=False,
        coerce=int,
        empty_value=None,
        choices=choices,
        widget=FastSelect,
    )


def age_field() -> forms.TypedChoiceField:
    """How long a draft or a request has been waiting (days, or None for any time)."""
    return number_choice_field("Waiting", AGE_CHOICES)


def kind_field(kinds: Iterable[RecordKind]) -> forms.MultipleChoiceField:
    """Checkboxes of the kinds a list mixing several kinds may be narrowed to."""
    return forms.MultipleChoiceField(
        label="Kind",
        required=False,
        choices=[(kind.slug, kind.label_plural.capitalize()) for kind in kinds],
        widget=FastCheckboxes,
    )


# --- the query form --------------------------------------------------------------------------


def status_choices(kinds: Sequence[RecordKind]) -> list[tuple[str, str]]:
    """The statuses the kinds' status filters offer, in order, once each."""
    seen: dict[str, str] = {}
    for kind in kinds:
        for flt in kind.filters:
            if flt.param == kind.status_field:
                for value, label in flt.choices:
                    seen.setdefault(value, label)
    return list(seen.items())


def sort_choices(kinds: Sequence[RecordKind]) -> dict[str, str]:
    """Sort key -> column label for the kinds' sortable list columns."""
    keys: dict[str, str] = {}
    for kind in kinds:
        for column in kind.list_columns:
            key = SORT_FOR_FIELD.get(column.field)
            if key:
                keys.setdefault(key, column.label)
    if len(kinds) > 1:
        keys.setdefault("kind", "Kind")
    keys.setdefault("date", "Posting date")
    keys.setdefault("updated", "Last updated")
    return keys


class SortField(forms.CharField):
    def __init__(self, *, keys: Mapping[str, str], default: str, **kwargs: Any) -> None:
        self.keys = dict(keys)
        self.default = default
        super().__init__(
            required=False, max_length=40, widget=forms.HiddenInput, label="Sort", **kwargs
        )

    def clean(self, value: Any) -> str:
        text = (super().clean(value) or "").strip()
        if not text:
            return self.default
        if text.lstrip("-") not in self.keys:
            raise forms.ValidationError(
                f"This list cannot be sorted by “{text[:40]}”; it is shown in its usual order."
            )
        return text


class SortedQueryForm(forms.Form):
    """What a filtered, sortable list's form answers (bound to GET): its valid values, the sort
    in effect (`default_sort` when none is asked), the values left out, and header links."""

    default_sort: str

    @property
    def values(self) -> dict[str, Any]:
        """The valid values (invalid ones are dropped and shown with their errors)."""
        self.is_valid()
        return self.cleaned_data

    @property
    def sort_value(self) -> str:
        """The sort in effect (templates: `form.sort` would be the field)."""
        return self.values.get("sort") or self.default_sort

    def error_list(self) -> list[tuple[str, str]]:
        """(field label, sentence) for every value that was left out."""
        return [
            (self.fields[name].label or name, " ".join(errors))
            for name, errors in self.errors.items()
            if name in self.fields
        ]

    def first_sort(self, key: str) -> str:
        """The sort a first click on a header asks for: ascending unless a list says otherwise."""
        return key

    def sort_link(self, key: str) -> tuple[str, str]:
        """(the sort value a header click asks for, its aria-sort now) for one sort key."""
        current = self.sort_value
        if current == key:
            return f"-{key}", "ascending"
        if current == f"-{key}":
            return key, "descending"
        return self.first_sort(key), "none"


class ListQueryForm(SortedQueryForm):
    """Search, filters, sort and page size of a list of mirrored records (bound to GET).

    `kinds` is one kind for a record list, several for the drafts queue. `drafts=True` adds the
    drafts queue's own filters (kind, preparer, age) and keeps it to drafts.
    """

    def __init__(
        self,
        data: QueryDict,
        *,
        kinds: Sequence[RecordKind],
        user: Any,
        drafts: bool = False,
        default_sort: str = DEFAULT_SORT,
    ) -> None:
        super().__init__(data, label_suffix="")
        self.kinds = list(kinds)
        self.user = user
        self.drafts = drafts
        fields = self.fields
        fields["q"] = forms.CharField(
            label="Search",
            required=False,
            max_length=SEARCH_MAX_LENGTH,
            widget=FastInput(
                attrs={
                    "type": "search",
                    "placeholder": "Number, name, memo or amount",
                    "maxlength": SEARCH_MAX_LENGTH,
                }
            ),
        )
        if drafts:
            fields["kind"] = kind_field(self.kinds)
        else:
            fields["status"] = forms.MultipleChoiceField(
                label="Status",
                required=False,
                choices=status_choices(self.kinds),
                widget=FastCheckboxes,
            )
        fields["company"] = _company_field(data)
        if any(kind.has_customer for kind in self.kinds):
            fields["customer"] = forms.TypedMultipleChoiceField(
                label="Customer",
                required=False,
                coerce=int,
                choices=[],
                widget=ReferencePicker(source="customers"),
            )
            fields["customer"].choices = fields["customer"].widget.choices_for(
                data.getlist("customer") if hasattr(data, "getlist") else []
            )
        fields["currency"] = forms.CharField(
            label="Currency",
            required=False,
            max_length=40,
            widget=FastInput(attrs={"size": 4, "placeholder": "USD"}),
        )
        fields["amount_min"] = AmountField(label="Amount from")
        fields["amount_max"] = AmountField(label="Amount to")
        fields["date_from"] = BoundedDateField(label="Posting date from")
        fields["date_to"] = BoundedDateField(label="Posting date to")
        if any(kind.mirror.remaining_field for kind in self.kinds):
            fields["open"] = _yes_no("Remaining to apply")
            fields["open"].choices = (("", "Any"), ("yes", "More than 0"))
        if drafts:
            fields["preparer"] = number_choice_field(
                "Prepared by", [("", "Anyone"), *_preparer_choices()]
            )
            fields["age"] = age_field()
        fields["mine"] = _yes_no("Prepared by me")
        if any(kind.can_upload for kind in self.kinds):
            fields["attachments"] = _yes_no("Has attachments")
        fields["awaiting"] = _yes_no("Awaiting approval")
        fields["sort"] = SortField(keys=sort_choices(self.kinds), default=default_sort)
        fields["limit"] = page_size_field()
        self.default_sort = default_sort

    def clean_currency(self) -> str:
        value = (self.cleaned_data.get("currency") or "").strip().upper()
        if value and (len(value) != 3 or not value.isalpha()):
            raise forms.ValidationError("Enter a three-letter currency code, like USD.")
        return value

    # -- what the view and templates ask ------------------------------------------------------

    @property
    def limit(self) -> int:
        return self.values.get("limit") or DEFAULT_PAGE_SIZE

    @property
    def filter_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name not in ("sort", "limit")]

    @property
    def view_fields(self) -> list[forms.BoundField]:
        return [self["limit"]]

    @property
    def active(self) -> dict[str, Any]:
        """The filters in use (not sort or page size), for the file name and "clear filters"."""
        return {
            name: value
            for name, value in self.values.items()
            if name not in ("sort", "limit") and value not in (None, "", [], False)
        }

    @property
    def active_filter_count(self) -> int:
        return len(self.active)

    def file_stem(self) -> str:
        """The export's file name without extension: kind, filters, sort, time."""
        parts = ["drafts" if self.drafts else self.kinds[0].slug]
        for name, value in self.active.items():
            shown = "-".join(str(item) for item in value) if isinstance(value, list) else str(value)
            parts.append(f"{name}-{shown}" if value is not True else name)
        if self.sort_value != self.default_sort:
            parts.append(f"sort{self.sort_value}")
        stem = slugify("_".join(parts).replace(".", "p"))[:120].strip("-_")
        return f"{stem}_{timezone.localtime():%Y%m%d-%H%M}"

    def first_sort(self, key: str) -> str:
        # A first click on a text column sorts A-Z; on numbers, dates and statuses largest first.
        return key if key in ("number", "customer", "company", "name", "kind") else f"-{key}"


def _company_field(data: QueryDict) -> forms.Field:
    choices = [
        (str(key), name or f"#{key}")
        for key, name in mirrored_references(source="companies")
        .order_by("name")
        .values_list("key", "name")
    ]
    known = {key for key, _ in choices}
    for value in data.getlist("company") if hasattr(data, "getlist") else []:
        value = value.strip()
        if value.isdigit() and value not in known:
            choices.append((value, f"#{value}"))
            known.add(value)
    widget: forms.Widget = FastCheckboxes if len(choices) <= CHECKBOX_LIMIT else SelectOneOfMany
    if widget is SelectOneOfMany:
        choices = [("", "Any"), *choices]
    return forms.TypedMultipleChoiceField(
        label="Company", choices=choices, coerce=int, required=False, widget=widget
    )


def _preparer_choices() -> list[tuple[str, str]]:
    """People who saved a record through the portal (from the audit log)."""
    rows = (
        AuditEvent.objects.filter(
            action__in=[actions.RECORD_CREATED, actions.RECORD_UPDATED], actor__isnull=False
        )
        .values_list("actor_id", "actor_username")
        .distinct()
        .order_by("actor_username")
    )
    return [(str(pk), username) for pk, username in rows]


# --- the query -------------------------------------------------------------------------------


def search_condition(text: str) -> Q:
    """Rows whose search column holds every word of `text`; an amount written the way people
    write it (`12,000.00`, `12 000,00`) is also matched the way the read model spells it."""
    text = text.strip().lower()
    if not text:
        return Q()
    condition = Q()
    for word in text.split():
        condition &= Q(search_text__contains=word)
    amount = parse_amount(text)
    if amount is not None:
        spelled = amount_spellings(amount)
        condition |= Q(search_text__contains=spelled[1]) | Q(amount=amount) | Q(remaining=amount)
    return condition


def prepared_by_condition(user: Any, kinds: Iterable[str]) -> Q:
    kinds = list(kinds)
    audit_keys = AuditEvent.objects.filter(
        action__in=[actions.RECORD_CREATED, actions.RECORD_UPDATED],
        success=True,
        actor=user,
        kind__in=kinds,
    )
    submitted = ApprovalRequest.objects.filter(submitted_by=user, kind__in=kinds)
    condition = Q(pk__in=[])
    for slug in kinds:
        keys = set(audit_keys.filter(kind=slug).values_list("key", flat=True))
        keys |= set(submitted.filter(kind=slug).exclude(key="").values_list("key", flat=True))
        if keys:
            condition |= Q(kind=slug, key__in=keys)
    return condition


def awaiting_approval_condition(kinds: Iterable[str]) -> Q:
    condition = Q(pk__in=[])
    for slug in kinds:
        keys = ApprovalRequest.objects.open().filter(kind=slug).exclude(key="").values("key")
        condition |= Q(kind=slug, key__in=keys)
    return condition


def _ordering(sort: str) -> list[Any]:
    descending = sort.startswith("-")
    column = SORT_COLUMNS[sort.lstrip("-")]
    # Numbers are text: by length first, so 9 comes before 10.
    keys = [Length("number"), F("number")] if column == "number" else [F(column)]
    ordered = [
        key.desc(nulls_last=True) if descending else key.asc(nulls_last=True) for key in keys
    ]
    # Ties in creation order, newest first: a stable order for paging and exports.
    return [*ordered, Length("key").desc(), "-key", "kind"]


def base_queryset(kinds: Sequence[RecordKind]) -> QuerySet[MirroredRecord]:
    if len(kinds) == 1:
        return mirrored_records(kind=kinds[0].slug)
    return mirrored_records_of(kinds=[kind.slug for kind in kinds])


# The list filters that take their value as it is (the others are worked out below).
_LISTING_LOOKUPS = {
    "company": "company_id__in",
    "customer": "customer_id__in",
    "currency": "currency",
    "date_from": "date__gte",
    "date_to": "date__lte",
}


def filtered_by(
    queryset: QuerySet[_Model], values: Mapping[str, Any], lookups: Mapping[str, str]
) -> QuerySet[_Model]:
    """`queryset` narrowed by every filter with a value: `lookups` maps a form field to the
    lookup its value fills (`{"company": "company_id__in"}`); an empty field does not narrow."""
    for name, lookup in lookups.items():
        if values.get(name):
            queryset = queryset.filter(**{lookup: values[name]})
    return queryset


def within_amounts(queryset: QuerySet[_Model], values: Mapping[str, Any]) -> QuerySet[_Model]:
    """`queryset` narrowed to `amount_min` ≤ amount ≤ `amount_max` (either may be 0 or absent)."""
    if values.get("amount_min") is not None:
        queryset = queryset.filter(amount__gte=values["amount_min"])
    if values.get("amount_max") is not None:
        queryset = queryset.filter(amount__lte=values["amount_max"])
    return queryset


def listing_queryset(form: ListQueryForm) -> QuerySet[MirroredRecord]:
    """The rows the form's valid values select, in its sort order (database reads only)."""
    values = form.values
    kinds = form.kinds
    if form.drafts and values.get("kind"):
        kinds = [kind for kind in kinds if kind.slug in values["kind"]]
    queryset = base_queryset(kinds) if kinds else MirroredRecord.objects.none()
    if form.drafts:
        queryset = queryset.filter(status=DRAFT_STATUS)
    elif values.get("status"):
        queryset = queryset.filter(status__in=values["status"])
    if values.get("q"):
        queryset = queryset.filter(search_condition(values["q"]))
    queryset = filtered_by(queryset, values, _LISTING_LOOKUPS)
    queryset = within_amounts(queryset, values)
    if values.get("open"):
        queryset = queryset.filter(remaining__gt=0)
    if values.get("attachments"):
        queryset = queryset.filter(data__attachments__0__isnull=False)
    slugs = [kind.slug for kind in kinds]
    if values.get("mine"):
        queryset = queryset.filter(prepared_by_condition(form.user, slugs))
    if values.get("preparer"):
        queryset = queryset.filter(prepared_by_condition(values["preparer"], slugs))
    if values.get("awaiting"):
        queryset = queryset.filter(awaiting_approval_condition(slugs))
    if values.get("age"):
        cutoff = timezone.now() - dt.timedelta(days=values["age"])
        queryset = queryset.filter(
            Q(upstream_updated_at__lt=cutoff)
            | Q(upstream_updated_at__isnull=True, changed_at__lt=cutoff)
        )
    return queryset.order_by(*_ordering(form.sort_value))


# --- pages and totals ------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    count: int
    amount: Decimal
    remaining: Decimal | None


def totals_per_currency(queryset: QuerySet[MirroredRecord]) -> list[CurrencyTotal]:
    """Sum of amount (and remaining) of every filtered row, per currency (one query)."""
    rows = (
        queryset.order_by()
        .values("currency")
        .annotate(count=Count("id"), amount=Sum("amount"), remaining=Sum("remaining"))
        .order_by("currency")
    )
    return [
        CurrencyTotal(
            row["currency"] or "",
            row["count"],
            row["amount"] if row["amount"] is not None else Decimal(0),
            row["remaining"],
        )
        for row in rows
    ]


def display_record(row: MirroredRecord) -> dict[str, Any]:
    """The row's record as the list cells read it: DualEntry's JSON, with the user stamps as
    datetimes (the copy keeps them as ISO text)."""
    data = dict(row.data)
    for name in ("updated_by", "created_by"):
        actor = data.get(name)
        if isinstance(actor, dict) and isinstance(actor.get("timestamp"), str):
            try:
                stamp = dt.datetime.fromisoformat(actor["timestamp"])
            except ValueError:
                continue
            data[name] = {**actor, "timestamp": stamp}
    return data


@dataclass(frozen=True)
class ListingPage(Pagination):
    """One page of a list, with the count and totals of every row the filters select (the
    pagination bar's figures come from `Pagination`)."""

    rows: list[MirroredRecord]
    records: list[dict[str, Any]]
    count: int
    limit: int
    offset: int
    totals: list[CurrencyTotal]

    @property
    def pairs(self) -> list[tuple[MirroredRecord, dict[str, Any]]]:
        return list(zip(self.rows, self.records, strict=True))


def listing_page(form: ListQueryForm, *, offset: int) -> ListingPage:
    queryset = listing_queryset(form)
    totals = totals_per_currency(queryset)
    count = sum(total.count for total in totals)
    rows = list(queryset[offset : offset + form.limit])
    return ListingPage(
        rows, [display_record(row) for row in rows], count, form.limit, offset, totals
    )


def kind_of(row: MirroredRecord) -> RecordKind:
    return KINDS[row.kind]


def sortable_headers(form: ListQueryForm, columns: Sequence[Column]) -> list[dict[str, Any]]:
    """Per list column: label, numeric, and (when sortable) the sort it links to and aria-sort."""
    headers = []
    keys = sort_choices(form.kinds)
    for column in columns:
        key = SORT_FOR_FIELD.get(column.field)
        header: dict[str, Any] = {
            "label": column.label,
            "numeric": column.kind in ("amount", "decimal"),
            "sort": None,
            "aria_sort": None,
        }
        if key and key in keys:
            header["sort"], header["aria_sort"] = form.sort_link(key)
        headers.append(header)
    return headers
