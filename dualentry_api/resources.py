"""One table describes every DualEntry resource; the resource classes are generated from it.

Each ``ResourceDescription`` says where the resource lives, what its detail key is called in
the spec, and which operations API v2 offers for it (a test checks the table against the
vendored spec both ways). A resource object only has the methods its capabilities allow;
asking for another (``client.contracts.update``) raises ``NotSupported``, which is also an
``AttributeError``, and ``resource.can_update`` / ``can_upload`` / ... let callers ask first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dualentry_api.errors import NotSupported
from dualentry_api.records import (
    Page,
    Record,
    is_blank,
    parse_record,
    query_value,
    response_shape,
)
from dualentry_api.transport import API_PREFIX, Answer, FileSpec, RawPage, Transport

__all__ = [
    "RESOURCES",
    "RawPage",
    "Resource",
    "ResourceDescription",
    "build_resources",
    "description_for",
]

MAX_LIMIT = 100

LIST, GET, CREATE, UPDATE, UPLOAD, USAGE = "list", "get", "create", "update", "upload", "usage"
CAPABILITIES = (LIST, GET, CREATE, UPDATE, UPLOAD, USAGE)

# Methods each capability adds; the rest raise NotSupported.
OPERATIONS = {
    LIST: ("list", "list_raw", "iterate"),
    GET: ("get",),
    CREATE: ("create",),
    UPDATE: ("update",),
    UPLOAD: ("upload_attachments",),
    USAGE: ("list_usage", "iterate_usage", "bulk_upsert_usage"),
}


@dataclass(frozen=True)
class ResourceDescription:
    name: str  # attribute on the client: client.customer_refunds
    path: str  # path segment under /public/v2/: "customer-refunds"
    key_param: str  # the spec's name for the detail key: "record_number", "record_id", ...
    capabilities: frozenset[str]
    label: str  # singular, for people: "customer refund"
    # Writes must name this field explicitly: a transaction written without record_status is
    # posted to the ledger by DualEntry's default; a contract needs its own status.
    status_field: str | None = None

    @property
    def collection_template(self) -> str:
        return f"{API_PREFIX}/{self.path}/"

    @property
    def detail_template(self) -> str:
        return f"{API_PREFIX}/{self.path}/{{{self.key_param}}}/"

    @property
    def attachments_template(self) -> str:
        return f"{API_PREFIX}/{self.path}/{{{self.key_param}}}/attachments/"


def _caps(*names: str) -> frozenset[str]:
    return frozenset(names)


READ = _caps(LIST, GET)
WRITE = _caps(LIST, GET, CREATE, UPDATE)

RESOURCES: tuple[ResourceDescription, ...] = (
    # The four kinds the portal prepares and approves.
    ResourceDescription("customer_refunds", "customer-refunds", "record_number",
                        WRITE | {UPLOAD}, "customer refund", "record_status"),
    ResourceDescription("customer_deposits", "customer-deposits", "record_number",
                        WRITE | {UPLOAD}, "customer deposit", "record_status"),
    ResourceDescription("customer_credits", "customer-credits", "record_number",
                        WRITE, "customer credit", "record_status"),
    ResourceDescription("contracts", "contracts", "record_id",
                        _caps(LIST, GET, CREATE, USAGE), "contract", "status"),
    # Reference data the forms pick from.
    ResourceDescription("companies", "companies", "company_id", READ, "company"),
    ResourceDescription("customers", "customers", "customer_id", WRITE, "customer"),
    ResourceDescription("accounts", "accounts", "account_number", READ, "account"),
    ResourceDescription("items", "items", "item_id", WRITE, "item"),
    ResourceDescription("vendors", "vendors", "vendor_id", WRITE, "vendor"),
    ResourceDescription("classifications", "classifications", "classification_id",
                        WRITE, "classification"),
    ResourceDescription("classification_lines", "classifications-lines", "classification_line_id",
                        _caps(LIST), "classification line"),
    ResourceDescription("custom_fields", "custom-fields", "custom_field_id", WRITE,
                        "custom field"),
    ResourceDescription("vat_rates", "vat-rates", "vat_rate_id", READ, "VAT rate"),
    ResourceDescription("gst_tax_rates", "gst-tax-rates", "gst_tax_rate_id", READ, "GST rate"),
    # Records that line items point to.
    ResourceDescription("invoices", "invoices", "record_number", WRITE, "invoice",
                        "record_status"),
    ResourceDescription("cash_sales", "cash-sales", "record_number", WRITE, "cash sale",
                        "record_status"),
    ResourceDescription("customer_payments", "customer-payments", "record_number", WRITE,
                        "customer payment", "record_status"),
    ResourceDescription("customer_prepayments", "customer-prepayments", "record_number", WRITE,
                        "customer prepayment", "record_status"),
    ResourceDescription("vendor_refunds", "vendor-refunds", "record_number", WRITE,
                        "vendor refund", "record_status"),
    ResourceDescription("sales_orders", "sales-orders", "record_number", WRITE, "sales order",
                        "record_status"),
)  # fmt: skip

_BY_NAME = {description.name: description for description in RESOURCES}
_BY_PATH = {description.path: description for description in RESOURCES}


def description_for(name_or_path: str) -> ResourceDescription:
    """A description by API path (``customer-refunds``) or client attribute name."""
    found = _BY_PATH.get(name_or_path.strip("/")) or _BY_NAME.get(name_or_path)
    if found is None:
        raise KeyError(f"No DualEntry resource called {name_or_path!r}.")
    return found


def query_params(filters: Mapping[str, Any] | None, **extra: Any) -> list[tuple[str, str]]:
    """Query pairs: arrays repeat the parameter; None and empty values are dropped."""
    pairs: list[tuple[str, str]] = []
    for name, value in {**(filters or {}), **extra}.items():
        if is_blank(value):
            continue
        if isinstance(value, list | tuple | set | frozenset):
            values = sorted(value, key=str) if isinstance(value, set | frozenset) else value
            pairs.extend((name, query_value(item)) for item in values if not is_blank(item))
        else:
            pairs.append((name, query_value(value)))
    return pairs


def _check_limit(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT} (DualEntry caps pages at 100).")
    if offset < 0:
        raise ValueError("offset cannot be negative.")


def _capability_flag(capability: str) -> property:
    """A read-only ``bool`` property: does the resource's API path offer ``capability``?"""

    def offers(resource: Resource) -> bool:
        return capability in resource.description.capabilities

    return property(offers, doc=f"Whether DualEntry offers {capability!r} on this resource.")


