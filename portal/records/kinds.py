"""The record-kind registry: one description per kind of DualEntry record the portal handles.

Refunds, deposits, credits and contracts differ in fields, not in behaviour. Views, forms,
approvals, the audit log and the tests iterate over these descriptions instead of keeping four
copies of everything. A capability the API gains (say, contract updates or credit attachments)
is switched on here, and every page follows.
"""

from dataclasses import dataclass, field
from functools import cached_property

from django.utils.module_loading import import_string

from portal.readmodel.registry import MirrorSpec


@dataclass(frozen=True)
class Column:
    """A list-page column: `field` is the API output field; `kind` drives formatting."""

    field: str  # may be dotted for nested values: "tax.code"
    label: str
    # text | date | datetime | amount | decimal | status | reference | user | excerpt | link
    # | boolean | address
    kind: str = "text"
    # For kind "reference": the reference list holding names (see portal.records.references);
    # for kind "link": the slug of the record kind linked to.
    reference: str = ""
    help: str = ""  # what the field means: once per detail page, folded away (not per value)


@dataclass(frozen=True)
class Section:
    """A table on the detail page built from a list field of the record (line items, ...)."""

    field: str  # "items", "obligations", "invoices", ...
    label: str
    columns: tuple[Column, ...]
    totals: tuple[str, ...] = ()  # column fields summed in the footer
    note: str = ""  # what the reader should know about this table (API limits, ...)


@dataclass(frozen=True)
class Filter:
    """A list filter the API offers (query parameter `param`)."""

    param: str
    label: str
    kind: str = "text"  # text | date | choice | multi_choice | reference | boolean
    reference: str = ""  # reference list for choices (companies, customers, ...)
    choices: tuple[tuple[str, str], ...] = ()


RECORD_STATUS_CHOICES = (("draft", "Draft"), ("posted", "Posted"), ("archived", "Archived"))
CONTRACT_STATUS_CHOICES = (
    ("draft", "Draft"),
    ("review", "In review"),
    ("active", "Active"),
    ("completed", "Completed"),
    ("terminated", "Terminated"),
    ("archived", "Archived"),
)


