"""Fields of the record forms: API-shaped fields, reference choices, spec enums and limits."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from dualentry_api import spec
from portal.secret_input import refuse_api_key
from portal.widgets import IsoDateInput

MONEY_PLACES = 2  # amounts
QUANTITY_PLACES = 6  # quantity, credit line rate, discount value
PRICE_PLACES = 10  # contract/usage rate, standalone selling price
EXCHANGE_RATE_PLACES = 16
MAX_WHOLE_DIGITS = 15  # a portal limit: nothing this team handles is a quadrillion
MAX_ID = 2_147_483_647
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
MAX_LINES = 200
BANK_ACCOUNT_TYPES = ("bank", "credit_card")  # what money is paid from or deposited to

_DECIMAL_TEXT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")


def format_money(value: Decimal | None) -> str:
    """1234.5 -> "1,234.50": the one money format of the portal's messages (the currency after
    it); pages use the `money` template filter, which never rounds."""
    if value is None:
        return ""
    return f"{value.quantize(Decimal('0.01')):,.2f}"


# --- Reference choices ---------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One choice of a reference list: `value` is what the API body carries."""

    value: int
    label: str
    company_id: int | None = None  # set for company-scoped lists (accounts, ...)
    currency: str = ""  # companies: their currency
    account_type: str = ""  # accounts: "bank", "credit_card", "income", ...


@dataclass
class FormReferences:
    """The reference lists a form chooses from; None means "could not be loaded".

    `payment_methods` always exists (it is a setting: API v2 has no endpoint for them).
    """

    companies: list[Option] | None = None
    customers: list[Option] | None = None
    accounts: list[Option] | None = None
    items: list[Option] | None = None
    vendors: list[Option] | None = None
    payment_methods: list[Option] = field(default_factory=list)
    obligations: list[Option] | None = None  # usage batches: the contract's obligations
    # Usage batches: the contract's existing usage records (id -> "obligation · date · qty").
    usage_records: list[Option] | None = None
    # Pickers of what refund/deposit lines apply: (kind slug, line field, company, customer,
    # numbers to keep) -> options, None when they cannot be listed (the field stays a number).
    source_options: Any = None
    _index: dict[str, dict[int, Option]] = field(default_factory=dict, repr=False)

    def options(self, name: str) -> list[Option] | None:
        return getattr(self, name)

    def find(self, name: str, value: Any) -> Option | None:
        if name not in self._index:
            self._index[name] = {option.value: option for option in self.options(name) or ()}
        return self._index[name].get(value)

    def company(self, company_id: int | None) -> Option | None:
        return self.find("companies", company_id) if company_id is not None else None

    def company_name(self, company_id: int | None) -> str:
        company = self.company(company_id)
        return company.label if company else f"company {company_id}"


# Reference list name -> (singular, plural) for messages.
_REFERENCE_NOUNS = {
    "companies": ("company", "companies"),
    "customers": ("customer", "customers"),
    "accounts": ("account", "accounts"),
    "items": ("item", "items"),
    "vendors": ("vendor", "vendors"),
    "payment_methods": ("payment method", "payment methods"),
    "obligations": ("obligation", "obligations"),
}


@cache
def currency_codes() -> tuple[str, ...]:
    """The spec's SystemCurrencies enum."""
    return tuple(spec.component_schema("SystemCurrencies")["enum"])


@cache
def country_codes() -> frozenset[str]:
    return frozenset(spec.component_schema("SystemCountries")["enum"])


@cache
def schema_properties(name: str) -> frozenset[str]:
    """The property names of a request schema of the spec."""
    return frozenset(spec.component_schema(name).get("properties", {}))


@cache
def _enum(name: str) -> tuple[str, ...]:
    return tuple(spec.component_schema(name)["enum"])


def _humanize(code: str) -> str:
    return code.replace("_", " ").capitalize()


def enum_choices(name: str) -> list[tuple[str, str]]:
    return [(value, _humanize(value)) for value in _enum(name)]


# --- Fields ----------------------------------------------------------------------------------


