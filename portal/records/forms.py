"""Create/edit forms for every record kind, validated the way DualEntry's API v2 validates.

Field names are the API body field names (nested address parts are ``billing_address.street``),
line items are a formset with prefix ``items`` (a contract's obligations too). Each form class
names its request schema; ``payloads.payload_from_forms`` turns a valid form + formset into the
exact body, so what is checked here is what is sent.

The checks come from the spec (required fields, enums, decimal places, minimums, integers,
dates) plus what a finance person expects where the API's intent is plain: a record with lines
needs at least one, amounts are not zero, a record in the company's own currency has an
exchange rate of 1, a deposit whose line amounts DualEntry does not return must add up to the
deposit's amount. Every message names the field and says what to type.

Reference choices (companies, customers, accounts, items, vendors, payment methods) come in as
a ``FormReferences``; a list that could not be loaded turns its fields into plain id inputs, so
a DualEntry outage never makes a form unusable.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError

from dualentry_api import spec
from portal.secret_input import refuse_api_key

__all__ = [
    "ContractForm",
    "ContractObligationFormSet",
    "CustomerCreditForm",
    "CustomerCreditItemFormSet",
    "CustomerDepositForm",
    "CustomerDepositItemFormSet",
    "CustomerRefundForm",
    "CustomerRefundItemFormSet",
    "FormReferences",
    "ItemForm",
    "Option",
    "RecordForm",
    "UsageBatchForm",
    "UsageItemFormSet",
    "format_money",
    "validate_record_forms",
]

MONEY_PLACES = 2  # amounts
QUANTITY_PLACES = 6  # quantity, credit line rate, discount value
PRICE_PLACES = 10  # contract/usage rate, standalone selling price
EXCHANGE_RATE_PLACES = 16
MAX_WHOLE_DIGITS = 15  # a portal limit: nothing this team handles is a quadrillion
MAX_ID = 2_147_483_647
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
MAX_LINES = 200

_DECIMAL_TEXT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")


def format_money(value: Decimal | None) -> str:
    """1234.5 -> "1,234.50" (for messages)."""
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
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("inputmode", "decimal")
        self.widget.attrs.setdefault("class", "num")
        self.widget.attrs.setdefault("autocomplete", "off")

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            return format(value, "f")
        return value

    def to_python(self, value: Any) -> Decimal | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if text in self.empty_values:
            return None
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
    return ApiDecimalField(label=label, places=MONEY_PLACES, quantize=True, **kwargs)


class ApiDateField(forms.DateField):
    """An ISO date (what the API takes and `<input type=date>` sends), 1900 to 2100."""

    input_formats = ["%Y-%m-%d"]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
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

    def __init__(self, *, reference: str, company_scoped: bool = False, **kwargs: Any) -> None:
        self.reference = reference
        self.company_scoped = company_scoped
        kwargs.setdefault("coerce", int)
        kwargs.setdefault("empty_value", None)
        super().__init__(**kwargs)


class ApiCharField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs["validators"] = [*kwargs.get("validators", ()), refuse_api_key]
        super().__init__(**kwargs)


def _memo_widget() -> forms.Textarea:
    return forms.Textarea(attrs={"rows": 2})


def _describe(field_obj: forms.Field) -> None:
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


def _parse_int(value: Any) -> int | None:
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
            kept = _parse_int(self.initial.get(name))  # type: ignore[attr-defined]
            if kept is not None and kept not in known:
                all_choices.append((str(kept), f"{singular.capitalize()} {kept} (not in the list)"))
            field_obj.choices = blank + all_choices
            if field_obj.company_scoped and company_id is not None:
                current = {str(self._current_value(name)), str(kept)}
                shown = [
                    (value, label)
                    for (value, label), option in zip(all_choices, [*options, None], strict=False)
                    if option is None or option.company_id in (None, company_id) or value in current
                ]
                field_obj.widget.choices = blank + shown

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
            if option is None or option.company_id in (None, company_id):
                continue
            plural = _REFERENCE_NOUNS[field_obj.reference][1]
            company_name = self.references.company_name(company_id)
            self.add_error(  # type: ignore[attr-defined]
                name,
                f"{field_obj.label}: {option.label} belongs to "
                f"{self.references.company_name(option.company_id)}; choose one of "
                f"{company_name}'s {plural}.",
            )


# --- Header forms ------------------------------------------------------------------------------


class RecordForm(ReferenceChoicesMixin, forms.Form):
    """The header of a record. Subclasses declare fields named like the API body fields.

    Class attributes describe the kind: the request `schema`, where the lines go in the body
    (`items_field`), whether lines are required (`needs_items`), nested address groups and the
    page `layout` (section title, field names).
    """

    schema: ClassVar[str] = ""
    items_field: ClassVar[str] = "items"
    needs_items: ClassVar[bool] = True
    noun: ClassVar[str] = "record"
    address_groups: ClassVar[tuple[str, ...]] = ()
    layout: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = ()
    has_exchange_rate: ClassVar[bool] = True
    total_label: ClassVar[str] = "Total of the lines"

    def __init__(
        self,
        *args: Any,
        references: FormReferences,
        expected_total: Decimal | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.references = references
        # Set for a deposit whose line amounts DualEntry does not return: the lines the user
        # types must add up to this.
        self.expected_total = expected_total
        for group in self.address_groups:
            for name, field_obj in _address_fields(group).items():
                self.fields[name] = field_obj
        self.company_id = self.chosen_company_id()
        self._setup_references(self.company_id)
        for field_obj in self.fields.values():
            _describe(field_obj)

    # -- helpers used by views and templates
    def chosen_company_id(self) -> int | None:
        """The company picked so far (from the submitted data, else the initial value)."""
        if "company_id" not in self.fields:
            return None
        if self.is_bound:
            return _parse_int(self.data.get(self.add_prefix("company_id")))
        value = self.initial.get("company_id", self.fields["company_id"].initial)
        return _parse_int(value) if value is not None else None

    @classmethod
    def schema_fields(cls) -> frozenset[str]:
        return schema_properties(cls.schema)

    @classmethod
    def api_fields(cls) -> tuple[str, ...]:
        """Top-level body fields this form fills, in declaration order."""
        names = [name for name in cls.base_fields if "." not in name]
        return (*names, *cls.address_groups)

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        placed: set[str] = set()
        result = []
        for title, names in self.layout:
            bound = [self[name] for name in names if name in self.fields]
            placed.update(names)
            if bound:
                result.append((title, bound))
        rest = [self[name] for name in self.fields if name not in placed]
        if rest:
            result.append(("More", rest))
        return result

    # -- validation
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for group in self.address_groups:
            cleaned[group] = self._clean_address(group, cleaned)
        self._check_company_membership(cleaned, cleaned.get("company_id"))
        self._check_exchange_rate(cleaned)
        return cleaned

    def _check_exchange_rate(self, cleaned: Mapping[str, Any]) -> None:
        if not self.has_exchange_rate:
            return
        company = self.references.company(cleaned.get("company_id"))
        currency = cleaned.get("currency_iso_4217_code")
        rate = cleaned.get("exchange_rate")
        if rate is None:
            return
        if company and company.currency and currency == company.currency and rate != 1:
            self.add_error(
                "exchange_rate",
                f"Exchange rate: the {self.noun} is in {company.label}'s own currency "
                f"({currency}), so the rate must be 1.",
            )

    def _clean_address(self, group: str, cleaned: dict[str, Any]) -> dict[str, str] | None:
        parts = {name: cleaned.pop(f"{group}.{name}", "") or "" for name in ADDRESS_PARTS}
        if not any(parts.values()):
            return None
        label = ADDRESS_LABELS[group]
        for name in ("street", "city", "postal_code"):
            if not parts[name]:
                self.add_error(
                    f"{group}.{name}",
                    f"{label}: a {ADDRESS_PART_LABELS[name].lower()} is needed for an address "
                    "(or leave every part of it empty).",
                )
        address = {name: parts[name] for name in ADDRESS_PARTS if name != "name"}
        address["name"] = parts["name"] or None
        return address

    def clean_with_lines(self, lines: list[dict[str, Any]]) -> None:
        """Checks between the header and its lines (run once both are valid)."""
        if self.expected_total is not None and self.needs_items:
            total = sum((line_total(self, line) or Decimal(0) for line in lines), Decimal(0))
            if total != self.expected_total:
                self.add_error(
                    None,
                    f"The line amounts add up to {format_money(total)}, but the {self.noun}'s "
                    f"amount in DualEntry is {format_money(self.expected_total)}. Enter line "
                    f"amounts that add up to {format_money(self.expected_total)}.",
                )


ADDRESS_PARTS = ("name", "street", "second_line", "city", "state", "postal_code", "country")
ADDRESS_PART_LABELS = {
    "name": "Name",
    "street": "Street",
    "second_line": "Second line",
    "city": "City",
    "state": "State or region",
    "postal_code": "Postal code",
    "country": "Country",
}
ADDRESS_LABELS = {"billing_address": "Billing address", "shipping_address": "Shipping address"}


class CountryField(ApiCharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 2)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        text = (value or "").strip().upper()
        if len(text) > 2 or (text and text not in country_codes()):
            raise ValidationError(
                f"{self.label}: type the two-letter country code, like US, DE or GB.",
                code="invalid",
            )
        return text


def _address_fields(group: str) -> dict[str, forms.Field]:
    label = ADDRESS_LABELS[group]
    result: dict[str, forms.Field] = {}
    for part in ADDRESS_PARTS:
        part_label = f"{label}: {ADDRESS_PART_LABELS[part].lower()}"
        if part == "country":
            result[f"{group}.{part}"] = CountryField(label=part_label)
        else:
            result[f"{group}.{part}"] = ApiCharField(label=part_label, max_length=255)
    return result


def _currency_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Currency",
        choices=[("", "Choose a currency")] + [(code, code) for code in currency_codes()],
        help_text="Usually the company's own currency.",
    )


def _posting_date_field() -> ApiDateField:
    return ApiDateField(label="Posting date", help_text="The date it is recorded in the ledger.")


def _company_field() -> ReferenceField:
    return ReferenceField(label="Company", reference="companies")


def _header_memo_field() -> ApiCharField:
    return ApiCharField(label="Memo", widget=_memo_widget(), max_length=4000)


def _exchange_rate_field() -> ApiDecimalField:
    return ApiDecimalField(
        label="Exchange rate",
        places=EXCHANGE_RATE_PLACES,
        minimum=Decimal(0),
        exclusive_minimum=True,
        example="1.0825",
        initial=Decimal(1),
        help_text="Units of the company's currency per unit of this currency; 1 if the same.",
    )


class CustomerRefundForm(RecordForm):
    schema = "PublicCustomerRefundSchemaCreateIn"
    noun = "refund"
    layout = (
        ("Refund", ("company_id", "customer_id", "date", "transaction_date", "memo")),
        (
            "Payment",
            (
                "account_number",
                "payment_method_id",
                "check_number",
                "bank_or_credit_card_amount",
                "currency_iso_4217_code",
                "exchange_rate",
            ),
        ),
    )

    date = _posting_date_field()
    transaction_date = ApiDateField(
        label="Transaction date", required=False, help_text="When the refund happened."
    )
    company_id = _company_field()
    customer_id = ReferenceField(label="Customer", reference="customers", company_scoped=True)
    check_number = ApiCharField(label="Check number", max_length=64)
    account_number = ReferenceField(
        label="Bank account",
        reference="accounts",
        company_scoped=True,
        help_text="The account the refund is paid from.",
    )
    currency_iso_4217_code = _currency_field()
    exchange_rate = _exchange_rate_field()
    memo = _header_memo_field()
    bank_or_credit_card_amount = money_field(
        "Paid from bank or card",
        required=False,
        minimum=Decimal(0),
        initial=Decimal("0.00"),
        help_text="The part of the refund paid out of the bank or card account.",
    )
    payment_method_id = ReferenceField(
        label="Payment method", reference="payment_methods", required=False
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.has_error("bank_or_credit_card_amount"):
            # Empty means nothing paid from the bank or card (the API's default, made explicit).
            cleaned["bank_or_credit_card_amount"] = cleaned.get(
                "bank_or_credit_card_amount"
            ) or Decimal("0.00")
        return cleaned

    def clean_with_lines(self, lines: list[dict[str, Any]]) -> None:
        super().clean_with_lines(lines)
        paid = self.cleaned_data.get("bank_or_credit_card_amount")
        total = sum((line["amount"] for line in lines), Decimal(0))
        if paid is not None and paid > total:
            self.add_error(
                "bank_or_credit_card_amount",
                f"Paid from bank or card: {format_money(paid)} is more than the refund's total "
                f"({format_money(total)}, the sum of its lines). Lower it or add lines.",
            )


class CustomerDepositForm(RecordForm):
    schema = "PublicCustomerDepositSchemaCreateIn"
    noun = "deposit"
    layout = (
        ("Deposit", ("company_id", "date", "transaction_date", "memo")),
        (
            "Bank",
            ("account_number", "check_number", "currency_iso_4217_code", "exchange_rate"),
        ),
    )

    date = _posting_date_field()
    transaction_date = ApiDateField(
        label="Transaction date", required=False, help_text="When the money arrived."
    )
    company_id = _company_field()
    account_number = ReferenceField(
        label="Deposit to account",
        reference="accounts",
        company_scoped=True,
        help_text="The bank account the money went into.",
    )
    currency_iso_4217_code = _currency_field()
    exchange_rate = _exchange_rate_field()
    memo = _header_memo_field()
    check_number = ApiCharField(label="Check number", max_length=64)


class CustomerCreditForm(RecordForm):
    schema = "PublicCustomerCreditSchemaCreateIn"
    noun = "credit"
    total_label = "Total of the lines before tax"
    address_groups = ("billing_address", "shipping_address")
    layout = (
        ("Credit", ("company_id", "customer_id", "date", "transaction_date", "memo")),
        (
            "Related records",
            ("invoice_number", "cash_sale_number", "contract_id"),
        ),
        ("Currency", ("currency_iso_4217_code", "exchange_rate")),
        (
            "Billing address",
            ("bill_to_address", *(f"billing_address.{part}" for part in ADDRESS_PARTS)),
        ),
        (
            "Shipping address",
            ("ship_to_address", *(f"shipping_address.{part}" for part in ADDRESS_PARTS)),
        ),
    )

    date = _posting_date_field()
    transaction_date = ApiDateField(label="Transaction date", required=False)
    company_id = _company_field()
    customer_id = ReferenceField(
        label="Customer", reference="customers", company_scoped=True, required=False
    )
    invoice_number = ApiIntegerField(
        label="Invoice number", required=False, min_value=1, help_text="The invoice it credits."
    )
    cash_sale_number = ApiIntegerField(label="Cash sale number", required=False, min_value=1)
    contract_id = ApiIntegerField(label="Contract id", required=False, min_value=1)
    currency_iso_4217_code = _currency_field()
    exchange_rate = _exchange_rate_field()
    memo = _header_memo_field()
    bill_to_address = ApiCharField(
        label="Bill-to address (free text)", widget=_memo_widget(), max_length=1000
    )
    ship_to_address = ApiCharField(
        label="Ship-to address (free text)", widget=_memo_widget(), max_length=1000
    )

    def clean_with_lines(self, lines: list[dict[str, Any]]) -> None:
        super().clean_with_lines(lines)
        total = sum((line_total(self, line) or Decimal(0) for line in lines), Decimal(0))
        if lines and total <= 0:
            self.add_error(
                None,
                "The credit's total is zero: enter a rate above zero on at least one line.",
            )


class ContractForm(RecordForm):
    schema = "ContractSchemaCreateIn"
    items_field = "obligations"
    noun = "contract"
    total_label = "Contract value (after discounts)"
    has_exchange_rate = False
    address_groups = ("billing_address", "shipping_address")
    layout = (
        ("Contract", ("name", "company_id", "customer_id", "status", "date", "memo")),
        ("Term", ("start_date", "end_date", "currency_iso_4217_code")),
        (
            "Billing and recognition",
            (
                "billing_start_date",
                "billing_frequency",
                "billing_interval",
                "recognition_start_date",
                "recognition_frequency",
                "recognition_interval",
                "default_early_termination_fee",
            ),
        ),
        (
            "Billing address",
            ("bill_to_address", *(f"billing_address.{part}" for part in ADDRESS_PARTS)),
        ),
        (
            "Shipping address",
            ("ship_to_address", *(f"shipping_address.{part}" for part in ADDRESS_PARTS)),
        ),
    )
    # Contracts are created once, by approval: a new contract starts as a draft or active.
    STATUS_CHOICES = (("draft", "Draft"), ("active", "Active"))

    name = ApiCharField(label="Name", max_length=128, required=True)
    memo = ApiCharField(label="Memo", widget=_memo_widget(), max_length=512)
    date = ApiDateField(label="Contract date", required=False)
    start_date = ApiDateField(label="Start date")
    end_date = ApiDateField(label="End date", required=False)
    company_id = _company_field()
    customer_id = ReferenceField(label="Customer", reference="customers", company_scoped=True)
    currency_iso_4217_code = _currency_field()
    bill_to_address = ApiCharField(
        label="Bill-to address (free text)", widget=_memo_widget(), max_length=1000
    )
    ship_to_address = ApiCharField(
        label="Ship-to address (free text)", widget=_memo_widget(), max_length=1000
    )
    billing_start_date = ApiDateField(label="Billing starts", required=False)
    billing_frequency = forms.ChoiceField(label="Billing frequency", choices=(), initial="monthly")
    billing_interval = ApiIntegerField(
        label="Billing interval", min_value=1, max_value=1000, initial=1,
        help_text="Bill every N periods.",
    )  # fmt: skip
    recognition_start_date = ApiDateField(label="Recognition starts", required=False)
    recognition_frequency = forms.ChoiceField(
        label="Recognition frequency", choices=(), initial="monthly"
    )
    recognition_interval = ApiIntegerField(
        label="Recognition interval", min_value=1, max_value=1000, initial=1
    )
    status = forms.ChoiceField(label="Status", choices=STATUS_CHOICES, initial="draft")
    default_early_termination_fee = money_field(
        "Early termination fee", required=False, minimum=Decimal(0)
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cadence = enum_choices("RecognitionCadence")
        self.fields["billing_frequency"].choices = cadence
        self.fields["recognition_frequency"].choices = cadence
        self.fields["status"].error_messages["invalid_choice"] = (
            "Status: a new contract starts as Draft or Active; choose one of them."
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("start_date"), cleaned.get("end_date")
        if start and end and end < start:
            self.add_error(
                "end_date",
                f"End date: {end.isoformat()} is before the start date ({start.isoformat()}); "
                "type a later date or leave it empty.",
            )
        return cleaned

    def clean_with_lines(self, lines: list[dict[str, Any]]) -> None:
        super().clean_with_lines(lines)
        total = sum((line_total(self, line) or Decimal(0) for line in lines), Decimal(0))
        if lines and total <= 0:
            self.add_error(
                None,
                "The contract's value is zero: enter a quantity and a rate above zero on at "
                "least one obligation.",
            )


class UsageBatchForm(RecordForm):
    """A usage batch has no header fields: the body is just its lines."""

    schema = "ObligationUsageBatchIn"
    noun = "usage batch"
    has_exchange_rate = False
    total_label = "Total at the rates typed here (lines without a rate use the obligation's)"


# --- Line items --------------------------------------------------------------------------------


class ItemForm(ReferenceChoicesMixin, forms.Form):
    """One line. `schema` is the line's request schema; `id` keeps DualEntry's line id."""

    schema: ClassVar[str] = ""
    # Fields summed into the running total: "amount", or quantity x rate (minus discount).
    total_fields: ClassVar[tuple[str, ...]] = ("amount",)

    id = ApiIntegerField(required=False, widget=forms.HiddenInput, label="Line id")

    def __init__(
        self,
        *args: Any,
        references: FormReferences,
        company_id: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.references = references
        self.company_id = company_id
        self._setup_references(company_id)
        for field_obj in self.fields.values():
            _describe(field_obj)

    @classmethod
    def schema_fields(cls) -> frozenset[str]:
        return schema_properties(cls.schema)

    @classmethod
    def api_fields(cls) -> tuple[str, ...]:
        return tuple(cls.base_fields)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self._check_company_membership(cleaned, self.company_id)
        return cleaned

    def has_changed(self) -> bool:
        """A blank row counts as untouched even if a prefilled default was cleared."""
        for name in self.fields:
            if name == "DELETE":
                continue
            bound = self[name]
            data = bound.data
            if data is None or (isinstance(data, str) and not data.strip()):
                continue
            if bound.field.has_changed(bound.initial, data):
                return True
        return False

    def raw_total(self) -> Decimal | None:
        """This line's amount from the raw input (for the running total), None if unknown."""
        values = {}
        for name in self.total_fields:
            raw = self[name].value()
            try:  # only what the field accepts counts (10.505 is not an amount)
                values[name] = self.fields[name].clean(raw)
            except ValidationError:
                values[name] = None
        values.update(
            {name: self[name].value() for name in ("discount_type",) if name in self.fields}
        )
        return self.line_amount(values)

    @classmethod
    def line_amount(cls, values: Mapping[str, Any]) -> Decimal | None:
        amount = values.get("amount")
        return amount if isinstance(amount, Decimal) else None


