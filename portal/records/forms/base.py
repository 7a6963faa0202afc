"""What every record form shares: the header form, the line form, the formset of lines and
`RecordForms`, the one description of a kind's forms (`RecordKind.forms`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError

from portal.records.forms.fields import (
    EXCHANGE_RATE_PLACES,
    MAX_LINES,
    QUANTITY_PLACES,
    ApiCharField,
    ApiDateField,
    ApiDecimalField,
    ApiIntegerField,
    FormReferences,
    RecordPickerWidget,
    ReferenceChoicesMixin,
    ReferenceField,
    SourcePickerField,
    country_codes,
    currency_codes,
    describe_field,
    format_money,
    memo_widget,
    parse_int,
    schema_properties,
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
    # Priced lines: lines adding up to nothing (or less) are refused as a whole with this
    # sentence saying which values to raise ("" where a zero total is fine).
    zero_total_message: ClassVar[str] = ""

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
            for name, field_obj in address_fields(group).items():
                self.fields[name] = field_obj
        self.company_id = self.chosen_company_id()
        self._setup_references(self.company_id)
        for field_obj in self.fields.values():
            describe_field(field_obj)

    # -- helpers used by views and templates
    def chosen_company_id(self) -> int | None:
        """The company picked so far (from the submitted data, else the initial value)."""
        if "company_id" not in self.fields:
            return None
        if self.is_bound:
            return parse_int(self.data.get(self.add_prefix("company_id")))
        value = self.initial.get("company_id", self.fields["company_id"].initial)
        return parse_int(value) if value is not None else None

    def chosen_customer_id(self) -> int | None:
        """The customer picked so far (refunds: their credits are what the lines apply)."""
        if "customer_id" not in self.fields:
            return None
        if self.is_bound:
            return parse_int(self.data.get(self.add_prefix("customer_id")))
        return parse_int(self.initial.get("customer_id"))

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

    def clean_with_lines(self, lines: list[dict[str, Any]], amounts: list[Decimal | None]) -> None:
        """Checks between the header and its lines (run once both are valid); `amounts` are
        the lines' amounts as the line form computes them (None where it cannot, counted as
        zero)."""
        total = sum((amount or Decimal(0) for amount in amounts), Decimal(0))
        if self.zero_total_message and lines and total <= 0:
            self.add_error(None, self.zero_total_message)
        expected = self.expected_total
        if expected is not None and self.needs_items and total != expected:
            self.add_error(
                None,
                f"The line amounts add up to {format_money(total)}, but the {self.noun}'s "
                f"amount in DualEntry is {format_money(expected)}. Enter line amounts that add "
                f"up to {format_money(expected)}.",
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


def address_fields(group: str) -> dict[str, forms.Field]:
    label = ADDRESS_LABELS[group]
    result: dict[str, forms.Field] = {}
    for part in ADDRESS_PARTS:
        part_label = f"{label}: {ADDRESS_PART_LABELS[part].lower()}"
        if part == "country":
            result[f"{group}.{part}"] = CountryField(label=part_label)
        else:
            result[f"{group}.{part}"] = ApiCharField(label=part_label, max_length=255)
    return result


def currency_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Currency",
        choices=[("", "Choose a currency")] + [(code, code) for code in currency_codes()],
        help_text="Usually the company's own currency.",
    )


def posting_date_field() -> ApiDateField:
    return ApiDateField(label="Posting date", help_text="The date it is recorded in the ledger.")


def company_field() -> ReferenceField:
    return ReferenceField(label="Company", reference="companies")


def header_memo_field() -> ApiCharField:
    return ApiCharField(label="Memo", widget=memo_widget(), max_length=4000)


def item_field() -> ReferenceField:
    return ReferenceField(label="Item", reference="items", company_scoped=True)


def quantity_field(*, example: str, initial: Decimal | None = Decimal(1)) -> ApiDecimalField:
    """A line's quantity: positive, up to six decimal places."""
    return ApiDecimalField(
        label="Quantity",
        places=QUANTITY_PLACES,
        minimum=Decimal(0),
        exclusive_minimum=True,
        example=example,
        initial=initial,
    )


def exchange_rate_field() -> ApiDecimalField:
    return ApiDecimalField(
        label="Exchange rate",
        places=EXCHANGE_RATE_PLACES,
        minimum=Decimal(0),
        exclusive_minimum=True,
        example="1.0825",
        initial=Decimal(1),
        help_text="Units of the company's currency per unit of this currency; 1 if the same.",
    )


# --- Line items --------------------------------------------------------------------------------