class ApiDecimalField(forms.Field):
    """A decimal in the API's string form: no exponents, a bounded number of places.

    `places` is the spec's pattern limit (trailing zeros beyond it are fine, as the pattern
    allows); `quantize` pads money to exactly that many places ("10.5" -> "10.50").
    """

    widget = forms.TextInput

    def __init__(
        self,
        *,
        places: int,
        minimum: Decimal | None = None,
        exclusive_minimum: bool = False,
        quantize: bool = False,
        example: str = "1250.00",
        **kwargs: Any,
    ) -> None:
        self.places = places
        self.minimum = minimum
        self.exclusive_minimum = exclusive_minimum
        self.quantize = quantize
        self.example = example
        self.typed_currency = ""  # the currency a typed symbol named ("$" -> USD)
        self.is_money = False
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("inputmode", "decimal")
        self.widget.attrs.setdefault("class", "num")
        self.widget.attrs.setdefault("autocomplete", "off")

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            # Money is shown the way the portal writes it everywhere ("9,667.28"); the field
            # reads that back. Other decimals keep their plain form.
            return format_money(value) if self.is_money else format(value, "f")
        return value

    def to_python(self, value: Any) -> Decimal | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if text in self.empty_values:
            return None
        if self.quantize and len(text) <= 60:
            # Money: take what people type ("1,000.00", "$1,000.00", "1 000,00").
            text, self.typed_currency = normalise_amount(text)
        label = self.label
        if not _DECIMAL_TEXT.fullmatch(text):
            raise ValidationError(
                f"{label}: type a number with digits and a decimal point, like {self.example}.",
                code="invalid",
            )
        try:
            number = Decimal(text)
        except InvalidOperation:  # the pattern above should make this unreachable
            raise ValidationError(
                f"{label}: type a number like {self.example}.", code="invalid"
            ) from None
        whole, _, fraction = text.lstrip("+-").partition(".")
        if len(whole.lstrip("0")) > MAX_WHOLE_DIGITS:
            raise ValidationError(
                f"{label}: that number is too large; use at most {MAX_WHOLE_DIGITS} digits "
                "before the decimal point.",
                code="too_large",
            )
        if len(fraction.rstrip("0")) > self.places:
            raise ValidationError(
                f"{label}: use at most {self.places} decimal place"
                f"{'s' if self.places != 1 else ''} (for example {self.example}).",
                code="places",
            )
        if self.quantize:
            number = number.quantize(Decimal(1).scaleb(-self.places))
        if number.is_zero():
            number = abs(number)  # "-0.00" is zero, not a negative amount
        return number

    def validate(self, value: Decimal | None) -> None:
        super().validate(value)
        if value is None or self.minimum is None:
            return
        if self.exclusive_minimum and value <= self.minimum:
            if self.minimum == 0:
                raise ValidationError(
                    f"{self.label}: must be more than zero; type a positive number like "
                    f"{self.example}.",
                    code="min_value",
                )
            raise ValidationError(
                f"{self.label}: must be more than {self.minimum}.", code="min_value"
            )
        if not self.exclusive_minimum and value < self.minimum:
            if self.minimum == 0:
                raise ValidationError(
                    f"{self.label}: cannot be negative; type 0 or a positive number.",
                    code="min_value",
                )
            raise ValidationError(
                f"{self.label}: must be at least {self.minimum}.", code="min_value"
            )


def money_field(label: str, **kwargs: Any) -> ApiDecimalField:
    field_obj = ApiDecimalField(label=label, places=MONEY_PLACES, quantize=True, **kwargs)
    field_obj.is_money = True
    return field_obj


# Leading symbols people type before an amount, and the currency each one means.
CURRENCY_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "CHF": "CHF"}
_GROUPED_AMOUNT = re.compile(r"^[+-]?\d{1,3}(?:[,.' \u00a0\u202f]\d{3})+(?:[.,]\d+)?$")


def decimal_separator() -> str:
    """The decimal separator of the active locale ("." unless a locale with "," is active)."""
    from django.utils import formats

    return str(formats.get_format("DECIMAL_SEPARATOR") or ".")


def normalise_amount(text: str, *, decimal_mark: str | None = None) -> tuple[str, str]:
    """What people type as an amount, as the API's plain decimal text, and the currency its
    symbol or code names ("" if none): "$1,000.00" -> ("1000.00", "USD"); "1 000,00" ->
    ("1000.00", ""); "1.000,50" -> ("1000.50", ""). Text that is not an amount comes back
    unchanged (the field then says what to type).

    A lone separator followed by exactly three digits ("1,000") is a thousands separator
    unless the locale writes decimals with it; with both "," and "." the last one is the
    decimal mark."""
    mark = decimal_mark or decimal_separator()
    stripped = text.strip()
    currency = ""
    sign = ""
    if stripped[:1] in "+-":
        sign, stripped = stripped[:1], stripped[1:].lstrip()
    for symbol, code in sorted(CURRENCY_SYMBOLS.items(), key=lambda pair: -len(pair[0])):
        if stripped.upper().startswith(symbol):
            currency, stripped = code, stripped[len(symbol) :].lstrip()
            break
    else:
        code = stripped[:3].upper()
        if len(stripped) > 3 and code.isalpha() and code in currency_codes():
            currency, stripped = code, stripped[3:].lstrip()
    if stripped[:1] in "+-" and not sign:
        sign, stripped = stripped[:1], stripped[1:].lstrip()
    body = stripped
    if _GROUPED_AMOUNT.fullmatch(body):
        last_dot, last_comma = body.rfind("."), body.rfind(",")
        decimal_at = max(last_dot, last_comma)
        tail = body[decimal_at + 1 :] if decimal_at >= 0 else ""
        if last_dot >= 0 and last_comma >= 0:
            pass  # both: the last one is the decimal mark
        elif decimal_at >= 0 and len(tail) == 3 and body[decimal_at] != mark:
            decimal_at = -1  # "1,000" in an English locale: thousands
        elif decimal_at >= 0 and body.count(body[decimal_at]) > 1:
            decimal_at = -1  # "1,000,000": only thousands separators
        whole = body[:decimal_at] if decimal_at >= 0 else body
        fraction = body[decimal_at + 1 :] if decimal_at >= 0 else ""
        whole = re.sub(r"[,.' \u00a0\u202f]", "", whole)
        body = f"{whole}.{fraction}" if decimal_at >= 0 else whole
    elif mark == "," and re.fullmatch(r"\d+,\d+", body):
        body = body.replace(",", ".")  # "12,5" where the locale writes decimal commas
    elif re.fullmatch(r"\d+,\d{1,2}", body):
        body = body.replace(",", ".")  # "12,50": two decimals after a comma is a decimal
    return f"{sign}{body}", currency


