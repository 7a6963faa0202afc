"""Request payloads the portal builds, and response bodies synthesised from the spec.

``response_example(schema)`` fills every property of an output schema (first enum value,
``"1234.50"`` for decimal strings, ISO dates...), so each resource's answer has all its typed
fields; the tests check each example against the spec before using it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from dualentry_api import spec

DATE = dt.date(2026, 3, 31)


def refund_payload(**overrides: Any) -> dict[str, Any]:
    return {
        "date": DATE,
        "transaction_date": dt.date(2026, 3, 30),
        "company_id": 1,
        "customer_id": 7,
        "account_number": 1000,
        "currency_iso_4217_code": "EUR",
        "exchange_rate": Decimal("1.0834000000000001"),
        "memo": "Refund of duplicate payment",
        "check_number": "",
        "bank_or_credit_card_amount": Decimal("250.10"),
        "payment_method_id": 2,
        "items": [
            {"customer_credit_number": 31, "amount": Decimal("200.10"), "position": 0},
            {"id": 88, "customer_prepayment_number": 12, "amount": Decimal("50"), "position": 1},
        ],
        "attachments": [{"id": 5, "file_name": "scan.pdf", "file_size": 1024}],
        "record_status": "draft",
        **overrides,
    }


def deposit_payload(**overrides: Any) -> dict[str, Any]:
    return {
        "date": DATE,
        "company_id": 1,
        "account_number": 1010,
        "currency_iso_4217_code": "USD",
        "exchange_rate": Decimal("1"),
        "memo": "Week 13 deposit",
        "items": [
            {"position": 0, "customer_payment_number": 401, "customer_id": 7,
             "amount": Decimal("1200.00")},
            {"position": 1, "account_number": 4900, "description": "Bank interest",
             "amount": Decimal("0.37")},
        ],
        "record_status": "draft",
        **overrides,
    }  # fmt: skip


def credit_payload(**overrides: Any) -> dict[str, Any]:
    return {
        "date": DATE,
        "company_id": 2,
        "customer_id": 9,
        "invoice_number": 1003,
        "currency_iso_4217_code": "GBP",
        "exchange_rate": Decimal("1.2650"),
        "memo": "Service credit",
        "items": [
            {"position": 0, "item_id": 3, "rate": Decimal("99.950000"), "quantity": Decimal("2"),
             "memo": "Outage March", "tax": None},
        ],
        "record_status": "draft",
        **overrides,
    }  # fmt: skip


def contract_payload(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Support 2026",
        "date": DATE,
        "start_date": dt.date(2026, 4, 1),
        "end_date": dt.date(2027, 3, 31),
        "company_id": 1,
        "customer_id": 7,
        "currency_iso_4217_code": "USD",
        "term_id": 1,
        "status": "draft",
        "obligations": [
            {"item_id": 3, "quantity": Decimal("12"), "rate": Decimal("100.0000000001"),
             "position": 0, "memo": "Monthly support"},
        ],
        "prior_recognized_amount": None,
        **overrides,
    }  # fmt: skip


def usage_payload() -> dict[str, Any]:
    return {
        "items": [
            {"obligation_id": 11, "usage_date": DATE, "quantity": Decimal("3.5"),
             "rate": Decimal("0.1234567891"), "memo": "API calls"},
            {"id": 4, "obligation_id": 11, "usage_date": dt.date(2026, 3, 1),
             "quantity": Decimal("1"), "rate": None, "status": None},
        ]
    }  # fmt: skip


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec.component_schema(schema["$ref"].rsplit("/", 1)[-1])
    return schema


def response_example(schema: dict | None, depth: int = 0) -> Any:
    """A value valid against a (preprocessed) output schema, filling every property."""
    if schema is None:
        return None
    schema = _resolve(schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in schema:
            branches = [b for b in schema[combinator] if _resolve(b).get("type") != "null"]
            return response_example(branches[0] if branches else None, depth)
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "date":
            return "2026-03-31"
        if schema.get("format") == "date-time":
            return "2026-03-31T14:05:09.123456+00:00"
        if str(schema.get("pattern", "")).startswith("^(?!^[-+.]*$)"):
            return "1234.50"
        return "text"
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if kind == "array":
        return [] if depth > 3 else [response_example(schema.get("items"), depth + 1)]
    if kind == "object" or "properties" in schema:
        if depth > 5:
            return {
                name: response_example(schema["properties"][name], depth + 1)
                for name in schema.get("required", [])
            }
        return {
            name: response_example(sub, depth + 1)
            for name, sub in schema.get("properties", {}).items()
        }
    return None