def quantity_times_rate(values: Mapping[str, Any]) -> Decimal | None:
    """A priced line's amount: quantity times rate, in cents; None until both are numbers."""
    quantity, rate = values.get("quantity"), values.get("rate")
    if not isinstance(quantity, Decimal) or not isinstance(rate, Decimal):
        return None
    return (quantity * rate).quantize(Decimal("0.01"))


def line_total(form: RecordForm, line: Mapping[str, Any]) -> Decimal | None:
    item_form_class = ITEM_FORMS[type(form)]
    return item_form_class.line_amount(line)


class CustomerRefundItemForm(ItemForm):
    schema = "PublicCustomerRefundItemIn"

    customer_credit_number = ApiIntegerField(label="Credit number", required=False, min_value=1)
    customer_prepayment_number = ApiIntegerField(
        label="Prepayment number", required=False, min_value=1
    )
    amount = money_field("Amount", minimum=Decimal(0), exclusive_minimum=True)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        credit = cleaned.get("customer_credit_number")
        prepayment = cleaned.get("customer_prepayment_number")
        if credit is None and prepayment is None and not self.has_error("customer_credit_number"):
            if not self.has_error("customer_prepayment_number"):
                self.add_error(
                    "customer_credit_number",
                    "Credit number: type the number of the customer credit this line refunds "
                    "(or a prepayment number instead).",
                )
        elif credit is not None and prepayment is not None:
            self.add_error(
                "customer_prepayment_number",
                "Prepayment number: a line refunds either a credit or a prepayment; clear one "
                "of the two numbers.",
            )
        return cleaned


