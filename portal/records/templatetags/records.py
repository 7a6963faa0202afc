"""Formatting of DualEntry values for people: money with its currency, numbers, statuses, names.

Templates stay free of formatting logic: `{% cell record column references %}` renders any
column of the kinds registry (portal.records.kinds.Column) by its `kind`.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
)
from typing import Any
from urllib.parse import quote

from django import template
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeData, SafeString, mark_safe

from dualentry_api.records import Record
from portal.audit.display import API_ACTOR
from portal.records.kinds import Column, RecordKind
from portal.records.payloads import as_decimal
from portal.timezones import format_local

register = template.Library()

EMPTY = "—"
NBSP = "\u00a0"
CENT = Decimal("0.01")
EXCERPT_LENGTH = 60
# Concrete types, not the Mapping ABC: isinstance() against an ABC is slow in hot loops.
_RECORD_TYPES = (Record, dict)


def _escape(value: Any) -> str:
    """HTML-escape a value (as django.utils.html.escape does, without its lazy-string wrapper,
    which costs more than the escaping in the 800-cell loop of a list page)."""
    return html.escape(str(value))


# Amounts and rates come with any number of digits, more than the default context's 28: the
# arithmetic below runs in a context wide enough to be exact (this one, or a wider copy for
# the rare operands that need more).
_WIDE = Context(prec=120, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _context_for(precision: int) -> Context:
    if precision <= _WIDE.prec:
        return _WIDE
    wider = _WIDE.copy()
    wider.prec = precision
    return wider


# The common case first: a product that fits 28 digits exactly (Inexact is trapped, so a
# rounded one falls through to the wide context) and cents that fit them too.
_EXACT_28 = Context(prec=28, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, InvalidOperation])
_CENTS_28 = Context(prec=28, rounding=ROUND_HALF_UP, traps=[InvalidOperation])


def _in_cents(number: Decimal, rate: Decimal) -> Decimal:
    """number times rate rounded half-up to cents, exactly whatever their length."""
    try:
        return _CENTS_28.quantize(_EXACT_28.multiply(number, rate), CENT)
    except (Inexact, InvalidOperation):
        pass
    digits = len(number.as_tuple().digits) + len(rate.as_tuple().digits)
    context = _context_for(max(digits, number.adjusted() + rate.adjusted() + 4))
    return context.quantize(context.multiply(number, rate), CENT)


def _exact_sum(numbers: list[Decimal]) -> Decimal:
    if not numbers:
        return Decimal(0)
    highest = max(number.adjusted() for number in numbers)
    lowest = min(int(number.as_tuple().exponent) for number in numbers)
    context = _context_for(highest - lowest + 2 + len(str(len(numbers))))  # room for carries
    total = Decimal(0)
    for number in numbers:
        total = context.add(total, number)
    return total


def _grouped(number: Decimal, minimum_places: int) -> str:
    """Thousands separators, at least `minimum_places` decimals and every significant one."""
    if not number.is_finite():  # not from the API's JSON; shown as-is rather than failing
        return str(number)
    _, digits, exponent = number.as_tuple()
    places = -int(exponent)
    if places > minimum_places:
        # Trailing zeros of the decimals are not significant ("1.500" needs only 2 places);
        # counted by hand because Decimal.normalize() rounds to the context's 28 digits.
        trailing_zeros = len(digits) - len(bytes(digits).rstrip(b"\x00"))
        places -= min(trailing_zeros, places)
    return f"{number:,.{max(places, minimum_places, 0)}f}"  # exact whatever the precision


@register.filter
def money(value: Any, currency: str = "") -> str:
    """`1234.5|money:"EUR"` -> "1,234.50 EUR" (exact: extra decimals are never rounded away)."""
    number = as_decimal(value)
    if number is None:
        return EMPTY
    text = _grouped(number, 2)
    return f"{text}{NBSP}{currency}" if currency else text


@register.filter
def plain_number(value: Any) -> str:
    """Quantities and rates: as many decimals as they have, none padded ("1.5", "12")."""
    number = as_decimal(value)
    if number is None:
        return EMPTY
    return _grouped(number, 0)


@register.filter
def status_badge(value: Any) -> SafeString | str:
    if not value:
        return EMPTY
    text = _escape(value)
    return mark_safe(
        f'<span class="badge badge-{text}">{text.replace("_", " ").capitalize()}</span>'
    )


@register.filter
def iso_date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return (
            timezone.localtime(value).strftime("%Y-%m-%d")
            if timezone.is_aware(value)
            else (value.strftime("%Y-%m-%d"))
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if value else EMPTY


@register.filter
def iso_datetime(value: Any) -> str:
    """ "2026-11-30 14:02 CET": in the viewer's zone (see portal.timezones), zone named."""
    if isinstance(value, str):  # DualEntry's timestamps arrive as ISO text in some records
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value or EMPTY
    if isinstance(value, dt.datetime):
        return format_local(value)
    return iso_date(value)


