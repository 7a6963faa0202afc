"""Request bodies the tests send to DualEntry (the sandbox) directly, not through the portal."""

from __future__ import annotations

from typing import Any


def refund_payload_from(refund: Any, **changes: Any) -> dict:
    """The PUT/POST body for a refund as the API returned it: its input fields, lines
    re-numbered from 0, `changes` on top."""
    return {
        "date": refund.date,
        "transaction_date": refund.transaction_date,
        "company_id": refund.company_id,
        "customer_id": refund.customer_id,
        "account_number": refund.account_number,
        "currency_iso_4217_code": refund.currency_iso_4217_code,
        "exchange_rate": refund.exchange_rate,
        "memo": refund.memo,
        "bank_or_credit_card_amount": refund.bank_or_credit_card_amount,
        "payment_method_id": refund.payment_method_id,
        "items": [
            {
                "customer_credit_number": line.customer_credit_number,
                "customer_prepayment_number": line.customer_prepayment_number,
                "amount": line.amount,
                "position": index,
            }
            for index, line in enumerate(refund.items)
        ],
        "record_status": refund.record_status,
        **changes,
    }


def draft_refund_body(*, memo: str, amount: str = "1875.00", credit_number: int = 1018) -> dict:
    """A draft refund of one credit line for customer 110 of company 1, in USD. Credit 1018 is
    customer 110's, posted, with 13,500.40 left: the money rules hold for several of these."""
    return {
        "date": "2026-11-02",
        "transaction_date": "2026-11-02",
        "company_id": 1,
        "customer_id": 110,
        "account_number": 11010,
        "currency_iso_4217_code": "USD",
        "exchange_rate": "1",
        "memo": memo,
        "payment_method_id": 3,
        "items": [{"customer_credit_number": credit_number, "amount": amount, "position": 0}],
        "record_status": "draft",
    }
