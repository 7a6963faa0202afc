"""Customer credits: the header form, the line form and their forms."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from portal.records.forms import base, fields


class CustomerCreditForm(base.RecordForm):
    schema = "PublicCustomerCreditSchemaCreateIn"
    noun = "credit"
    total_label = "Total of the lines before tax"
    zero_total_message = "The credit's total is zero: enter a rate above zero on at least one line."
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
            ("bill_to_address", *(f"billing_address.{part}" for part in base.ADDRESS_PARTS)),
        ),
        (
            "Shipping address",
            ("ship_to_address", *(f"shipping_address.{part}" for part in base.ADDRESS_PARTS)),
        ),
    )

    date = base.posting_date_field()
    transaction_date = fields.ApiDateField(label="Transaction date", required=False)
    company_id = base.company_field()
    customer_id = fields.ReferenceField(
        label="Customer", reference="customers", company_scoped=True, required=False
    )
    invoice_number = fields.ApiIntegerField(
        label="Invoice number", required=False, min_value=1, help_text="The invoice it credits."
    )
    cash_sale_number = fields.ApiIntegerField(label="Cash sale number", required=False, min_value=1)
    contract_id = fields.ApiIntegerField(label="Contract id", required=False, min_value=1)
    currency_iso_4217_code = base.currency_field()
    exchange_rate = base.exchange_rate_field()
    memo = base.header_memo_field()
    bill_to_address = fields.ApiCharField(
        label="Bill-to address (free text)", widget=fields.memo_widget(), max_length=1000
    )
    ship_to_address = fields.ApiCharField(
        label="Ship-to address (free text)", widget=fields.memo_widget(), max_length=1000
    )


class CustomerCreditItemForm(base.ItemForm):
    schema = "PublicCustomerCreditItemIn"
    total_fields = ("quantity", "rate")

    item_id = base.item_field()
    quantity = base.quantity_field(example="2.5")
    rate = fields.ApiDecimalField(
        label="Rate", places=fields.QUANTITY_PLACES, minimum=Decimal(0), example="199.99"
    )
    memo = fields.ApiCharField(label="Memo", max_length=1000)

    @classmethod
    def line_amount(cls, values: Mapping[str, Any]) -> Decimal | None:
        return base.quantity_times_rate(values)


CREDIT_FORMS = base.RecordForms.of(CustomerCreditForm, CustomerCreditItemForm)
CustomerCreditItemFormSet = CREDIT_FORMS.formset