DEPOSIT_SOURCES = (
    "customer_payment_number",
    "customer_prepayment_number",
    "cash_sale_number",
    "vendor_refund_number",
)


class CustomerDepositItemForm(ItemForm):
    schema = "PublicCustomerDepositItemIn"

    customer_payment_number = ApiIntegerField(label="Payment number", required=False, min_value=1)
    customer_prepayment_number = ApiIntegerField(
        label="Prepayment number", required=False, min_value=1
    )
    cash_sale_number = ApiIntegerField(label="Cash sale number", required=False, min_value=1)
    vendor_refund_number = ApiIntegerField(
        label="Vendor refund number", required=False, min_value=1
    )
    account_number = ReferenceField(
        label="Account", reference="accounts", company_scoped=True, required=False
    )
    customer_id = ReferenceField(
        label="Customer", reference="customers", company_scoped=True, required=False
    )
    vendor_id = ReferenceField(
        label="Vendor", reference="vendors", company_scoped=True, required=False
    )
    description = ApiCharField(label="Description", max_length=1000)
    amount = money_field("Amount", minimum=Decimal(0), exclusive_minimum=True)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        sources = [name for name in DEPOSIT_SOURCES if cleaned.get(name) is not None]
        if len(sources) > 1:
            self.add_error(
                sources[1],
                f"{self.fields[sources[1]].label}: a line deposits one source record; keep "
                f"only the {self.fields[sources[0]].label.lower()} or this one.",
            )
        undecided = not sources and cleaned.get("account_number") is None
        if undecided and not any(
            self.has_error(name) for name in (*DEPOSIT_SOURCES, "account_number")
        ):
            self.add_error(
                "account_number",
                "Account: choose the account this line is booked to, or type the number "
                "of the payment, prepayment, cash sale or vendor refund it deposits.",
            )
        return cleaned


