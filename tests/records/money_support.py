"""Helpers for the money-rules tests: customers and credits in the sandbox, and a new refund's
form data as the portal's page gives it out."""

from __future__ import annotations

import re

from tests.records.edit_support import refund_form_data


def customer_id(sandbox, name: str) -> int:
    for customer in sandbox.store.collection("customers").values():
        if customer["name"] == name:
            return customer["id"]
    raise LookupError(name)


def make_credit(
    sandbox,
    *,
    customer: int,
    amount: str,
    company_id: int = 1,
    currency: str = "USD",
    status: str = "posted",
    rate: str = "1",
) -> int:
    """A customer credit made in DualEntry (outside the portal): its number."""
    credit = sandbox.outside.create(
        "customer-credits",
        {
            "date": "2026-05-02",
            "customer_id": customer,
            "company_id": company_id,
            "currency_iso_4217_code": currency,
            "exchange_rate": rate,
            "memo": "Service credit",
            "items": [{"item_id": 301, "quantity": "1", "rate": amount, "position": 0}],
            "record_status": status,
        },
    )
    return credit["number"]


def new_token(client, slug: str = "refunds") -> str:
    html = client.get(f"/{slug}/new/").content.decode()
    return re.search(r'name="form_token" value="([^"]*)"', html).group(1)


def refund_form(client, *, customer: int, lines: list[dict], blank: int = 1, **header) -> dict:
    """A new refund's form data for `customer` with `lines`, under a fresh form token, dated
    2026-11-02 and paying nothing from the bank; `header` replaces any field."""
    defaults = {
        "date": "2026-11-02",
        "transaction_date": "",
        "memo": "Refund",
        "bank_or_credit_card_amount": "0",
    }
    token = new_token(client)
    return refund_form_data(
        token, customer_id=customer, lines=lines, blank=blank, **{**defaults, **header}
    )