class ApiDateField(forms.DateField):
    """An ISO date (what the API takes, typed as YYYY-MM-DD), 1900 to 2100."""

    input_formats = ["%Y-%m-%d"]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", IsoDateInput())
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dt.date | None:
        if isinstance(value, str) and len(value) > 40:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)

    def validate(self, value: dt.date | None) -> None:
        super().validate(value)
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
            raise ValidationError(
                f"{self.label}: {value.isoformat()} is out of range; type a date between "
                f"{EARLIEST_DATE.year} and {LATEST_DATE.year}, like 2025-03-31.",
                code="out_of_range",
            )


class ApiIntegerField(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_value", MAX_ID)
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "numeric"}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> int | None:
        if isinstance(value, str) and len(value.strip()) > 30:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class ReferenceField(forms.TypedChoiceField):
    """A choice from a reference list, sent as its integer id (or account number).

    The field validates against the whole list (so a value from another company gets a message
    that says so), while the widget shows only the options of the chosen company.
    """

    def __init__(
        self,
        *,
        reference: str,
        company_scoped: bool = False,
        account_types: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        self.reference = reference
        self.company_scoped = company_scoped
        # Accounts only: the types offered and accepted ("bank", "credit_card"); () = any.
        self.account_types = account_types
        kwargs.setdefault("coerce", int)
        kwargs.setdefault("empty_value", None)
        super().__init__(**kwargs)


class RecordPickerWidget(forms.Select):
    """A `<select>` of the records a line may apply, with a search box that narrows it as
    people type (htmx, from the read model). Without JavaScript the select works alone; when
    the options cannot be listed the field is a plain number box (see `SourcePickerField`)."""

    template_name = "records/_record_picker.html"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs)
        self.search_url = ""
        self.noun = "record"
        self.available: dict[str, str] = {}  # option value -> what is left to apply ("1910.00")

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["search_url"] = self.search_url
        context["widget"]["noun"] = self.noun
        return context

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None):
        from django.template.loader import render_to_string
        from django.utils.safestring import mark_safe

        context = self.get_context(name, value, attrs)
        return mark_safe(render_to_string(self.template_name, context))

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        available = self.available.get(str(value))
        if available is not None:
            option["attrs"]["data-available"] = available
        return option


class SourcePickerField(ApiIntegerField):
    """A line's reference to another record by number (a credit, a prepayment, a payment):
    chosen from a picker, still sent and validated as the number the API takes."""

    def __init__(self, *, noun: str, **kwargs: Any) -> None:
        self.noun = noun
        super().__init__(min_value=1, **kwargs)


class ApiCharField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs["validators"] = [*kwargs.get("validators", ()), refuse_api_key]
        super().__init__(**kwargs)


def memo_widget() -> forms.Textarea:
    return forms.Textarea(attrs={"rows": 2})


def describe_field(field_obj: forms.Field) -> None:
    """Error messages that name the field and say what to type."""
    label = field_obj.label or "This field"
    messages = field_obj.error_messages
    if isinstance(field_obj, ApiDateField):
        what = "type a date like 2025-03-31"
        messages["invalid"] = f"{label}: that is not a date; type one like 2025-03-31."
    elif isinstance(field_obj, forms.ChoiceField):
        what = "choose one from the list"
        messages["invalid_choice"] = (
            f"{label}: %(value)s is not one of the choices; choose one from the list."
        )
    elif isinstance(field_obj, ApiDecimalField):
        what = f"type a number like {field_obj.example}"
    elif isinstance(field_obj, forms.IntegerField):
        what = "type a whole number"
        messages["invalid"] = f"{label}: type a whole number (digits only), like 1042."
        messages["max_value"] = f"{label}: type a number no larger than %(limit_value)s."
        messages["min_value"] = f"{label}: type a number no smaller than %(limit_value)s."
    else:
        what = "type it in"
        messages["max_length"] = (
            f"{label}: use at most %(limit_value)d characters (you typed %(show_value)d)."
        )
    messages["required"] = f"{label} is required: {what}."
    messages["null_characters_not_allowed"] = f"{label}: remove the invisible null characters."


