"""Customer deposits: the header form, the line form and their forms."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from portal.records.forms import base, fields


class CustomerDepositForm(base.RecordForm):
    schema = "PublicCustomerDepositSchemaCreateIn"
    noun = "deposit"
    layout = (
        ("Deposit", ("company_id", "date", "transaction_date", "memo")),
        (
            "Bank",
            ("account_number", "check_number", "currency_iso_4217_code", "exchange_rate"),
        ),
    )

    date = base.posting_date_field()
    transaction_date = fields.ApiDateField(
        label="Transaction date", required=False, help_text="When the money arrived."
    )
    company_id = base.company_field()
    account_number = fields.bank_account_field(
        label="Deposit to account", help_text="The bank account the money went into."
    )
    currency_iso_4217_code = base.currency_field()
    exchange_rate = base.exchange_rate_field()
    memo = base.header_memo_field()
    check_number = fields.ApiCharField(label="Check number", max_length=64)


DEPOSIT_SOURCES = (
    "customer_payment_number",
    "customer_prepayment_number",
    "cash_sale_number",
    "vendor_refund_number",
)


class CustomerDepositItemForm(base.ItemForm):
    schema = "PublicCustomerDepositItemIn"
    source_kind = "deposits"

    customer_payment_number = fields.SourcePickerField(
        label="Payment", noun="payment", required=False
    )
    customer_prepayment_number = fields.SourcePickerField(
        label="Prepayment", noun="prepayment", required=False
    )
    cash_sale_number = fields.SourcePickerField(label="Cash sale", noun="cash sale", required=False)
    vendor_refund_number = fields.SourcePickerField(
        label="Vendor refund", noun="vendor refund", required=False
    )
    account_number = fields.ReferenceField(
        label="Account", reference="accounts", company_scoped=True, required=False
    )
    customer_id = fields.ReferenceField(
        label="Customer", reference="customers", company_scoped=True, required=False
    )
    vendor_id = fields.ReferenceField(
        label="Vendor", reference="vendors", company_scoped=True, required=False
    )
    description = fields.ApiCharField(label="Description", max_length=1000)
    amount = fields.money_field("Amount", minimum=Decimal(0), exclusive_minimum=True)

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
                "Account: choose the account this line is booked to, or the payment, "
                "prepayment, cash sale or vendor refund it deposits.",
            )
        return cleaned


DEPOSIT_FORMS = base.RecordForms.of(CustomerDepositForm, CustomerDepositItemForm)
CustomerDepositItemFormSet = DEPOSIT_FORMS.formset
