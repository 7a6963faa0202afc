"""Turning validated request bodies into stored sandbox records (create, PUT, usage upsert).

Each ``build_*`` function receives a body that already passed the spec's request schema, runs
the business checks the real API makes (referenced company, customer, account, item... exist),
and returns either a stored record or the field errors for a 422. Error keys follow the format
documented in :mod:`dualentry_api.sandbox.app` (``"company_id"``, ``"items[0].item_id"``,
``"__all__"``).

Totals are computed from the lines, numbers and ids are assigned by the store, and a body
without ``record_status`` posts the record (the API's default is ``"posted"``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dualentry_api.sandbox.money import money, money_text, plain_text, to_decimal

if TYPE_CHECKING:
    from dualentry_api.sandbox.store import Store

# DualEntry v2 has no payment-method endpoint; the sandbox's records use these ids.
PAYMENT_METHODS: dict[int, str] = {
    1: "Check",
    2: "ACH transfer",
    3: "Wire transfer",
    4: "Credit card",
}

API_ACTOR = {
    "actor_type": "api_key",
    "email": "api@sandbox.dualentry.local",
    "first_name": "Sandbox",
    "last_name": "API key",
}


class FieldErrors(dict):
    """``{key: [message, ...]}`` in the API's 422 ``errors`` shape."""

    def add(self, key: str, message: str) -> None:
        self.setdefault(key, []).append(message)


def actor(timestamp: str, who: dict | None = None) -> dict:
    return {**(who or API_ACTOR), "timestamp": timestamp}


def line_key(index: int, field: str, collection: str = "items") -> str:
    return f"{collection}[{index}].{field}"


def _check_reference(
    store: Store, errors: FieldErrors, collection: str, key_value: Any, key: str, label: str
) -> dict | None:
    if key_value is None:
        return None
    record = store.get(collection, key_value)
    if record is None:
        errors.add(key, f"{label} {key_value} does not exist.")
    return record


def _errors_and_company(store: Store, company_id: Any) -> tuple[FieldErrors, dict | None]:
    """A record's checks start here: a fresh error list, with its company checked first."""
    errors = FieldErrors()
    company = _check_reference(store, errors, "companies", company_id, "company_id", "Company")
    return errors, company


def _check_customer(store: Store, errors: FieldErrors, customer_id: Any) -> dict | None:
    return _check_reference(store, errors, "customers", customer_id, "customer_id", "Customer")


def _check_account(
    store: Store, errors: FieldErrors, number: Any, company: dict | None, key: str
) -> dict | None:
    account = _check_reference(store, errors, "accounts", number, key, "Account")
    if account is not None and company is not None and account["company_id"] != company["id"]:
        errors.add(key, f"Account {number} belongs to another company.")
        return None
    return account


# A line's references to other records: (line field, collection, label in the message).
REFUND_LINE_REFERENCES = (
    ("customer_credit_number", "customer-credits", "Customer credit"),
    ("customer_prepayment_number", "customer-prepayments", "Customer prepayment"),
)
DEPOSIT_LINE_REFERENCES = (
    ("customer_prepayment_number", "customer-prepayments", "Customer prepayment"),
    ("customer_payment_number", "customer-payments", "Customer payment"),
    ("cash_sale_number", "cash-sales", "Cash sale"),
    ("vendor_refund_number", "vendor-refunds", "Vendor refund"),
    ("customer_id", "customers", "Customer"),
    ("vendor_id", "vendors", "Vendor"),
)


def _check_line_references(
    store: Store,
    errors: FieldErrors,
    index: int,
    line: dict,
    references: tuple[tuple[str, str, str], ...],
) -> None:
    for field, collection, label in references:
        _check_reference(store, errors, collection, line.get(field), line_key(index, field), label)


def _check_exchange_rate(errors: FieldErrors, value: Any) -> None:
    if to_decimal(value) <= 0:
        errors.add("exchange_rate", "The exchange rate must be greater than zero.")


def _check_line_amount(errors: FieldErrors, index: int, line: dict) -> None:
    if money(line["amount"]) <= 0:
        errors.add(line_key(index, "amount"), "The amount must be greater than zero.")


