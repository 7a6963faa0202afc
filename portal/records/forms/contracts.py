"""Contracts and contract usage batches: header forms, line forms and their forms."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms

from portal.records.forms import base, fields


class ContractForm(base.RecordForm):
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
            ("bill_to_address", *(f"billing_address.{part}" for part in base.ADDRESS_PARTS)),
        ),
        (
            "Shipping address",
            ("ship_to_address", *(f"shipping_address.{part}" for part in base.ADDRESS_PARTS)),
        ),
    )
    zero_total_message = (
        "The contract's value is zero: enter a quantity and a rate above zero on at least one "
        "obligation."
    )
    # Contracts are created once, by approval: a new contract starts as a draft or active.
    STATUS_CHOICES = (("draft", "Draft"), ("active", "Active"))

    name = fields.ApiCharField(label="Name", max_length=128, required=True)
    memo = fields.ApiCharField(label="Memo", widget=fields.memo_widget(), max_length=512)
    date = fields.ApiDateField(label="Contract date", required=False)
    start_date = fields.ApiDateField(label="Start date")
    end_date = fields.ApiDateField(label="End date", required=False)
    company_id = base.company_field()
    customer_id = fields.ReferenceField(
        label="Customer", reference="customers", company_scoped=True
    )
    currency_iso_4217_code = base.currency_field()
    bill_to_address = fields.ApiCharField(
        label="Bill-to address (free text)", widget=fields.memo_widget(), max_length=1000
    )
    ship_to_address = fields.ApiCharField(
        label="Ship-to address (free text)", widget=fields.memo_widget(), max_length=1000
    )
    billing_start_date = fields.ApiDateField(label="Billing starts", required=False)
    billing_frequency = forms.ChoiceField(label="Billing frequency", choices=(), initial="monthly")
    billing_interval = fields.ApiIntegerField(
        label="Billing interval", min_value=1, max_value=1000, initial=1,
        help_text="Bill every N periods.",
    )  # fmt: skip
    recognition_start_date = fields.ApiDateField(label="Recognition starts", required=False)
    recognition_frequency = forms.ChoiceField(
        label="Recognition frequency", choices=(), initial="monthly"
    )
    recognition_interval = fields.ApiIntegerField(
        label="Recognition interval", min_value=1, max_value=1000, initial=1
    )
    status = forms.ChoiceField(label="Status", choices=STATUS_CHOICES, initial="draft")
    default_early_termination_fee = fields.money_field(
        "Early termination fee", required=False, minimum=Decimal(0)
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cadence = fields.enum_choices("RecognitionCadence")
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


class UsageBatchForm(base.RecordForm):
    """A usage batch has no header fields: the body is just its lines."""

    schema = "ObligationUsageBatchIn"
    noun = "usage batch"
    has_exchange_rate = False
    total_label = "Total at the rates typed here (lines without a rate use the obligation's)"


class ContractObligationForm(base.ItemForm):
    schema = "PerformanceObligationIn"
    total_fields = ("quantity", "rate", "discount_value")

    item_id = base.item_field()
    quantity = base.quantity_field(example="12")
    rate = fields.ApiDecimalField(
        label="Rate", places=fields.PRICE_PLACES, minimum=Decimal(0), example="99.00"
    )
    memo = fields.ApiCharField(label="Memo", max_length=512)
    recognition_strategy = forms.ChoiceField(
        label="Recognition", choices=(), initial="straight_line"
    )
    recognition_start_date = fields.ApiDateField(label="Recognition starts", required=False)
    recognition_end_date = fields.ApiDateField(label="Recognition ends", required=False)
    discount_type = forms.ChoiceField(
        label="Discount type",
        required=False,
        choices=(("", "No discount"), ("PERCENTAGE", "Percentage"), ("FIXED", "Fixed amount")),
    )
    discount_value = fields.ApiDecimalField(
        label="Discount",
        places=fields.QUANTITY_PLACES,
        minimum=Decimal(0),
        exclusive_minimum=True,
        required=False,
        example="10",
    )
    is_auto_renewable = forms.BooleanField(label="Auto-renews", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["recognition_strategy"].choices = fields.enum_choices("RecognitionStrategy")
        fields.describe_field(self.fields["recognition_strategy"])

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
                f"({fields.format_money(quantity * rate)}).",
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
        gross = base.quantity_times_rate(values)
        if gross is None:
            return None
        discount = values.get("discount_value")
        if isinstance(discount, Decimal):
            if values.get("discount_type") == "PERCENTAGE":
                gross -= (gross * discount / 100).quantize(Decimal("0.01"))
            elif values.get("discount_type") == "FIXED":
                gross -= discount.quantize(Decimal("0.01"))
        return gross


class UsageItemForm(base.ItemForm):
    schema = "ObligationUsageItemIn"
    total_fields = ("quantity", "rate")

    id = fields.ApiIntegerField(
        label="Usage record",
        required=False,
        min_value=1,
        help_text="Only to correct a usage record already in DualEntry.",
    )
    obligation_id = fields.ReferenceField(label="Obligation", reference="obligations")
    usage_date = fields.ApiDateField(label="Usage date")
    quantity = base.quantity_field(example="12.5", initial=None)
    rate = fields.ApiDecimalField(
        label="Rate",
        places=fields.PRICE_PLACES,
        minimum=Decimal(0),
        required=False,
        example="0.25",
        help_text="Leave empty to use the obligation's rate.",
    )
    memo = fields.ApiCharField(label="Memo", max_length=1000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        usage = self.references.usage_records
        if usage is not None:
            # Pick the usage record to correct by obligation and period, not by its id.
            kept = fields.parse_int(self._current_value("id"))
            choices = [("", "New usage record")]
            choices += [(str(option.value), option.label) for option in usage]
            if kept is not None and kept not in {option.value for option in usage}:
                choices.append((str(kept), f"Usage record {kept} (not on this contract)"))
            self.fields["id"].widget = forms.Select(choices=choices)
            self.usage_ids = {option.value for option in usage}

    def clean_id(self) -> int | None:
        value = self.cleaned_data.get("id")
        known = getattr(self, "usage_ids", None)
        if value is not None and known is not None and value not in known:
            raise forms.ValidationError(
                f"Usage record: {value} is not one of this contract's usage records; choose "
                "one from the list, or “New usage record”."
            )
        return value

    @classmethod
    def line_amount(cls, values: Mapping[str, Any]) -> Decimal | None:
        return base.quantity_times_rate(values)


CONTRACT_FORMS = base.RecordForms.of(ContractForm, ContractObligationForm)
ContractObligationFormSet = CONTRACT_FORMS.formset
USAGE_FORMS = base.RecordForms.of(UsageBatchForm, UsageItemForm)
UsageItemFormSet = USAGE_FORMS.formset