@dataclass(frozen=True)
class RecordKind:
    slug: str  # URL segment: /refunds/
    label: str  # "customer refund"
    label_plural: str  # "customer refunds"
    resource: str  # attribute of the API client: client.customer_refunds
    key_field: str  # "number" for transactions, "id" for contracts (as in the API paths)
    amount_field: str  # the record's total
    status_field: str  # "record_status" (transactions) or "status" (contracts)
    can_create: bool = True
    can_update: bool = True  # API v2 has no contract update
    can_upload: bool = False  # API v2: only refunds and deposits take attachments
    returns_line_amounts: bool = True  # a deposit's GET omits line amounts
    has_customer: bool = True
    has_usage: bool = False
    # Dotted paths of the kind's `portal.records.forms.RecordForms` (header form, line form,
    # formset) and, for contracts, of the usage batch forms; resolved lazily, so this table
    # imports no form code and every layer may read it.
    forms_path: str = ""
    usage_forms_path: str = ""
    list_columns: tuple[Column, ...] = ()
    filters: tuple[Filter, ...] = ()
    ordering_choices: tuple[tuple[str, str], ...] = ()
    # Upstream field names that hold references, resolved to names from cached lists.
    reference_fields: dict[str, str] = field(default_factory=dict)
    # Detail page: header fields (in order) and the tables below them.
    detail_fields: tuple[Column, ...] = ()
    detail_sections: tuple[Section, ...] = ()
    # How the read model copies this kind, beyond what the fields above say (see `mirror`).
    mirror_options: dict[str, object] = field(default_factory=dict)

    @property
    def mirror(self) -> MirrorSpec:
        """This kind's description for the read model (portal.readmodel.registry)."""
        return MirrorSpec(
            kind=self.slug,
            resource=self.resource,
            key_field=self.key_field,
            status_field=self.status_field,
            amount_field=self.amount_field,
            customer_id_field="customer_id" if self.has_customer else "",
            customer_name_field="customer_name" if self.has_customer else "",
            **self.mirror_options,
        )

    @property
    def prepared_as_proposal(self) -> bool:
        """Kinds the API cannot update are prepared in the portal's database until approved."""
        return not self.can_update

    @property
    def forms(self):  # -> portal.records.forms.RecordForms (not imported: see above)
        """The kind's forms: `.header`, `.line` and `.formset` (the one route to them)."""
        return import_string(self.forms_path)

    @property
    def usage_forms(self):  # -> portal.records.forms.RecordForms
        """A contract's usage batch forms (only kinds with usage have them)."""
        if not self.usage_forms_path:
            raise LookupError(f"{self.label_plural} have no usage batches.")
        return import_string(self.usage_forms_path)

    @cached_property
    def help_columns(self) -> tuple[Column, ...]:
        """Detail fields that carry an explanation, each explanation once: fields sharing one
        are named together ("Created in DualEntry, Last updated in DualEntry")."""
        labels: dict[str, list[str]] = {}
        for column in self.detail_fields:
            if column.help and column.label not in labels.setdefault(column.help, []):
                labels[column.help].append(column.label)
        return tuple(
            Column("", ", ".join(names), help=text) for text, names in labels.items() if names
        )

    @cached_property
    def field_labels(self) -> dict[str, str]:
        """Labels for the record's own (API) fields, from this description: detail columns,
        then filters ("company_id": "Company"); a `<x>_name` column also names `<x>_id`.
        History and the audit log use these, so a field reads the same on every page."""
        labels: dict[str, str] = {}
        for column in self.detail_fields:
            labels.setdefault(column.field, column.label)
            if column.field.endswith("_name"):
                labels.setdefault(column.field.removesuffix("_name") + "_id", column.label)
        for flt in self.filters:
            labels.setdefault(flt.param, flt.label)
        labels.setdefault(self.status_field, "Status")
        return labels

    @cached_property
    def field_columns(self) -> dict[str, Column]:
        """Header fields by API name: detail columns, plus the reference fields that the
        detail page shows by name (`company_id` behind "Company")."""
        columns = {column.field: column for column in self.detail_fields}
        for field_name, reference in self.reference_fields.items():
            if field_name not in columns or columns[field_name].kind != "reference":
                label = self.field_labels.get(field_name, field_name)
                columns[field_name] = Column(field_name, label, "reference", reference=reference)
        return columns

    def section(self, field_name: str) -> "Section | None":
        """The detail table built from the list field `field_name` ("items", ...)."""
        return next((part for part in self.detail_sections if part.field == field_name), None)

    def key_of(self, record) -> str:
        return str(record[self.key_field])

    def __str__(self) -> str:
        return self.label


SEARCH_FILTER = Filter("search", "Search", "text")
COMPANY_FILTER = Filter("company_id", "Company", "reference", reference="companies")
CUSTOMER_FILTER = Filter("customer_id", "Customer", "reference", reference="customers")
_TRANSACTION_FILTERS = (
    SEARCH_FILTER,
    Filter("record_status", "Status", "multi_choice", choices=RECORD_STATUS_CHOICES),
    COMPANY_FILTER,
    CUSTOMER_FILTER,
    Filter("start_date", "Posting date from", "date"),
    Filter("end_date", "Posting date to", "date"),
    Filter("transaction_currency", "Currency", "text"),
)
_TRANSACTION_ORDERING = (
    ("-date", "Newest posting date first"),
    ("date", "Oldest posting date first"),
    ("-number", "Highest number first"),
    ("number", "Lowest number first"),
)
_REFERENCES = {"company_id": "companies", "customer_id": "customers"}
_MIRROR_TRANSACTION = {"second_date_field": "transaction_date"}