def _check_lines_and_attachments(
    store: Store, errors: FieldErrors, body: dict, existing: dict | None, lines: list, noun: str
) -> list[dict]:
    """The checks every transaction ends with: a posted one needs a line, and the attachments
    it names must exist. Returns the attachments to store."""
    if (body.get("record_status") or "posted") == "posted" and not lines:
        errors.add("__all__", f"A posted {noun} needs at least one line.")
    return _attachments(store, errors, body, existing)


def _common_header(
    store: Store,
    resource: str,
    body: dict,
    existing: dict | None,
    company: dict,
    now: str,
) -> dict:
    record_date = body["date"]
    return {
        "internal_id": existing["internal_id"] if existing else store.next_id(),
        "number": existing["number"] if existing else store.next_number(resource),
        "company_id": company["id"],
        "company_name": company["name"],
        "company_currency": company["currency_iso_4217_code"],
        "date": record_date,
        "transaction_date": body.get("transaction_date") or record_date,
        "currency_iso_4217_code": body["currency_iso_4217_code"],
        "exchange_rate": plain_text(body["exchange_rate"]),
        "memo": body.get("memo") or "",
        "record_status": body.get("record_status") or "posted",
        "custom_fields": [],
        "created_by": existing["created_by"] if existing else actor(now),
        "updated_by": actor(now),
        "created_at": existing["created_at"] if existing else now,
        "updated_at": now,
    }


def _attachments(
    store: Store, errors: FieldErrors, body: dict, existing: dict | None
) -> list[dict]:
    """Attachments named in the body (by id); without the key, a PUT keeps the current ones."""
    if "attachments" not in body:
        return list(existing.get("attachments", [])) if existing else []
    kept = []
    for index, attachment in enumerate(body["attachments"]):
        stored = store.get("attachments", attachment["id"])
        if stored is None:
            errors.add(
                line_key(index, "id", "attachments"),
                f"Attachment {attachment['id']} does not exist.",
            )
            continue
        kept.append(store.attachment_summary(stored))
    return kept


def build_customer_refund(
    store: Store, body: dict, existing: dict | None, now: str
) -> tuple[dict | None, FieldErrors]:
    errors, company = _errors_and_company(store, body["company_id"])
    customer = _check_customer(store, errors, body["customer_id"])
    _check_account(store, errors, body["account_number"], company, "account_number")
    _check_exchange_rate(errors, body["exchange_rate"])
    payment_method_id = body.get("payment_method_id")
    if payment_method_id is not None and payment_method_id not in PAYMENT_METHODS:
        errors.add("payment_method_id", f"Payment method {payment_method_id} does not exist.")
    lines = body.get("items", [])
    for index, line in enumerate(lines):
        _check_line_references(store, errors, index, line, REFUND_LINE_REFERENCES)
        _check_line_amount(errors, index, line)
    attachments = _check_lines_and_attachments(store, errors, body, existing, lines, "refund")
    if errors:
        return None, errors
    items = [
        {
            "id": line.get("id"),
            "customer_credit_number": line.get("customer_credit_number"),
            "customer_prepayment_number": line.get("customer_prepayment_number"),
            "amount": money_text(line["amount"]),
            "position": line["position"],
            "bank_or_credit_card_amount": "0.00",
        }
        for line in sorted(lines, key=lambda line: line["position"])
    ]
    record = _common_header(store, "customer-refunds", body, existing, company, now)
    record.update(
        {
            "transaction_ids": existing["transaction_ids"] if existing else [store.next_id()],
            "account_number": body["account_number"],
            "customer_id": customer["id"],
            "customer_name": customer["name"],
            "check_number": body.get("check_number") or "",
            "bank_or_credit_card_amount": money_text(body.get("bank_or_credit_card_amount")),
            "amount": money_text(sum((money(line["amount"]) for line in items), Decimal(0))),
            "payment_method_id": payment_method_id,
            "paper_check_status": "not_printed" if payment_method_id == 1 else None,
            "items": items,
            "attachments": attachments,
            "classifications": [],
        }
    )
    return record, errors


