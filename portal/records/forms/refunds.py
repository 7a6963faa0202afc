"""Customer refunds: the header form, the line form and their forms."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from portal.records.forms import base, fields


class CustomerRefundForm(base.RecordForm):
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

    date = base.posting_date_field()
    transaction_date = fields.ApiDateField(
        label="Transaction date", required=False, help_text="When the refund happened."
    )
    company_id = base.company_field()
    customer_id = fields.ReferenceField(
        label="Customer", reference="customers", company_scoped=True
    )
    check_number = fields.ApiCharField(label="Check number", max_length=64)
    account_number = fields.bank_account_field(
        label="Bank account",
        help_text="The bank or credit-card account the refund is paid from.",
    )
    currency_iso_4217_code = base.currency_field()
    exchange_rate = base.exchange_rate_field()
    memo = base.header_memo_field()
    bank_or_credit_card_amount = fields.money_field(
        "Paid from bank or card",
        required=False,
        minimum=Decimal(0),
        initial=Decimal("0.00"),
        help_text="The part of the refund paid out of the bank or card account.",
    )
    payment_method_id = fields.ReferenceField(
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

    def clean_with_lines(self, lines: list[dict[str, Any]], amounts: list[Decimal | None]) -> None:
        super().clean_with_lines(lines, amounts)
        paid = self.cleaned_data.get("bank_or_credit_card_amount")
        total = sum((line["amount"] for line in lines), Decimal(0))
        if paid is not None and paid > total:
            self.add_error(
                "bank_or_credit_card_amount",
                f"Paid from bank or card: {fields.format_money(paid)} is more than the refund's "
                f"total ({fields.format_money(total)}, the sum of its lines). Lower it or add "
                "lines.",
            )


class CustomerRefundItemForm(base.ItemForm):
    schema = "PublicCustomerRefundItemIn"
    source_kind = "refunds"

    customer_credit_number = fields.SourcePickerField(label="Credit", noun="credit", required=False)
    customer_prepayment_number = fields.SourcePickerField(
        label="Prepayment", noun="prepayment", required=False
    )
    amount = fields.money_field("Amount", minimum=Decimal(0), exclusive_minimum=True)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        credit = cleaned.get("customer_credit_number")
        prepayment = cleaned.get("customer_prepayment_number")
        if credit is None and prepayment is None and not self.has_error("customer_credit_number"):
            if not self.has_error("customer_prepayment_number"):
                self.add_error(
                    "customer_credit_number",
                    "Credit: choose the customer credit this line refunds (or a prepayment "
                    "instead).",
                )
        elif credit is not None and prepayment is not None:
            self.add_error(
                "customer_prepayment_number",
                "Prepayment: a line refunds either a credit or a prepayment; clear one of the two.",
            )
        return cleaned


REFUND_FORMS = base.RecordForms.of(CustomerRefundForm, CustomerRefundItemForm)
CustomerRefundItemFormSet = REFUND_FORMS.formset