# Detail-page building blocks shared by the kinds.
POSTING_DATE = Column(
    "date",
    "Posting date",
    "date",
    help="The date the record is booked in the general ledger (the GL date); it decides the "
    "accounting period.",
)
TRANSACTION_DATE = Column(
    "transaction_date",
    "Transaction date",
    "date",
    help="The date the transaction actually happened, e.g. when the money moved. It can differ "
    "from the posting date.",
)
CURRENCY = Column("currency_iso_4217_code", "Currency")
EXCHANGE_RATE = Column(
    "exchange_rate",
    "Exchange rate",
    "decimal",
    help="Converts the record's currency into the company's currency.",
)
MEMO = Column("memo", "Memo")
_AUTHOR_HELP = (
    'As DualEntry records it. Changes made through the portal read "via the portal (API)", '
    "with the person named from the portal's own history."
)
CREATED_BY = Column("created_by", "Created in DualEntry", "user", help=_AUTHOR_HELP)
UPDATED_BY = Column("updated_by", "Last updated in DualEntry", "user", help=_AUTHOR_HELP)
LINE_CLASSIFICATIONS = Column("classifications", "Classifications", "classifications")
NUMBER = Column("number", "Number")
RECORD_STATUS = Column("record_status", "Status", "status")
COMPANY = Column("company_name", "Company")
CUSTOMER = Column("customer_name", "Customer")
AMOUNT = Column("amount", "Amount", "amount")
TOTAL = Column("amount", "Total", "amount")
LINE_ITEM = Column("item_id", "Item", "reference", reference="items")
LINE_DESCRIPTION = Column("memo", "Description")
LINE_QUANTITY = Column("quantity", "Quantity", "decimal")
LINE_RATE = Column("rate", "Rate", "decimal")
BILLING_ADDRESS = Column(
    "billing_address", "Billing address", "address", reference="bill_to_address"
)
SHIPPING_ADDRESS = Column(
    "shipping_address", "Shipping address", "address", reference="ship_to_address"
)
# Refunds, deposits and credits: the list's first and last columns, the detail's head and tail.
_LIST_POSTING_DATE = Column("date", "Posting date", "date")
_LIST_TAIL = (
    RECORD_STATUS,
    Column("memo", "Memo", "excerpt"),
    Column("updated_by", "Last updated", "user"),
)
_DETAIL_HEAD = (NUMBER, RECORD_STATUS, POSTING_DATE, TRANSACTION_DATE, COMPANY)
_DETAIL_TAIL = (MEMO, CREATED_BY, UPDATED_BY)

REFUNDS = RecordKind(
    slug="refunds",
    label="customer refund",
    label_plural="customer refunds",
    resource="customer_refunds",
    key_field="number",
    amount_field="amount",
    status_field="record_status",
    can_upload=True,
    forms_path="portal.records.forms.refunds.REFUND_FORMS",
    list_columns=(NUMBER, _LIST_POSTING_DATE, CUSTOMER, COMPANY, AMOUNT, *_LIST_TAIL),
    filters=_TRANSACTION_FILTERS,
    ordering_choices=_TRANSACTION_ORDERING,
    reference_fields={**_REFERENCES, "payment_method_id": "payment_methods"},
    mirror_options=_MIRROR_TRANSACTION,
    detail_fields=(
        *_DETAIL_HEAD,
        CUSTOMER,
        Column("account_number", "Paid from account", "reference", reference="account_numbers"),
        Column("payment_method_id", "Payment method", "reference", reference="payment_methods"),
        Column("check_number", "Check number"),
        Column("paper_check_status", "Paper check", "status"),
        CURRENCY,
        EXCHANGE_RATE,
        Column(
            "bank_or_credit_card_amount",
            "Bank or card amount",
            "amount",
            help="The part of the refund paid out through the bank or card account.",
        ),
        TOTAL,
        *_DETAIL_TAIL,
    ),
    detail_sections=(
        Section(
            "items",
            "Line items",
            (
                Column("customer_credit_number", "Customer credit", "link", reference="credits"),
                Column("customer_prepayment_number", "Customer prepayment"),
                Column("bank_or_credit_card_amount", "Bank or card amount", "amount"),
                AMOUNT,
            ),
            totals=("bank_or_credit_card_amount", "amount"),
        ),
    ),
)

DEPOSITS = RecordKind(
    slug="deposits",
    label="customer deposit",
    label_plural="customer deposits",
    resource="customer_deposits",
    key_field="number",
    amount_field="amount",
    status_field="record_status",
    can_upload=True,
    returns_line_amounts=False,
    has_customer=False,  # the deposit output has no header customer; lines may have one
    forms_path="portal.records.forms.deposits.DEPOSIT_FORMS",
    list_columns=(NUMBER, _LIST_POSTING_DATE, COMPANY, AMOUNT, *_LIST_TAIL),
    filters=_TRANSACTION_FILTERS,
    ordering_choices=_TRANSACTION_ORDERING,
    reference_fields={"company_id": "companies", "account_id": "accounts"},
    mirror_options=_MIRROR_TRANSACTION,
    detail_fields=(
        *_DETAIL_HEAD,
        Column("account_id", "Deposited to account", "reference", reference="accounts"),
        CURRENCY,
        EXCHANGE_RATE,
        TOTAL,
        *_DETAIL_TAIL,
    ),
    detail_sections=(
        Section(
            "items",
            "Line items",
            (
                Column("customer_id", "Customer", "reference", reference="customers"),
                Column("vendor_id", "Vendor", "reference", reference="vendors"),
                Column("account_id", "Account", "reference", reference="accounts"),
                Column("description", "Description"),
                Column("customer_payment_number", "Customer payment"),
                Column("customer_prepayment_number", "Customer prepayment"),
                Column("cash_sale_number", "Cash sale"),
                Column("vendor_refund_number", "Vendor refund"),
                LINE_CLASSIFICATIONS,
            ),
            note="DualEntry's API does not return the amounts of deposit lines; the total above "
            "is the deposit amount DualEntry holds.",
        ),
    ),
)