@register.filter
def actor_name(actor: Any) -> str:
    """A DualEntry audit actor ({first_name, last_name, email, ...}) as a name."""
    if not isinstance(actor, _RECORD_TYPES):
        return ""
    if actor.get("actor_type") == "api_key":
        # DualEntry credits everything the portal saves to the portal's API key; the
        # portal's own history names the person.
        return API_ACTOR[:1].upper() + API_ACTOR[1:]
    name = " ".join(part for part in (actor.get("first_name"), actor.get("last_name")) if part)
    return name or actor.get("email") or actor.get("actor_type") or ""


@register.filter
def field_value(record: Any, path: str) -> Any:
    """`record|field_value:"tax.code"`: a nested value, None where any step is missing."""
    if "." not in path:  # the common case, kept fast: list pages look up 800 values
        return record.get(path) if isinstance(record, _RECORD_TYPES) else None
    value = record
    for part in str(path).split("."):
        if isinstance(value, _RECORD_TYPES):
            value = value.get(part)
        else:
            return None
    return value


@register.filter
def name_for(reference_list: Any, key: Any) -> str:
    """`references.customers|name_for:line.customer_id`: the name, or "#id" when unknown."""
    if key is None or key == "":
        return EMPTY
    name = reference_list.name_of(key) if reference_list is not None else None
    return name or f"#{key}"


@register.filter
def file_size(value: Any) -> str:
    return filesizeformat(value) if value is not None else EMPTY


@register.simple_tag
def record_url(kind: RecordKind, record: Any) -> str:
    """The portal's detail page of a record of `kind` ("" for a key no page can have, such as
    a negative number, which the API's schema allows)."""
    try:
        return reverse("records:detail", kwargs={"kind": kind.slug, "key": kind.key_of(record)})
    except NoReverseMatch:
        return ""


def _currency(record: Any) -> str:
    return (record.get("currency_iso_4217_code") or "") if record is not None else ""


def _company_equivalent(record: Any, number: Decimal) -> str:
    """ " ≈ 1,085.20 USD" when the record's currency differs from its company's."""
    currency, company_currency = _currency(record), record.get("company_currency") or ""
    rate = as_decimal(record.get("exchange_rate"))
    if not company_currency or not currency or company_currency == currency or rate is None:
        return ""
    if not (number.is_finite() and rate.is_finite()):
        return ""
    converted = _in_cents(number, rate)
    return money(converted, company_currency)


def _amount(value: Any, currency_record: Any, *, convert: bool) -> SafeString | str:
    number = as_decimal(value)
    if number is None:
        return EMPTY
    text = money(number, _currency(currency_record))
    equivalent = _company_equivalent(currency_record, number) if convert else ""
    if not equivalent:
        return text
    return mark_safe(
        f'{_escape(text)}<br><span class="muted small" title="In the company&#x27;s currency at '
        f'the record&#x27;s exchange rate">≈{NBSP}{_escape(equivalent)}</span>'
    )


def _reference(value: Any, column: Column, references: Any) -> SafeString | str:
    if value is None or value == "":
        return EMPTY
    name = references.name(column.reference, value) if references is not None else None
    if name:
        return mark_safe(f'<span title="Id {_escape(value)}">{_escape(name)}</span>')
    return mark_safe(
        '<span title="Not in the names the portal has cached; refresh the names if it is new">'
        f"#{_escape(value)}</span>"
    )


def _link(value: Any, column: Column) -> SafeString | str:
    if value is None or value == "":
        return EMPTY
    try:
        url = reverse("records:detail", kwargs={"kind": column.reference, "key": value})
    except NoReverseMatch:
        return str(value)
    return mark_safe(f'<a href="{_escape(url)}">{_escape(value)}</a>')


