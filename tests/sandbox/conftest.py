"""Helpers for the sandbox's own tests: an HTTP session with the API key, and sample bodies."""

import pytest
import requests


class Api:
    """Tiny HTTP helper bound to the sandbox: ``api.get("customer-refunds/", params=...)``."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.base = f"{sandbox.url}/public/v2/"
        self.session = requests.Session()
        self.session.headers["X-API-KEY"] = sandbox.api_key

    def url(self, path: str) -> str:
        return self.base + path.lstrip("/")

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url(path), timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.url(path), timeout=60, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.session.put(self.url(path), timeout=30, **kwargs)


@pytest.fixture
def api(sandbox):
    sandbox.clear_faults()
    return Api(sandbox)


@pytest.fixture
def fresh_sandbox(sandbox):
    """The session sandbox, back at the seed with no faults."""
    sandbox.reset()
    sandbox.clear_faults()
    sandbox.clear_log()
    yield sandbox
    sandbox.clear_faults()


def refund_body(**overrides) -> dict:
    body = {
        "date": "2026-10-15",
        "company_id": 1,
        "customer_id": 101,
        "account_number": 11000,
        "currency_iso_4217_code": "USD",
        "exchange_rate": "1",
        "memo": "Refund of duplicate payment",
        "check_number": "100234",
        "payment_method_id": 1,
        "items": [
            {"customer_prepayment_number": None, "amount": "120.50", "position": 0},
            {"amount": 79.5, "position": 1},
        ],
    }
    body.update(overrides)
    return body


def deposit_body(**overrides) -> dict:
    body = {
        "date": "2026-10-16",
        "company_id": 1,
        "account_number": 11000,
        "currency_iso_4217_code": "USD",
        "exchange_rate": 1,
        "memo": "Lockbox deposit",
        "items": [
            {"position": 0, "customer_id": 102, "account_number": 12100, "amount": "250.00"},
            {"position": 1, "customer_id": 103, "description": "Cheque 5521", "amount": "100"},
        ],
    }
    body.update(overrides)
    return body


def credit_body(**overrides) -> dict:
    body = {
        "date": "2026-10-17",
        "company_id": 3,
        "customer_id": 135,
        "currency_iso_4217_code": "GBP",
        "exchange_rate": "1",
        "memo": "Credit for damaged shipment",
        "items": [
            {"item_id": 309, "position": 0, "quantity": "2", "rate": "249.00"},
            {
                "item_id": 304,
                "position": 1,
                "quantity": 1.5,
                "rate": "175",
                "tax": {"code": "GB-VAT-20", "rate": "20", "amount": "52.50"},
            },
        ],
    }
    body.update(overrides)
    return body


def contract_body(**overrides) -> dict:
    body = {
        "name": "Acme Logistics platform agreement",
        "company_id": 1,
        "customer_id": 101,
        "currency_iso_4217_code": "USD",
        "date": "2026-10-01",
        "start_date": "2026-10-01",
        "end_date": "2027-09-30",
        "status": "active",
        "obligations": [
            {"item_id": 301, "quantity": "10", "rate": "1200", "position": 0},
            {
                "item_id": 307,
                "quantity": "1",
                "rate": "2.5",
                "position": 1,
                "recognition_strategy": "usage",
            },
        ],
    }
    body.update(overrides)
    return body