def build_customer_deposit(
    store: Store, body: dict, existing: dict | None, now: str
) -> tuple[dict | None, FieldErrors]:
    errors, company = _errors_and_company(store, body["company_id"])
    account = _check_account(store, errors, body["account_number"], company, "account_number")
    _check_exchange_rate(errors, body["exchange_rate"])
    lines = body["items"]
    line_accounts = {}
    for index, line in enumerate(lines):
        _check_line_references(store, errors, index, line, DEPOSIT_LINE_REFERENCES)
        line_accounts[index] = _check_account(
            store, errors, line.get("account_number"), company, line_key(index, "account_number")
        )
        _check_line_amount(errors, index, line)
    attachments = _check_lines_and_attachments(store, errors, body, existing, lines, "deposit")
    if errors:
        return None, errors
    existing_line_ids = {line["id"] for line in existing["items"]} if existing else set()
    items = []
    for index, line in sorted(enumerate(lines), key=lambda pair: pair[1]["position"]):
        line_account = line_accounts.get(index)
        line_id = line.get("id")
        items.append(
            {
                "id": line_id if line_id in existing_line_ids else store.next_id(),
                "position": line["position"],
                "amount": money_text(line["amount"]),
                "customer_prepayment_number": line.get("customer_prepayment_number"),
                "customer_payment_number": line.get("customer_payment_number"),
                "cash_sale_number": line.get("cash_sale_number"),
                "vendor_refund_number": line.get("vendor_refund_number"),
                "account_number": line.get("account_number"),
                "account_id": line_account["id"] if line_account else None,
                "description": line.get("description") or "",
                "customer_id": line.get("customer_id"),
                "vendor_id": line.get("vendor_id"),
                "classifications": [],
            }
        )
    record = _common_header(store, "customer-deposits", body, existing, company, now)
    record.update(
        {
            "transaction_id": existing["transaction_id"] if existing else store.next_id(),
            "account_number": body["account_number"],
            "account_id": account["id"],
            "check_number": body.get("check_number") or "",
            "amount": money_text(sum((money(line["amount"]) for line in items), Decimal(0))),
            "items": items,
            "attachments": attachments,
        }
    )
    return record, errors


def build_customer_credit(
    store: Store, body: dict, existing: dict | None, now: str
) -> tuple[dict | None, FieldErrors]:
    errors, company = _errors_and_company(store, body["company_id"])
    customer = _check_customer(store, errors, body.get("customer_id"))
    _check_exchange_rate(errors, body["exchange_rate"])
    _check_reference(
        store, errors, "invoices", body.get("invoice_number"), "invoice_number", "Invoice"
    )
    _check_reference(
        store, errors, "cash-sales", body.get("cash_sale_number"), "cash_sale_number", "Cash sale"
    )
    _check_reference(store, errors, "contracts", body.get("contract_id"), "contract_id", "Contract")
    lines = body.get("items", [])
    for index, line in enumerate(lines):
        _check_reference(
            store, errors, "items", line["item_id"], line_key(index, "item_id"), "Item"
        )
        if to_decimal(line["quantity"]) <= 0:
            errors.add(line_key(index, "quantity"), "The quantity must be greater than zero.")
        if to_decimal(line["rate"]) < 0:
            errors.add(line_key(index, "rate"), "The rate cannot be negative.")
    attachments = _check_lines_and_attachments(store, errors, body, existing, lines, "credit")
    if errors:
        return None, errors
    items = []
    for line in sorted(lines, key=lambda line: line["position"]):
        item = store.get("items", line["item_id"])
        net = money(to_decimal(line["quantity"]) * to_decimal(line["rate"]))
        tax = line.get("tax")
        tax_amount = money(tax["amount"]) if tax else Decimal("0.00")
        items.append(
            {
                "item_id": line["item_id"],
                "item_type": item["item_type"],
                "quantity": plain_text(line["quantity"]),
                "rate": plain_text(line["rate"]),
                "position": line["position"],
                "memo": line.get("memo") or "",
                "net_amount": f"{net:f}",
                "tax_amount": f"{tax_amount:f}",
                "gross_amount": f"{net + tax_amount:f}",
                "amount": f"{net:f}",
                "classifications": line.get("classifications") or [],
                "tax": (
                    {
                        **tax,
                        "rate": plain_text(tax["rate"]),
                        "amount": money_text(tax["amount"]),
                    }
                    if tax
                    else None
                ),
            }
        )
    amount = sum((money(line["gross_amount"]) for line in items), Decimal(0))
    used = money(existing["used_amount"]) if existing else Decimal("0.00")
    record = _common_header(store, "customer-credits", body, existing, company, now)
    record.update(
        {
            "transaction_ids": existing["transaction_ids"] if existing else [store.next_id()],
            "customer_id": customer["id"] if customer else None,
            "customer_name": customer["name"] if customer else None,
            "invoice_number": body.get("invoice_number"),
            "cash_sale_number": body.get("cash_sale_number"),
            "contract_id": body.get("contract_id"),
            "contracted": body.get("contract_id") is not None,
            "bill_to_address": body.get("bill_to_address") or "",
            "ship_to_address": body.get("ship_to_address") or "",
            "billing_address": body.get("billing_address"),
            "shipping_address": body.get("shipping_address"),
            "amount": f"{amount:f}",
            "used_amount": f"{used:f}",
            "remaining_amount": f"{amount - used:f}",
            "items": items,
            "attachments": attachments,
        }
    )
    return record, errors