def _address(value: Any, record: Any, column: Column) -> SafeString | str:
    if isinstance(value, Mapping | Record):
        locality = " ".join(
            str(part) for part in (value.get("postal_code"), value.get("city")) if part
        )
        lines = [
            value.get("name"),
            value.get("street"),
            value.get("second_line"),
            ", ".join(str(part) for part in (locality, value.get("state")) if part),
            value.get("country"),
        ]
        lines = [str(line) for line in lines if line]
    else:
        text = record.get(column.reference) if column.reference and record is not None else ""
        lines = [line for line in str(text or "").splitlines() if line.strip()]
    if not lines:
        return EMPTY
    return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))


def _classifications(value: Any) -> SafeString | str:
    if not value:
        return EMPTY
    return format_html_join(
        mark_safe("<br>"),
        "{}: {}",
        ((entry.get("name"), entry.get("line_name")) for entry in value),
    )


def _user(value: Any) -> SafeString | str:
    name = actor_name(value)
    if not name:
        return EMPTY
    stamp = value.get("timestamp")
    if not stamp:
        return name
    return mark_safe(f'{_escape(name)}<br><span class="muted small">{iso_datetime(stamp)}</span>')


@register.simple_tag
def cell(
    record: Any,
    column: Column,
    references: Any = None,
    currency_record: Any = None,
    convert: bool = False,
) -> SafeString | str:
    """One value of `record` rendered by `column.kind`.

    `currency_record` is the record whose currency amounts are in (a line's parent record);
    `convert` adds the company-currency equivalent where the currencies differ.
    """
    value = field_value(record, column.field)
    kind = column.kind
    if kind == "amount":
        return _amount(value, currency_record if currency_record is not None else record,
                       convert=convert)  # fmt: skip
    if kind == "decimal":
        return plain_number(value)
    if kind == "date":
        return iso_date(value)
    if kind == "datetime":
        return iso_datetime(value)
    if kind == "status":
        return status_badge(value)
    if kind == "reference":
        return _reference(value, column, references)
    if kind == "link":
        return _link(value, column)
    if kind == "user":
        return _user(value)
    if kind == "address":
        return _address(value, record, column)
    if kind == "classifications":
        return _classifications(value)
    if kind == "boolean":
        return EMPTY if value is None else ("Yes" if value else "No")
    if value is None or value == "" or value == []:
        return EMPTY
    if kind == "excerpt":
        text = str(value)
        if len(text) <= EXCERPT_LENGTH:
            return text
        short = text[: EXCERPT_LENGTH - 1].rstrip() + "…"
        return mark_safe(f'<span title="{_escape(text)}">{_escape(short)}</span>')
    return str(value)


@register.simple_tag
def column_total(rows: Iterable[Any], column: Column, currency_record: Any = None) -> str:
    """The footer sum of an amount column (exact Decimal arithmetic)."""
    numbers = [as_decimal(field_value(row, column.field)) for row in rows or []]
    numbers = [number for number in numbers if number is not None and number.is_finite()]
    return money(_exact_sum(numbers), _currency(currency_record))


@register.filter
def is_numeric_column(column: Column) -> bool:
    return column.kind in ("amount", "decimal")


@register.simple_tag
def list_rows(kind: RecordKind, records: Iterable[Any], references: Any = None) -> SafeString:
    """The `<tr>` rows of a list page: one Python pass over the kind's columns.

    A 100-row page has 800 cells; rendering them here rather than through a template loop per
    cell keeps the page within its time budget (see tests/bench/bench_list_page.py). Every
    value is escaped by `cell` or here; the first column links to the record.
    """
    columns = kind.list_columns
    numeric = [column.kind in ("amount", "decimal") for column in columns]
    marker = "987654321"  # reverse() once per page, not once per row
    url_pattern = reverse("records:detail", kwargs={"kind": kind.slug, "key": marker})
    rows = []
    for record in records:
        url = _escape(url_pattern.replace(marker, quote(kind.key_of(record), safe="")))
        cells = []
        for index, column in enumerate(columns):
            value = cell(record, column, references, convert=True)
            content = value if isinstance(value, SafeData) else _escape(value)
            if index == 0:
                cells.append(f'<th scope="row"><a href="{url}">{content}</a></th>')
            elif numeric[index]:
                cells.append(f'<td class="amount">{content}</td>')
            else:
                cells.append(f"<td>{content}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return mark_safe("\n".join(rows))