CREDITS = RecordKind(
    slug="credits",
    label="customer credit",
    label_plural="customer credits",
    resource="customer_credits",
    key_field="number",
    amount_field="amount",
    status_field="record_status",
    forms_path="portal.records.forms.credits.CREDIT_FORMS",
    list_columns=(
        NUMBER,
        _LIST_POSTING_DATE,
        CUSTOMER,
        COMPANY,
        AMOUNT,
        Column("remaining_amount", "Remaining", "amount"),
        *_LIST_TAIL,
    ),
    filters=_TRANSACTION_FILTERS,
    ordering_choices=_TRANSACTION_ORDERING,
    reference_fields=_REFERENCES,
    mirror_options={
        **_MIRROR_TRANSACTION,
        "remaining_field": "remaining_amount",
        "used_field": "used_amount",
    },
    detail_fields=(
        *_DETAIL_HEAD,
        CUSTOMER,
        Column("invoice_number", "Invoice"),
        Column("cash_sale_number", "Cash sale"),
        Column("contract_id", "Contract", "link", reference="contracts"),
        CURRENCY,
        EXCHANGE_RATE,
        TOTAL,
        Column(
            "used_amount",
            "Applied so far",
            "amount",
            help="Already applied to invoices through refunds or prepayment applications.",
        ),
        Column("remaining_amount", "Remaining to apply", "amount"),
        BILLING_ADDRESS,
        SHIPPING_ADDRESS,
        *_DETAIL_TAIL,
    ),
    detail_sections=(
        Section(
            "items",
            "Line items",
            (
                LINE_ITEM,
                LINE_DESCRIPTION,
                LINE_QUANTITY,
                LINE_RATE,
                Column("tax.code", "Tax"),
                Column("net_amount", "Net", "amount"),
                Column("tax_amount", "Tax amount", "amount"),
                Column("gross_amount", "Gross", "amount"),
                LINE_CLASSIFICATIONS,
            ),
            totals=("net_amount", "tax_amount", "gross_amount"),
        ),
    ),
)

