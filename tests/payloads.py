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