class Resource:
    """Base of the generated resource classes; see the module docstring."""

    __slots__ = ("description", "transport")

    def __init__(self, transport: Transport, description: ResourceDescription) -> None:
        self.transport = transport
        self.description = description

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description.collection_template}>"

    def __getattr__(self, name: str) -> Any:
        for capability, methods in OPERATIONS.items():
            if name in methods:
                description = object.__getattribute__(self, "description")
                raise NotSupported(
                    f"DualEntry API v2 has no {name} for {description.path} "
                    f"(missing capability {capability!r}); no request was made.",
                    user_message=_unsupported_sentence(description, capability),
                )
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def name(self) -> str:
        return self.description.name

    can_list = _capability_flag(LIST)
    can_get = _capability_flag(GET)
    can_create = _capability_flag(CREATE)
    can_update = _capability_flag(UPDATE)
    can_upload = _capability_flag(UPLOAD)
    has_usage = _capability_flag(USAGE)

    def _keyed_call(self, method: str, template: str, key: int | str, **body: Any) -> Record:
        """One call on a record named by its key; the answer is that record."""
        path_params = {self.description.key_param: key}
        return self.transport.request(method, template, path_params, **body).parse_record()

    def _check_status_field(self, payload: Mapping[str, Any]) -> None:
        field = self.description.status_field
        if field and is_blank(payload.get(field)):
            raise ValueError(
                f"A {self.description.label} payload must set {field!r} explicitly "
                f"(for example 'draft'); without it DualEntry would "
                f"{'post the record to the ledger' if field == 'record_status' else 'refuse it'}."
            )


def _unsupported_sentence(description: ResourceDescription, capability: str) -> str:
    what = {
        LIST: "listed",
        GET: "opened one by one",
        CREATE: "created",
        UPDATE: "changed",
        UPLOAD: "given attachments",
        USAGE: "given usage",
    }[capability]
    return f"DualEntry does not allow {description.label}s to be {what} through its API."


class _Listable(Resource):
    __slots__ = ()

    def list(
        self,
        filters: Mapping[str, Any] | None = None,
        limit: int = MAX_LIMIT,
        offset: int = 0,
        ordering: str | None = None,
    ) -> Page:
        """One page of records matching ``filters`` (arrays are sent as repeated params)."""
        answer = self._list_answer(filters, limit, offset, ordering)
        return answer.parse_page(limit=limit, offset=offset)

    def list_raw(
        self,
        filters: Mapping[str, Any] | None = None,
        limit: int = MAX_LIMIT,
        offset: int = 0,
        ordering: str | None = None,
    ) -> RawPage:
        """One page as DualEntry sent it: each item a plain JSON dict, not parsed.

        For copying records as they are (the read model): one malformed record must not make
        the whole page unreadable, so the caller checks each item itself.
        """
        answer = self._list_answer(filters, limit, offset, ordering)
        return answer.parse_raw_page(limit=limit, offset=offset)

    def _list_answer(
        self, filters: Mapping[str, Any] | None, limit: int, offset: int, ordering: str | None
    ) -> Answer:
        _check_limit(limit, offset)
        params = query_params(filters, limit=limit, offset=offset, ordering=ordering)
        return self.transport.request("GET", self.description.collection_template, params=params)

    def iterate(
        self, filters: Mapping[str, Any] | None = None, page_size: int = MAX_LIMIT
    ) -> Iterator[Record]:
        """Every matching record, fetching pages of ``page_size`` as needed."""
        offset = 0
        while True:
            page = self.list(filters, limit=page_size, offset=offset)
            yield from page.items
            if page.next_offset is None:
                return
            offset = page.next_offset