class CustomerCreditItemForm(ItemForm):
    schema = "PublicCustomerCreditItemIn"
    total_fields = ("quantity", "rate")

    item_id = ReferenceField(label="Item", reference="items", company_scoped=True)
    quantity = ApiDecimalField(
        label="Quantity",
        places=QUANTITY_PLACES,
        minimum=Decimal(0),
        exclusive_minimum=True,
        example="2.5",
        initial=Decimal(1),
    )
    rate = ApiDecimalField(
        label="Rate", places=QUANTITY_PLACES, minimum=Decimal(0), example="199.99"
    )
    memo = ApiCharField(label="Memo", max_length=1000)

    @classmethod
    def line_amount(cls, values: Mapping[str, Any]) -> Decimal | None:
        return quantity_times_rate(values)


class ContractObligationForm(ItemForm):
    schema = "PerformanceObligationIn"
    total_fields = ("quantity", "rate", "discount_value")

    item_id = ReferenceField(label="Item", reference="items", company_scoped=True)
    quantity = ApiDecimalField(
        label="Quantity",
        places=QUANTITY_PLACES,
        minimum=Decimal(0),
        exclusive_minimum=True,
        example="12",
        initial=Decimal(1),
    )
    rate = ApiDecimalField(label="Rate", places=PRICE_PLACES, minimum=Decimal(0), example="99.00")
    memo = ApiCharField(label="Memo", max_length=512)
    recognition_strategy = forms.ChoiceField(
        label="Recognition", choices=(), initial="straight_line"
    )
    recognition_start_date = ApiDateField(label="Recognition starts", required=False)
    recognition_end_date = ApiDateField(label="Recognition ends", required=False)
    discount_type = forms.ChoiceField(
        label="Discount type",
        required=False,
        choices=(("", "No discount"), ("PERCENTAGE", "Percentage"), ("FIXED", "Fixed amount")),
    )
    discount_value = ApiDecimalField(
        label="Discount",
        places=QUANTITY_PLACES,
        minimum=Decimal(0),
        exclusive_minimum=True,
        required=False,
        example="10",
    )
    is_auto_renewable = forms.BooleanField(label="Auto-renews", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["recognition_strategy"].choices = enum_choices("RecognitionStrategy")
        _describe(self.fields["recognition_strategy"])

    def clean_discount_type(self) -> str | None:
        return self.cleaned_data.get("discount_type") or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, value = cleaned.get("discount_type"), cleaned.get("discount_value")
        if kind and value is None and not self.has_error("discount_value"):
            self.add_error("discount_value", "Discount: type the discount for this line.")
        if value is not None and not kind:
            self.add_error(
                "discount_type", "Discount type: choose Percentage or Fixed amount for it."
            )
        if kind == "PERCENTAGE" and value is not None and value > 100:
            self.add_error("discount_value", "Discount: a percentage cannot be over 100.")
        quantity, rate = cleaned.get("quantity"), cleaned.get("rate")
        priced = quantity is not None and rate is not None
        if kind == "FIXED" and value is not None and priced and value > quantity * rate:
            self.add_error(
                "discount_value",
                f"Discount: {value} is more than the line's value "
                f"({format_money(quantity * rate)}).",
            )
        start, end = cleaned.get("recognition_start_date"), cleaned.get("recognition_end_date")
        if start and end and end < start:
            self.add_error(
                "recognition_end_date",
                "Recognition ends: this date is before the recognition start; type a later one.",
            )
        return cleaned

    @classmethod
    def line_amount(cls, values: Mapping[str, Any]) -> Decimal | None:
        gross = quantity_times_rate(values)
        if gross is None:
            return None
        discount = values.get("discount_value")
        if isinstance(discount, Decimal):
            if values.get("discount_type") == "PERCENTAGE":
                gross -= (gross * discount / 100).quantize(Decimal("0.01"))
            elif values.get("discount_type") == "FIXED":
                gross -= discount.quantize(Decimal("0.01"))
        return gross


class UsageItemForm(ItemForm):
    schema = "ObligationUsageItemIn"
    total_fields = ("quantity", "rate")

    id = ApiIntegerField(
        label="Usage record id",
        required=False,
        min_value=1,
        help_text="Only to correct a usage record already in DualEntry.",
    )
    obligation_id = ReferenceField(label="Obligation", reference="obligations")
    usage_date = ApiDateField(label="Usage date")
    quantity = ApiDecimalField(
        label="Quantity",
        places=QUANTITY_PLACES,
        minimum=Decimal(0),
        exclusive_minimum=True,
        example="12.5",
    )
    rate = ApiDecimalField(
        label="Rate",
        places=PRICE_PLACES,
        minimum=Decimal(0),
        required=False,
        example="0.25",
        help_text="Leave empty to use the obligation's rate.",
    )
    memo = ApiCharField(label="Memo", max_length=1000)

    @classmethod
    def line_amount(cls, values: Mapping[str, Any]) -> Decimal | None:
        return quantity_times_rate(values)


# --- Formsets ----------------------------------------------------------------------------------


class ItemFormSet(forms.BaseFormSet):
    """The lines of a record (prefix "items"); deleted and untouched blank rows are ignored."""

    header_form_class: ClassVar[type[RecordForm]] = RecordForm

    def __init__(
        self,
        *args: Any,
        references: FormReferences,
        company_id: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("prefix", "items")
        form_kwargs = {**kwargs.pop("form_kwargs", {}), "references": references}
        form_kwargs["company_id"] = company_id
        self.references = references
        self.company_id = company_id
        super().__init__(*args, form_kwargs=form_kwargs, **kwargs)

    @classmethod
    def get_default_prefix(cls) -> str:
        return "items"

    def line_forms(self) -> list[ItemForm]:
        """Valid forms that become lines, in order (call after is_valid())."""
        return [
            form for form in self.forms if form.cleaned_data and not self._should_delete_form(form)
        ]

    def lines(self) -> list[dict[str, Any]]:
        return [dict(form.cleaned_data) for form in self.line_forms()]

    def clean(self) -> None:
        if any(self.errors):
            return
        if self.header_form_class.needs_items and not self.line_forms():
            noun = self.header_form_class.noun
            raise ValidationError(
                f"Lines: a {noun} needs at least one line; fill in the first row.",
                code="no_lines",
            )

    def running_total(self) -> Decimal | None:
        """The total of the lines as typed so far (unparseable lines are left out)."""
        total = Decimal("0.00")
        for form in self.forms:
            if self.can_delete and form["DELETE"].value() in (True, "on", "true", "1"):
                continue
            amount = form.raw_total()
            if amount is not None:
                total += amount
        return total

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = "Remove"


def _item_formset(form_class: type[ItemForm], header: type[RecordForm]) -> type[ItemFormSet]:
    formset_class = forms.formset_factory(
        form_class,
        formset=ItemFormSet,
        extra=2,
        can_delete=True,
        max_num=MAX_LINES,
        validate_max=True,
        absolute_max=MAX_LINES + 50,
    )
    formset_class.header_form_class = header
    return formset_class


CustomerRefundItemFormSet = _item_formset(CustomerRefundItemForm, CustomerRefundForm)
CustomerDepositItemFormSet = _item_formset(CustomerDepositItemForm, CustomerDepositForm)
CustomerCreditItemFormSet = _item_formset(CustomerCreditItemForm, CustomerCreditForm)
ContractObligationFormSet = _item_formset(ContractObligationForm, ContractForm)
UsageItemFormSet = _item_formset(UsageItemForm, UsageBatchForm)

ITEM_FORMS: dict[type[RecordForm], type[ItemForm]] = {
    CustomerRefundForm: CustomerRefundItemForm,
    CustomerDepositForm: CustomerDepositItemForm,
    CustomerCreditForm: CustomerCreditItemForm,
    ContractForm: ContractObligationForm,
    UsageBatchForm: UsageItemForm,
}


def validate_record_forms(form: RecordForm, formset: ItemFormSet) -> bool:
    """Validate a header and its lines together; cross-checks run once both are valid."""
    form_valid = form.is_valid()
    formset_valid = formset.is_valid()
    if form_valid and formset_valid:
        form.clean_with_lines(formset.lines())
        return not form.errors
    return False


def bound_errors_hidden(forms_to_quiet: Iterable[forms.Form | forms.BaseFormSet]) -> None:
    """Show a bound form without validating it (a re-render after choosing a company)."""
    from django.forms.utils import ErrorDict, ErrorList

    for item in forms_to_quiet:
        if isinstance(item, forms.BaseFormSet):
            item._errors = []
            item._non_form_errors = ErrorList()
            bound_errors_hidden(item.forms)
        else:
            item._errors = ErrorDict()
