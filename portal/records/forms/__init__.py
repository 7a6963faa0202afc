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

Modules: `fields` (API-shaped fields, reference choices, limits), `base` (the header form, the
line form, the formset and `RecordForms`), `money` (the bank account field and the above-zero
total some kinds share), then one module per kind. A kind reaches its forms
through `RecordKind.forms` only. This package re-exports the names other code imports.
"""

from portal.records.forms.base import (
    ADDRESS_PARTS,
    ItemForm,
    ItemFormSet,
    RecordForm,
    RecordForms,
    bound_errors_hidden,
    validate_record_forms,
)
from portal.records.forms.contracts import (
    CONTRACT_FORMS,
    USAGE_FORMS,
    ContractForm,
    ContractObligationForm,
    ContractObligationFormSet,
    UsageBatchForm,
    UsageItemForm,
    UsageItemFormSet,
)
from portal.records.forms.credits import (
    CREDIT_FORMS,
    CustomerCreditForm,
    CustomerCreditItemForm,
    CustomerCreditItemFormSet,
)
from portal.records.forms.deposits import (
    DEPOSIT_FORMS,
    CustomerDepositForm,
    CustomerDepositItemForm,
    CustomerDepositItemFormSet,
)
from portal.records.forms.fields import (
    MAX_LINES,
    FormReferences,
    Option,
    ReferenceField,
    format_money,
    parse_int,
)
from portal.records.forms.refunds import (
    REFUND_FORMS,
    CustomerRefundForm,
    CustomerRefundItemForm,
    CustomerRefundItemFormSet,
)

__all__ = [
    "ADDRESS_PARTS",
    "CONTRACT_FORMS",
    "CREDIT_FORMS",
    "DEPOSIT_FORMS",
    "MAX_LINES",
    "REFUND_FORMS",
    "USAGE_FORMS",
    "ContractForm",
    "ContractObligationForm",
    "ContractObligationFormSet",
    "CustomerCreditForm",
    "CustomerCreditItemForm",
    "CustomerCreditItemFormSet",
    "CustomerDepositForm",
    "CustomerDepositItemForm",
    "CustomerDepositItemFormSet",
    "CustomerRefundForm",
    "CustomerRefundItemForm",
    "CustomerRefundItemFormSet",
    "FormReferences",
    "ItemForm",
    "ItemFormSet",
    "Option",
    "RecordForm",
    "RecordForms",
    "ReferenceField",
    "UsageBatchForm",
    "UsageItemForm",
    "UsageItemFormSet",
    "bound_errors_hidden",
    "format_money",
    "parse_int",
    "validate_record_forms",
]