class _Gettable(Resource):
    __slots__ = ()

    def get(self, key: int | str, filters: Mapping[str, Any] | None = None) -> Record:
        """One record by its key (``number`` for transactions, ``id`` for contracts)."""
        return self._keyed_call(
            "GET", self.description.detail_template, key, params=query_params(filters)
        )

    def from_stored(self, raw: Mapping[str, Any]) -> Record:
        """A record kept from an earlier answer (the read model's JSON copy), typed exactly as
        ``get`` types DualEntry's answer. No request is made; ValueError if it is off-schema."""
        shape = response_shape("GET", self.description.detail_template, 200)
        return parse_record(dict(raw), shape)


class _Creatable(Resource):
    __slots__ = ()

    def create(self, payload: Mapping[str, Any]) -> Record:
        """POST a new record; the body is sent exactly once, never retried."""
        self._check_status_field(payload)
        template = self.description.collection_template
        return self.transport.request("POST", template, payload=payload).parse_record()


class _Updatable(Resource):
    __slots__ = ()

    def update(self, key: int | str, payload: Mapping[str, Any]) -> Record:
        """PUT the whole record (fields left out are reset by DualEntry); never retried."""
        self._check_status_field(payload)
        return self._keyed_call("PUT", self.description.detail_template, key, payload=payload)


class _Uploadable(Resource):
    __slots__ = ()

    def upload_attachments(self, key: int | str, files: Iterable[FileSpec]) -> Record:
        """Stream files as multipart field ``files`` (one part each); returns the record."""
        files = list(files)
        if not files:
            raise ValueError("upload_attachments needs at least one file.")
        return self._keyed_call("POST", self.description.attachments_template, key, files=files)


class _UsageCapable(Resource):
    __slots__ = ()

    _USAGE = f"{API_PREFIX}/contracts/{{contract_id}}/usage/"
    _UPSERT = f"{API_PREFIX}/contracts/{{contract_id}}/usage/bulk-upsert/"

    def _all_usage(self, contract_id: int | str) -> tuple[list[Record], Any]:
        answer = self.transport.request("GET", self._USAGE, {"contract_id": contract_id})
        return answer.parse_records(), answer.info

    def list_usage(
        self,
        contract_id: int | str,
        filters: Mapping[str, Any] | None = None,
        limit: int = MAX_LIMIT,
        offset: int = 0,
    ) -> Page:
        """A page of a contract's usage records.

        The usage endpoint is not paginated and takes no filters in v2: it returns every
        record, so ``filters`` (field -> value or list of values) and the page window are
        applied here, after one request.
        """
        _check_limit(limit, offset)
        records, info = self._all_usage(contract_id)
        usage = [record for record in records if _matches(record, filters)]
        return Page(usage[offset : offset + limit], len(usage), limit, offset, info)

    def iterate_usage(
        self, contract_id: int | str, filters: Mapping[str, Any] | None = None
    ) -> Iterator[Record]:
        records, _info = self._all_usage(contract_id)
        for record in records:
            if _matches(record, filters):
                yield record

    def bulk_upsert_usage(self, contract_id: int | str, payload: Mapping[str, Any]) -> list[Record]:
        """Create/update usage lines (``{"items": [...]}``); may invoice, so never retried."""
        if not isinstance(payload, Mapping) or "items" not in payload:
            raise ValueError('A usage batch is a mapping with an "items" list.')
        answer = self.transport.request(
            "POST", self._UPSERT, {"contract_id": contract_id}, payload=payload
        )
        return answer.parse_records()


def _matches(record: Record, filters: Mapping[str, Any] | None) -> bool:
    """Equality filtering of usage records (a list of values means "any of")."""
    for name, wanted in (filters or {}).items():
        values = wanted if isinstance(wanted, list | tuple | set | frozenset) else [wanted]
        accepted = {query_value(value) for value in values if not is_blank(value)}
        actual = record.get(name)
        if accepted and (actual is None or query_value(actual) not in accepted):
            return False
    return True


_MIXINS = {
    LIST: _Listable,
    GET: _Gettable,
    CREATE: _Creatable,
    UPDATE: _Updatable,
    UPLOAD: _Uploadable,
    USAGE: _UsageCapable,
}


def _class_for(description: ResourceDescription) -> type[Resource]:
    bases = tuple(_MIXINS[c] for c in CAPABILITIES if c in description.capabilities)
    class_name = "".join(part.title() for part in description.name.split("_")) + "Resource"
    return type(class_name, bases or (Resource,), {"__slots__": ()})


RESOURCE_CLASSES: dict[str, type[Resource]] = {d.name: _class_for(d) for d in RESOURCES}


def build_resources(transport: Transport) -> dict[str, Resource]:
    return {d.name: RESOURCE_CLASSES[d.name](transport, d) for d in RESOURCES}
