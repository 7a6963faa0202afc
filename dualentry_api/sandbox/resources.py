"""The resources the sandbox serves, and list filtering driven by the spec's parameters.

Every list filter comes from the spec: the query parameters an operation declares (with their
schemas) and the non-standard ``q`` key that names the server-side lookup
(``company_id__in``, ``transaction__date__gte``, ``customer_deposit_lines__customer_id__in``).
The lookup is applied to the stored record: ``__in`` for arrays, ``__gte``/``__lte`` for dates,
``__icontains``/``__iexact`` for text, ``__isnull`` for the ``no_*`` flags, equality otherwise.
A parameter whose field the sandbox does not keep (``integration_sources``, ``approval_status``
on records without approvals, ...) is accepted and has no effect. ``search`` matches a
case-insensitive substring of the resource's ``search_fields``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from dualentry_api import spec

API_PREFIX = "/public/v2/"
MAX_LIMIT = 100


@dataclass(frozen=True)
class Resource:
    name: str
    key_field: str = "id"
    search_fields: tuple[str, ...] = ("name",)
    default_ordering: str = "id"
    extra_filters: dict[str, str] = field(default_factory=dict)

    @property
    def list_path(self) -> str:
        return f"{API_PREFIX}{self.name}/"

    @property
    def detail_template(self) -> str:
        list_path = self.list_path
        for template in spec.load_spec()["paths"]:
            if template.startswith(list_path) and template.count("/") == list_path.count("/") + 1:
                return template
        return ""

    @property
    def list_item_schema(self) -> dict:
        paged = spec.operation_for("GET", self.list_path).response_schema(200)
        paged = spec.load_spec()["components"]["schemas"][paged["$ref"].rsplit("/", 1)[-1]]
        return paged["properties"]["items"]["items"]

    @property
    def detail_schema(self) -> dict | None:
        if not self.detail_template:
            return None
        operation = spec.operation_for("GET", self.detail_template)
        return operation.response_schema(200) if operation else None


TRANSACTION_SEARCH = ("number", "memo", "customer_name", "company_name", "check_number")

RESOURCES: dict[str, Resource] = {
    resource.name: resource
    for resource in (
        Resource("customer-refunds", "number", TRANSACTION_SEARCH),
        Resource("customer-deposits", "number", ("number", "memo", "company_name")),
        Resource("customer-credits", "number", ("number", "memo", "customer_name")),
        Resource("contracts", "id", ("number", "name", "memo", "customer_name"), "-updated_at"),
        Resource("companies", "id", ("name",), "-updated_at"),
        Resource("customers", "id", ("name", "email", "unique_id"), "-updated_at"),
        Resource("accounts", "number", ("name", "number", "description"), "number"),
        Resource("items", "id", ("name", "sku", "description"), "-updated_at"),
        Resource("vendors", "id", ("name", "email", "unique_id"), "-updated_at"),
        Resource("classifications", "id", ("name",), "-updated_at"),
        Resource("classifications-lines", "id", ("name", "classification_name"), "-id"),
        Resource("custom-fields", "id", ("name", "description"), "-updated_at"),
        Resource("vat-rates", "id", ("name", "country_code"), "id"),
        Resource("gst-tax-rates", "id", ("name", "country_code"), "id"),
        Resource("invoices", "number", TRANSACTION_SEARCH),
        Resource("cash-sales", "number", TRANSACTION_SEARCH),
        Resource("customer-payments", "number", TRANSACTION_SEARCH),
        Resource("customer-prepayments", "number", TRANSACTION_SEARCH),
        Resource("vendor-refunds", "number", ("number", "memo", "vendor_name", "check_number")),
        Resource("sales-orders", "number", ("number", "memo", "customer_name")),
    )
}

# What the store keeps: every resource, plus usage lines and attachment metadata, by key.
COLLECTIONS = (*RESOURCES, "contract-usage", "attachments")
KEY_FIELDS = {name: resource.key_field for name, resource in RESOURCES.items()}
KEY_FIELDS.update({"contract-usage": "id", "attachments": "id"})

# Line collections named in ``q`` lookups are the stored record's ``items``.
_LOOKUP_ALIASES = {
    "customer_deposit_lines": "items",
    "customer_payment_lines": "items",
    "vendor_refund_lines": "items",
    "invoice__number": "invoice_number",
    "customer_credit__number": "customer_credit_number",
    "company__id": "company_id",
    "address_obj__state": "state",
    "address__state": "state",
    "transaction__date": "date",
}
_LOOKUPS = ("in", "gte", "lte", "icontains", "iexact", "isnull")


class QueryError(ValueError):
    """A query parameter the spec would reject; ``errors`` is in the 400 error shape."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(json.dumps(errors))
        self.errors = errors