def parse_int(value: Any) -> int | None:
    try:
        text = str(value).strip()
        return int(text) if text and len(text) <= 12 else None
    except (TypeError, ValueError):
        return None


class ReferenceChoicesMixin:
    """Fills `ReferenceField`s from `FormReferences` and checks company membership."""

    references: FormReferences
    fields: dict[str, forms.Field]

    def _setup_references(self, company_id: int | None) -> None:
        for name, field_obj in list(self.fields.items()):
            if not isinstance(field_obj, ReferenceField):
                continue
            options = self.references.options(field_obj.reference)
            if options is None:
                # The list could not be loaded: let people type the id; DualEntry checks it.
                singular = _REFERENCE_NOUNS[field_obj.reference][0]
                replacement = ApiIntegerField(
                    label=field_obj.label,
                    required=field_obj.required,
                    min_value=0,
                    help_text=(
                        f"The {singular} list could not be loaded from DualEntry just now; "
                        f"type the {singular}'s number."
                    ),
                )
                replacement.reference = field_obj.reference  # type: ignore[attr-defined]
                self.fields[name] = replacement
                continue
            singular = _REFERENCE_NOUNS[field_obj.reference][0]
            article = "an" if singular[0] in "aeiou" else "a"
            blank = [("", f"Choose {article} {singular}")]
            all_choices = [(str(option.value), option.label) for option in options]
            known = {option.value for option in options}
            # A value the record already has stays valid even if the list lacks it (an
            # inactive entry, a payment method missing from the setting): shown by its id.
            kept = parse_int(self.initial.get(name))  # type: ignore[attr-defined]
            if kept is not None and kept not in known:
                all_choices.append((str(kept), f"{singular.capitalize()} {kept} (not in the list)"))
            field_obj.choices = blank + all_choices
            current = {str(self._current_value(name)), str(kept)}
            if field_obj.company_scoped and company_id is not None:
                shown = [
                    (value, label)
                    for (value, label), option in zip(all_choices, [*options, None], strict=False)
                    if option is None or option.company_id in (None, company_id) or value in current
                ]
                field_obj.widget.choices = blank + shown
            if getattr(field_obj, "account_types", ()):
                allowed = field_obj.account_types
                by_value = {str(option.value): option for option in options}
                field_obj.widget.choices = [
                    (value, label)
                    for value, label in field_obj.widget.choices
                    if not value
                    or value in current
                    or value not in by_value
                    or not by_value[value].account_type
                    or by_value[value].account_type in allowed
                ]

    def _current_value(self, name: str) -> Any:
        if self.is_bound:  # type: ignore[attr-defined]
            return self.data.get(self.add_prefix(name))  # type: ignore[attr-defined]
        return self.initial.get(name)  # type: ignore[attr-defined]

    def _check_company_membership(self, cleaned: Mapping[str, Any], company_id: int | None) -> None:
        if company_id is None:
            return
        for name, field_obj in self.fields.items():
            if not isinstance(field_obj, ReferenceField) or not field_obj.company_scoped:
                continue
            value = cleaned.get(name)
            option = self.references.find(field_obj.reference, value)
            if option is None:
                continue
            allowed = getattr(field_obj, "account_types", ())
            if (
                allowed
                and option.account_type
                and option.account_type not in allowed
                and option.company_id in (None, company_id)
            ):
                self.add_error(  # type: ignore[attr-defined]
                    name,
                    f"{field_obj.label}: {option.label} is "
                    f"{option.account_type.replace('_', ' ')}, not a bank or credit-card "
                    "account; choose the bank or card account the money moves through.",
                )
                continue
            if option.company_id in (None, company_id):
                continue
            plural = _REFERENCE_NOUNS[field_obj.reference][1]
            company_name = self.references.company_name(company_id)
            self.add_error(  # type: ignore[attr-defined]
                name,
                f"{field_obj.label}: {option.label} belongs to "
                f"{self.references.company_name(option.company_id)}; choose one of "
                f"{company_name}'s {plural}.",
            )


def bank_account_field(*, label: str, help_text: str) -> ReferenceField:
    """The company's bank or credit-card account a refund is paid from or a deposit goes to."""
    return ReferenceField(
        label=label,
        reference="accounts",
        company_scoped=True,
        account_types=BANK_ACCOUNT_TYPES,
        help_text=help_text,
    )