def _months_between(start: dt.date, end: dt.date) -> int:
    return max(1, (end.year - start.year) * 12 + end.month - start.month)


def contract_metrics(record: dict) -> dict:
    amount = money(record["amount"])
    start = dt.date.fromisoformat(record["start_date"])
    end = dt.date.fromisoformat(record["end_date"]) if record.get("end_date") else None
    months = _months_between(start, end) if end else 12
    mrr = money(amount / months)
    invoiced = money(record.get("amount_invoiced", "0"))
    recognized = money(record.get("revenue_recognized", "0"))
    return {
        "total_contract_value": f"{amount:f}",
        "mrr": f"{mrr:f}",
        "arr": f"{mrr * 12:f}",
        "amount_invoiced": f"{invoiced:f}",
        "invoices_paid": f"{invoiced:f}",
        "revenue_recognized": f"{recognized:f}",
        "unbilled_revenue": f"{amount - invoiced:f}",
        "unrecognized_revenue": f"{amount - recognized:f}",
        "deferred_revenue": f"{max(invoiced - recognized, Decimal(0)):f}",
        "total_discount_amount": record.get("discount_total", "0.00"),
        "total_tax_amount": "0.00",
    }


def build_contract(
    store: Store, body: dict, existing: dict | None, now: str
) -> tuple[dict | None, FieldErrors]:
    errors, company = _errors_and_company(store, body.get("company_id"))
    customer = _check_customer(store, errors, body.get("customer_id"))
    obligations_in = body.get("obligations", [])
    for index, obligation in enumerate(obligations_in):
        _check_reference(
            store,
            errors,
            "items",
            obligation.get("item_id"),
            line_key(index, "item_id", "obligations"),
            "Item",
        )
    today = now[:10]
    start_date = body.get("start_date") or body.get("date") or today
    end_date = body.get("end_date")
    if end_date is not None and end_date < start_date:
        errors.add("end_date", "The end date cannot be before the start date.")
    if errors:
        return None, errors
    obligations = []
    discount_total = Decimal(0)
    for obligation in sorted(obligations_in, key=lambda line: line.get("position", 0)):
        quantity = to_decimal(obligation.get("quantity"), "1")
        rate = to_decimal(obligation.get("rate"))
        gross = money(quantity * rate)
        discount_value = obligation.get("discount_value")
        if obligation.get("discount_type") == "PERCENTAGE":
            discount = money(gross * to_decimal(discount_value) / 100)
        elif obligation.get("discount_type") == "FIXED":
            discount = money(discount_value)
        else:
            discount = Decimal("0.00")
        discount_total += discount
        item = store.get("items", obligation["item_id"]) if obligation.get("item_id") else None
        obligations.append(
            {
                **obligation,
                "id": store.next_id(),
                "item_type": item["item_type"] if item else None,
                "quantity": plain_text(quantity),
                "rate": plain_text(rate),
                "standalone_selling_price": (
                    plain_text(obligation["standalone_selling_price"])
                    if obligation.get("standalone_selling_price") is not None
                    else None
                ),
                "discount_value": (
                    plain_text(discount_value) if discount_value is not None else None
                ),
                "recognition_strategy": obligation.get("recognition_strategy", "straight_line"),
                "position": obligation.get("position", 0),
                "memo": obligation.get("memo") or "",
                "is_incomplete": False,
                "amount": f"{gross:f}",
                "discount_amount": f"{discount:f}",
                "net_amount": f"{gross - discount:f}",
                "qualifies_for_mrr": obligation.get("recognition_strategy")
                in (None, "straight_line", "daily_prorata"),
            }
        )
    amount = sum((money(line["net_amount"]) for line in obligations), Decimal(0))
    record_id = existing["id"] if existing else store.next_id()
    record = {
        "id": record_id,
        "number": existing["number"] if existing else store.next_number("contracts"),
        "company_id": company["id"] if company else None,
        "company_name": company["name"] if company else None,
        "company_currency": company["currency_iso_4217_code"] if company else None,
        "customer_id": customer["id"] if customer else None,
        "customer_name": customer["name"] if customer else None,
        "name": body.get("name") or "",
        "currency_iso_4217_code": body.get(
            "currency_iso_4217_code", company["currency_iso_4217_code"] if company else "USD"
        ),
        "memo": body.get("memo") or "",
        "date": body.get("date") or today,
        "term_id": body.get("term_id"),
        "contract_template_id": body.get("contract_template_id"),
        "start_date": start_date,
        "end_date": end_date,
        "bill_to_address": body.get("bill_to_address") or "",
        "ship_to_address": body.get("ship_to_address") or "",
        "billing_address": body.get("billing_address"),
        "shipping_address": body.get("shipping_address"),
        "billing_start_date": body.get("billing_start_date") or start_date,
        "billing_frequency": body.get("billing_frequency") or "monthly",
        "billing_interval": body.get("billing_interval", 1),
        "recognition_start_date": body.get("recognition_start_date") or start_date,
        "recognition_frequency": body.get("recognition_frequency") or "monthly",
        "recognition_interval": body.get("recognition_interval", 1),
        "is_incomplete": False,
        "cutover_date": body.get("cutover_date"),
        "status": body["status"],
        "record_status": "archived" if body["status"] == "archived" else "posted",
        "is_locked": body["status"] in ("completed", "terminated", "archived"),
        "revenue_recognitions": [],
        "invoices": [],
        "obligations": obligations,
        "amount": f"{amount:f}",
        "discount_total": f"{discount_total:f}",
        "contract_attachments": body.get("contract_attachments", []),
        "change_orders_attachments": body.get("change_orders_attachments", []),
        "custom_fields": [],
        "created_by": existing["created_by"] if existing else actor(now),
        "updated_by": actor(now),
        "created_at": existing["created_at"] if existing else now,
        "updated_at": now,
    }
    for name in ("prior_recognized_amount", "default_early_termination_fee"):
        if body.get(name) is not None:
            record[name] = money_text(body[name])
    record["metrics"] = contract_metrics(record)
    return record, errors