@dataclass(frozen=True)
class Filter:
    name: str
    field_path: tuple[str, ...]
    lookup: str
    value: Any


@cache
def _query_parameters(template: str) -> dict[str, dict]:
    operation = spec.operation_for("GET", template)
    return operation.query_parameters if operation else {}


@cache
def _raw_q(template: str) -> dict[str, str]:
    parameters = spec.raw_spec()["paths"].get(template, {}).get("get", {}).get("parameters", [])
    return {
        parameter["name"]: parameter["schema"]["q"]
        for parameter in parameters
        if parameter.get("in") == "query" and "q" in parameter.get("schema", {})
    }


def _base_schema(schema: dict) -> dict:
    """The non-null branch of a preprocessed nullable parameter schema."""
    if "anyOf" in schema:
        branches = [branch for branch in schema["anyOf"] if branch.get("type") != "null"]
        if len(branches) == 1:
            return branches[0]
    return schema


def _coerce(name: str, schema: dict, raw_values: list[str]) -> Any:
    schema = _base_schema(schema)
    kind = schema.get("type")
    if kind == "array":
        item_schema = schema.get("items", {})
        values = [part for raw in raw_values for part in raw.split(",") if part != ""]
        return [_coerce_one(name, item_schema, value) for value in values]
    return _coerce_one(name, schema, raw_values[-1])


def _coerce_one(name: str, schema: dict, raw: str) -> Any:
    kind = _base_schema(schema).get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise QueryError({name: [f"{raw!r} is not a whole number."]}) from None
    if kind == "boolean":
        lowered = raw.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise QueryError({name: [f"{raw!r} is not true or false."]})
    return raw


def _field_path(name: str, q: str | None, kind: str) -> tuple[tuple[str, ...], str]:
    if not q:
        return (name,), "in" if kind == "array" else "exact"
    parts = q.split("__")
    lookup = parts[-1] if parts[-1] in _LOOKUPS else "exact"
    if lookup != "exact":
        parts = parts[:-1]
    if parts and parts[-1] == "date" and len(parts) > 1 and parts[0] != "transaction":
        parts = parts[:-1]  # created_at__date: compare the date part of a timestamp
    joined = "__".join(parts)
    for alias, replacement in _LOOKUP_ALIASES.items():
        joined = joined.replace(alias, replacement)
    if joined.startswith("transaction__"):
        joined = joined[len("transaction__") :]
    return tuple(joined.split("__")), lookup


def parse_filters(
    resource: Resource, query: dict[str, list[str]]
) -> tuple[list[Filter], str | None, int, int]:
    """Filters, ordering, limit and offset from a list request's query string."""
    parameters = _query_parameters(resource.list_path)
    q_lookups = _raw_q(resource.list_path)
    filters: list[Filter] = []
    for name, raw_values in query.items():
        parameter = parameters.get(name)
        if parameter is None or name in ("limit", "offset", "ordering"):
            continue
        schema = parameter["schema"]
        value = _coerce(name, schema, raw_values)
        problems = spec.violations(schema, value)
        if problems:
            raise QueryError({name: [problem.message for problem in problems]})
        kind = _base_schema(schema).get("type", "")
        if name == "search":
            filters.append(Filter(name, (), "search", str(value).lower()))
            continue
        path, lookup = _field_path(name, q_lookups.get(name), kind)
        if name.startswith("no_") and lookup == "isnull":
            path = (path[0] + "_id",)
        filters.append(Filter(name, path, lookup, value))
    ordering = None
    if "ordering" in parameters:
        ordering = (query.get("ordering") or [None])[-1] or resource.default_ordering
    limit = _int_param(query, "limit", 100, minimum=1)
    offset = _int_param(query, "offset", 0, minimum=0)
    return filters, ordering, min(limit, MAX_LIMIT), offset