class ItemForm(ReferenceChoicesMixin, forms.Form):
    """One line. `schema` is the line's request schema; `id` keeps DualEntry's line id."""

    schema: ClassVar[str] = ""
    # Fields summed into the running total: "amount", or quantity x rate (minus discount).
    total_fields: ClassVar[tuple[str, ...]] = ("amount",)
    # The record kind (slug) whose lines these are, for the pickers of what a line applies.
    source_kind: ClassVar[str] = ""

    id = ApiIntegerField(required=False, widget=forms.HiddenInput, label="Line id")

    def __init__(
        self,
        *args: Any,
        references: FormReferences,
        company_id: int | None = None,
        customer_id: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.references = references
        self.company_id = company_id
        self.customer_id = customer_id
        self._setup_references(company_id)
        self._setup_pickers()
        for field_obj in self.fields.values():
            describe_field(field_obj)

    def _setup_pickers(self) -> None:
        """Source fields become pickers of the company's (and customer's) open records when
        the read model can list them; otherwise they stay number boxes."""
        loader = self.references.source_options
        if loader is None or self.company_id is None:
            return
        from django.urls import reverse

        for name, field_obj in self.fields.items():
            if not isinstance(field_obj, SourcePickerField):
                continue
            kept = parse_int(self._current_value(name))
            options = loader(
                kind_slug=self.source_kind,
                field_name=name,
                company_id=self.company_id,
                customer_id=self.customer_id,
                keep=[kept] if kept is not None else [],
            )
            if options is None:
                continue
            widget = RecordPickerWidget(attrs={"class": "record-picker"})
            widget.noun = field_obj.noun
            widget.search_url = (
                reverse("records:pick_source", kwargs={"kind": self.source_kind}) + f"?field={name}"
            )
            choices = [("", f"Choose a {field_obj.noun}")]
            for option in options:
                choices.append((str(option.value), option.label))
                if option.available is not None:
                    widget.available[str(option.value)] = format(option.available, "f")
            if kept is not None and str(kept) not in {value for value, _ in choices}:
                choices.append((str(kept), f"{field_obj.noun.capitalize()} {kept}"))
            widget.choices = choices
            field_obj.widget = widget

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


# --- Formsets ----------------------------------------------------------------------------------


class ItemFormSet(forms.BaseFormSet):
    """The lines of a record (prefix "items"); deleted and untouched blank rows are ignored.

    Every line form gets the formset's `form_kwargs`: the forms' `references`, and the
    `company_id` and `customer_id` chosen on the header (what a line's choices depend on).
    """

    # The kind's header form, set by `RecordForms.of`: whether lines are required, and the
    # record's noun for the messages.
    header: ClassVar[type[RecordForm]] = RecordForm

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

    def line_amounts(self) -> list[Decimal | None]:
        """Each line's amount (quantity x rate, or the amount typed), None where unknown."""
        return [form.line_amount(form.cleaned_data) for form in self.line_forms()]

    def clean(self) -> None:
        if any(self.errors):
            return
        if self.header.needs_items and not self.line_forms():
            raise ValidationError(
                f"Lines: a {self.header.noun} needs at least one line; fill in the first row.",
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


@dataclass(frozen=True)
class RecordForms:
    """A kind's forms: the header form, the line form and the formset of lines.

    The one route from a kind to its forms is `RecordKind.forms` (and `.usage_forms` for a
    contract's usage batches); payloads, pages and the approval review all start there.
    """

    header: type[RecordForm]
    line: type[ItemForm]
    formset: type[ItemFormSet]

    @classmethod
    def of(cls, header: type[RecordForm], line: type[ItemForm]) -> RecordForms:
        formset = forms.formset_factory(
            line,
            formset=ItemFormSet,
            extra=2,
            can_delete=True,
            max_num=MAX_LINES,
            validate_max=True,
            absolute_max=MAX_LINES + 50,
        )
        formset.header = header  # what the lines' own validation needs to know of the record
        return cls(header=header, line=line, formset=formset)

    def reference_names(self) -> set[str]:
        """The reference lists (companies, customers, accounts, ...) the forms choose from."""
        return {
            field_obj.reference
            for form_class in (self.header, self.line)
            for field_obj in form_class.base_fields.values()
            if isinstance(field_obj, ReferenceField)
        }


def validate_record_forms(form: RecordForm, formset: ItemFormSet) -> bool:
    """Validate a header and its lines together; cross-checks run once both are valid."""
    form_valid = form.is_valid()
    formset_valid = formset.is_valid()
    if form_valid and formset_valid:
        form.clean_with_lines(formset.lines(), formset.line_amounts())
        typed_ok = _check_typed_currencies(form, formset)
        return not form.errors and typed_ok
    return False


def _check_typed_currencies(form: RecordForm, formset: ItemFormSet) -> bool:
    """An amount typed with a currency symbol ("$1,000.00", "EUR 20") must be in the record's
    currency: "€20" on a USD refund is a mistake, not 20 dollars."""
    currency = form.cleaned_data.get("currency_iso_4217_code") or ""
    if not currency:
        return True
    ok = True
    for part in [form, *formset.line_forms()]:
        for name, field_obj in part.fields.items():
            typed = getattr(field_obj, "typed_currency", "")
            if typed and typed != currency and name not in part.errors:
                part.add_error(
                    name,
                    f"{field_obj.label}: the amount was typed in {typed}, but the {form.noun} "
                    f"is in {currency}; type the amount in {currency} (or without a symbol).",
                )
                ok = False
    return ok


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