CONTRACTS = RecordKind(
    slug="contracts",
    label="contract",
    label_plural="contracts",
    resource="contracts",
    key_field="id",
    amount_field="amount",
    status_field="status",
    can_update=False,
    has_usage=True,
    forms_path="portal.records.forms.contracts.CONTRACT_FORMS",
    usage_forms_path="portal.records.forms.contracts.USAGE_FORMS",
    list_columns=(
        NUMBER,
        Column("name", "Name"),
        CUSTOMER,
        COMPANY,
        Column("start_date", "Starts", "date"),
        Column("end_date", "Ends", "date"),
        AMOUNT,
        Column("status", "Status", "status"),
    ),
    filters=(
        SEARCH_FILTER,
        Filter("status", "Status", "multi_choice", choices=CONTRACT_STATUS_CHOICES),
        COMPANY_FILTER,
        CUSTOMER_FILTER,
        Filter("contract_start_date", "Contract starts from", "date"),
        Filter("contract_end_date", "Contract ends by", "date"),
        Filter("has_auto_renewal", "Auto-renews", "boolean"),
    ),
    ordering_choices=(
        ("-updated_at", "Recently updated first"),
        ("updated_at", "Least recently updated first"),
    ),
    reference_fields=_REFERENCES,
    # The contract list has no obligations, usage or update time: the detail GET fills those.
    mirror_options={
        "name_field": "name",
        "second_date_field": "start_date",
        "end_date_field": "end_date",
        "updated_field": "",
        "detail_only_fields": ("obligations", "obligation_usage", "customer_credits"),
    },
    detail_fields=(
        NUMBER,
        Column("name", "Name"),
        Column("status", "Status", "status"),
        COMPANY,
        CUSTOMER,
        Column("date", "Contract date", "date"),
        Column("start_date", "Starts", "date"),
        Column("end_date", "Ends", "date"),
        Column("renewed_end_date", "Renewed until", "date"),
        Column("next_renewal_date", "Next renewal", "date"),
        Column("days_till_expiry", "Days until expiry"),
        CURRENCY,
        Column("amount", "Contract amount", "amount"),
        Column("metrics.total_contract_value", "Total contract value", "amount"),
        Column("metrics.mrr", "MRR", "amount", help="Monthly recurring revenue."),
        Column("metrics.arr", "ARR", "amount", help="Annual recurring revenue."),
        Column("metrics.amount_invoiced", "Invoiced", "amount"),
        Column("metrics.invoices_paid", "Paid", "amount"),
        Column("metrics.revenue_recognized", "Revenue recognised", "amount"),
        Column("metrics.deferred_revenue", "Deferred revenue", "amount"),
        Column("metrics.unbilled_revenue", "Not yet billed", "amount"),
        Column("metrics.next_invoice_date", "Next invoice", "date"),
        Column("billing_start_date", "Billing starts", "date"),
        Column("billing_frequency", "Billing frequency"),
        Column("recognition_start_date", "Recognition starts", "date"),
        Column("recognition_frequency", "Recognition frequency"),
        BILLING_ADDRESS,
        SHIPPING_ADDRESS,
        MEMO,
    ),
    detail_sections=(
        Section(
            "obligations",
            "Obligations",
            (
                LINE_ITEM,
                LINE_DESCRIPTION,
                LINE_QUANTITY,
                LINE_RATE,
                Column("billing_frequency", "Billing"),
                Column("billing_start_date", "Billing from", "date"),
                Column("billing_end_date", "Billing to", "date"),
                Column("recognition_start_date", "Recognised from", "date"),
                Column("recognition_end_date", "Recognised to", "date"),
                AMOUNT,
                Column("discount_amount", "Discount", "amount"),
                Column("net_amount", "Net", "amount"),
                LINE_CLASSIFICATIONS,
            ),
            totals=("amount", "discount_amount", "net_amount"),
        ),
        Section(
            "revenue_recognitions",
            "Revenue recognition schedule",
            (
                NUMBER,
                POSTING_DATE,
                AMOUNT,
                RECORD_STATUS,
            ),
            totals=("amount",),
        ),
        Section(
            "invoices",
            "Invoices",
            (
                NUMBER,
                Column("date", "Invoice date", "date"),
                Column("due_date", "Due", "date"),
                AMOUNT,
                Column("tax_amount", "Tax", "amount"),
                Column("paid_total", "Paid", "amount"),
                RECORD_STATUS,
                Column("source", "Source"),
            ),
            totals=("amount", "tax_amount", "paid_total"),
            note="As DualEntry returns them with the contract; invoice lines are in DualEntry.",
        ),
        Section(
            "customer_credits",
            "Customer credits",
            (
                Column("number", "Number", "link", reference="credits"),
                POSTING_DATE,
                AMOUNT,
                RECORD_STATUS,
            ),
            totals=("amount",),
        ),
        Section(
            "obligation_usage",
            "Usage",
            (
                Column("usage_date", "Usage date", "date"),
                Column("obligation_id", "Obligation"),
                LINE_QUANTITY,
                LINE_RATE,
                AMOUNT,
                Column("status", "Status", "status"),
                Column("invoice_status", "Invoice"),
                Column("memo", "Memo"),
            ),
            totals=("amount",),
        ),
    ),
)

KINDS: dict[str, RecordKind] = {kind.slug: kind for kind in (REFUNDS, DEPOSITS, CREDITS, CONTRACTS)}


def get_kind(slug: str) -> RecordKind:
    """The kind for a URL slug; KeyError for unknown slugs (URL converters prevent those)."""
    return KINDS[slug]


class KindConverter:
    """URL converter: `<kind:kind>` matches only registered slugs and yields a RecordKind."""

    regex = "|".join(KINDS)

    def to_python(self, value: str) -> RecordKind:
        return KINDS[value]

    def to_url(self, value: "RecordKind | str") -> str:
        return value.slug if isinstance(value, RecordKind) else value