def _int_param(query: dict[str, list[str]], name: str, default: int, *, minimum: int) -> int:
    raw = (query.get(name) or [None])[-1]
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError({name: [f"{raw!r} is not a whole number."]}) from None
    if value < minimum:
        raise QueryError({name: [f"Ensure this value is at least {minimum}."]})
    return value


def _values_at(record: dict, path: tuple[str, ...]) -> list[Any] | None:
    """Values at ``path`` (lists fan out); ``None`` when the record does not keep the field."""
    current: list[Any] = [record]
    for part in path:
        if not current:
            return []
        following = []
        known = False
        for value in current:
            if isinstance(value, dict) and part in value:
                known = True
                found = value[part]
                following.extend(found if isinstance(found, list) and part == "items" else [found])
            elif isinstance(value, dict) and part == "items":
                known = True
        if not known:
            return None
        current = following
    return current


def _match(values: list[Any], lookup: str, expected: Any) -> bool:
    for value in values:
        if lookup == "in" and value in expected:
            return True
        if lookup == "exact" and value == expected:
            return True
        if lookup == "isnull" and (value is None) == bool(expected):
            return True
        if value is None:
            continue
        text = str(value)
        if lookup == "gte" and text[: len(str(expected))] >= str(expected):
            return True
        if lookup == "lte" and text[: len(str(expected))] <= str(expected):
            return True
        if lookup == "icontains" and str(expected).lower() in text.lower():
            return True
        if lookup == "iexact" and str(expected).lower() == text.lower():
            return True
    return False


def matches(resource: Resource, record: dict, filters: list[Filter]) -> bool:
    for record_filter in filters:
        if record_filter.lookup == "search":
            haystack = " ".join(
                str(record.get(name) or "") for name in resource.search_fields
            ).lower()
            if record_filter.value not in haystack:
                return False
            continue
        values = _values_at(record, record_filter.field_path)
        if values is None:
            continue
        if not _match(values, record_filter.lookup, record_filter.value):
            return False
    return True


_ORDERING_ALIASES = {"id": "internal_id"}
_ORDERING_FIELD = re.compile(r"^-?[a-z_][a-z0-9_]*$")


def sort_records(records: list, ordering: str | None, view=lambda record: record) -> list:
    """Sort by a comma-separated ``ordering`` (``-`` for descending); raises QueryError.

    ``view(record)`` gives the dict whose fields are compared. Records without the field go
    last, whatever the direction.
    """
    if not ordering:
        return records
    keys = []
    for key in (part.strip() for part in ordering.split(",") if part.strip()):
        name = key.lstrip("-")
        if records and not any(name in view(record) for record in records):
            # Transactions expose their id as ``internal_id``.
            name = _ORDERING_ALIASES.get(name, name)
        if not _ORDERING_FIELD.match(key) or (
            records and not any(name in view(record) for record in records)
        ):
            raise QueryError({"ordering": [f"Cannot order by {key!r}."]})
        keys.append(("-" if key.startswith("-") else "") + name)
    for key in reversed(keys):
        name = key.lstrip("-")
        present = [record for record in records if view(record).get(name) is not None]
        missing = [record for record in records if view(record).get(name) is None]
        present.sort(key=lambda record, name=name: view(record)[name], reverse=key[0] == "-")
        records = present + missing
    return records
