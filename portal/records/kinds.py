"""The record-kind registry: one description per kind of DualEntry record the portal handles.

Refunds, deposits, credits and contracts differ in fields, not in behaviour. Views, forms,
approvals, the audit log and the tests iterate over these descriptions instead of keeping four
copies of everything. A capability the API gains (say, contract updates or credit attachments)
is switched on here, and every page follows.
"""

from dataclasses import dataclass, field

from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Column:
    """A list-page column: `field` is the API output field; `kind` drives formatting."""

    field: str
    label: str
    kind: str = "text"  # text | date | datetime | amount | status | reference | user | excerpt


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
    # Dotted paths, resolved lazily so this module imports nothing heavy.
    form_class_path: str = ""
    item_formset_path: str = ""
    list_columns: tuple[Column, ...] = ()
    filters: tuple[Filter, ...] = ()
    ordering_choices: tuple[tuple[str, str], ...] = ()
    # Upstream field names that hold references, resolved to names from cached lists.
    reference_fields: dict[str, str] = field(default_factory=dict)

    @property
    def prepared_as_proposal(self) -> bool:
        """Kinds the API cannot update are prepared in the portal's database until approved."""
        return not self.can_update

    def form_class(self):
        return import_string(self.form_class_path) if self.form_class_path else None

    def item_formset_class(self):
        return import_string(self.item_formset_path) if self.item_formset_path else None

    def key_of(self, record) -> str:
        return str(record[self.key_field])

    def __str__(self) -> str:
        return self.label


_TRANSACTION_FILTERS = (
    Filter("search", "Search", "text"),
    Filter("record_status", "Status", "multi_choice", choices=RECORD_STATUS_CHOICES),
    Filter("company_id", "Company", "reference", reference="companies"),
    Filter("customer_id", "Customer", "reference", reference="customers"),
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

REFUNDS = RecordKind(
    slug="refunds",
    label="customer refund",
    label_plural="customer refunds",
    resource="customer_refunds",
    key_field="number",
    amount_field="amount",
    status_field="record_status",
    can_upload=True,
    form_class_path="portal.records.forms.CustomerRefundForm",
    item_formset_path="portal.records.forms.CustomerRefundItemFormSet",
    list_columns=(
        Column("number", "Number"),
        Column("date", "Posting date", "date"),
        Column("customer_name", "Customer"),
        Column("company_name", "Company"),
        Column("amount", "Amount", "amount"),
        Column("record_status", "Status", "status"),
        Column("memo", "Memo", "excerpt"),
        Column("updated_by", "Last updated", "user"),
    ),
    filters=_TRANSACTION_FILTERS,
    ordering_choices=_TRANSACTION_ORDERING,
    reference_fields={**_REFERENCES, "payment_method_id": "payment_methods"},
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
    form_class_path="portal.records.forms.CustomerDepositForm",
    item_formset_path="portal.records.forms.CustomerDepositItemFormSet",
    list_columns=(
        Column("number", "Number"),
        Column("date", "Posting date", "date"),
        Column("company_name", "Company"),
        Column("amount", "Amount", "amount"),
        Column("record_status", "Status", "status"),
        Column("memo", "Memo", "excerpt"),
        Column("updated_by", "Last updated", "user"),
    ),
    filters=_TRANSACTION_FILTERS,
    ordering_choices=_TRANSACTION_ORDERING,
    reference_fields={"company_id": "companies", "account_id": "accounts"},
)

CREDITS = RecordKind(
    slug="credits",
    label="customer credit",
    label_plural="customer credits",
    resource="customer_credits",
    key_field="number",
    amount_field="amount",
    status_field="record_status",
    form_class_path="portal.records.forms.CustomerCreditForm",
    item_formset_path="portal.records.forms.CustomerCreditItemFormSet",
    list_columns=(
        Column("number", "Number"),
        Column("date", "Posting date", "date"),
        Column("customer_name", "Customer"),
        Column("company_name", "Company"),
        Column("amount", "Amount", "amount"),
        Column("remaining_amount", "Remaining", "amount"),
        Column("record_status", "Status", "status"),
        Column("memo", "Memo", "excerpt"),
        Column("updated_by", "Last updated", "user"),
    ),
    filters=_TRANSACTION_FILTERS,
    ordering_choices=_TRANSACTION_ORDERING,
    reference_fields=_REFERENCES,
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
    form_class_path="portal.records.forms.ContractForm",
    item_formset_path="portal.records.forms.ContractObligationFormSet",
    list_columns=(
        Column("number", "Number"),
        Column("name", "Name"),
        Column("customer_name", "Customer"),
        Column("company_name", "Company"),
        Column("start_date", "Starts", "date"),
        Column("end_date", "Ends", "date"),
        Column("amount", "Amount", "amount"),
        Column("status", "Status", "status"),
    ),
    filters=(
        Filter("search", "Search", "text"),
        Filter("status", "Status", "multi_choice", choices=CONTRACT_STATUS_CHOICES),
        Filter("company_id", "Company", "reference", reference="companies"),
        Filter("customer_id", "Customer", "reference", reference="customers"),
        Filter("contract_start_date", "Contract starts from", "date"),
        Filter("contract_end_date", "Contract ends by", "date"),
        Filter("has_auto_renewal", "Auto-renews", "boolean"),
    ),
    ordering_choices=(
        ("-updated_at", "Recently updated first"),
        ("updated_at", "Least recently updated first"),
    ),
    reference_fields=_REFERENCES,
)

KINDS: dict[str, RecordKind] = {kind.slug: kind for kind in (REFUNDS, DEPOSITS, CREDITS, CONTRACTS)}


def get_kind(slug: str) -> RecordKind:
    """The kind for a URL slug; KeyError for unknown slugs (URL converters prevent those)."""
    return KINDS[slug]


def kinds_with(**capabilities: bool) -> list[RecordKind]:
    """Kinds matching capabilities, e.g. `kinds_with(can_upload=True)`."""
    return [
        kind
        for kind in KINDS.values()
        if all(getattr(kind, name) == wanted for name, wanted in capabilities.items())
    ]


class KindConverter:
    """URL converter: `<kind:kind>` matches only registered slugs and yields a RecordKind."""

    regex = "|".join(KINDS)

    def to_python(self, value: str) -> RecordKind:
        return KINDS[value]

    def to_url(self, value: "RecordKind | str") -> str:
        return value.slug if isinstance(value, RecordKind) else value