def build_usage(
    store: Store, contract: dict, body: dict, now: str
) -> tuple[list[dict] | None, FieldErrors]:
    """Upsert usage lines of one contract: a line with a known ``id`` is replaced."""
    errors = FieldErrors()
    obligations = {obligation["id"]: obligation for obligation in contract["obligations"]}
    usage = store.collection("contract-usage")
    for index, line in enumerate(body["items"]):
        if line["obligation_id"] not in obligations:
            errors.add(
                line_key(index, "obligation_id"),
                f"Obligation {line['obligation_id']} is not part of contract {contract['id']}.",
            )
        line_id = line.get("id")
        if line_id is not None:
            current = usage.get(line_id)
            if current is None or current["contract_id"] != contract["id"]:
                errors.add(line_key(index, "id"), f"Usage record {line_id} does not exist.")
    if errors:
        return None, errors
    saved = []
    for line in body["items"]:
        obligation = obligations[line["obligation_id"]]
        rate = line.get("rate")
        effective_rate = to_decimal(rate if rate is not None else obligation.get("rate"))
        quantity = to_decimal(line["quantity"])
        current = usage.get(line.get("id")) if line.get("id") is not None else None
        saved.append(
            {
                "id": current["id"] if current else store.next_id(),
                "contract_id": contract["id"],
                "obligation_id": line["obligation_id"],
                "usage_date": line["usage_date"],
                "quantity": plain_text(quantity),
                "rate": plain_text(rate) if rate is not None else None,
                "amount": money_text(quantity * effective_rate),
                "effective_rate": plain_text(effective_rate),
                "revenue_recognition_id": None,
                "status": line.get("status") or "draft",
                "invoice_status": None,
                "memo": line.get("memo") or "",
                "created_at": current["created_at"] if current else now,
                "updated_at": now,
                "classifications": line.get("classifications") or [],
            }
        )
    return saved, errors


BUILDERS = {
    "customer-refunds": build_customer_refund,
    "customer-deposits": build_customer_deposit,
    "customer-credits": build_customer_credit,
    "contracts": build_contract,
}
