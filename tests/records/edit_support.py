"""Helpers for the edit tests: read a form the way a browser submits it, build line data and
the refund and contract forms several modules post, watch what the sandbox receives, and find
seeded records to point lines at."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _FormReader(HTMLParser):
    """The successful controls of the form with id `record-form`, as a browser would send
    them (checked boxes only, selected options, textarea text; no buttons)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.values: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._first_option: str | None = None
        self._option_value: str | None = None
        self._option_text = ""
        self._textarea: str | None = None
        self._textarea_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and attributes.get("id") == self.form_id:
            self.inside = True
            return
        if not self.inside:
            return
        name = attributes.get("name")
        if tag == "input" and name:
            kind = attributes.get("type", "text")
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                return
            self.values.append((name, attributes.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._select_value, self._first_option = name, None, None
        elif tag == "option" and self._select is not None:
            self._option_value = attributes.get("value")
            self._option_text = ""
            if "selected" in attributes:
                self._select_value = self._option_value
        elif tag == "textarea" and name:
            self._textarea, self._textarea_text = name, ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea_text += data
        elif self._option_value is None and self._select is not None:
            self._option_text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "option" and self._select is not None:
            if self._first_option is None:
                self._first_option = self._option_value or ""
            self._option_value = None
        elif tag == "select" and self._select is not None:
            chosen = self._select_value if self._select_value is not None else self._first_option
            self.values.append((self._select, chosen or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # Browsers drop the one newline that follows <textarea>.
            text = (
                self._textarea_text[1:]
                if self._textarea_text.startswith("\n")
                else (self._textarea_text)
            )
            self.values.append((self._textarea, text))
            self._textarea = None


def form_values(html: str, form_id: str = "record-form") -> dict[str, str]:
    """What submitting the page's record form unchanged would send (one value per name)."""
    reader = _FormReader(form_id)
    reader.feed(html)
    return dict(reader.values)


def with_lines(
    data: dict[str, Any], lines: list[dict[str, Any]], *, initial: int = 0, blank: int = 0
) -> dict[str, Any]:
    """`data` plus formset fields for `lines` (prefix "items") and `blank` empty rows."""
    result = {key: value for key, value in data.items() if not key.startswith("items-")}
    result["items-TOTAL_FORMS"] = str(len(lines) + blank)
    result["items-INITIAL_FORMS"] = str(initial)
    result["items-MIN_NUM_FORMS"] = "0"
    result["items-MAX_NUM_FORMS"] = "1000"
    for index, line in enumerate(lines):
        for name, value in line.items():
            result[f"items-{index}-{name}"] = "" if value is None else str(value)
    return result


def refund_form_data(
    token: str,
    *,
    customer_id: int | str,
    lines: list[dict[str, Any]],
    blank: int = 0,
    **changes: str,
) -> dict[str, Any]:
    """A refund form as a browser posts it: company 1 in USD, paid through the operating bank
    (11000) by ACH (payment method 2), with `lines` and `blank` empty rows; `changes` replace
    any header field."""
    header = {
        "form_token": token,
        "company_id": "1",
        "customer_id": str(customer_id),
        "date": "2025-03-14",
        "transaction_date": "2025-03-12",
        "memo": "Refund for order 7",
        "account_number": "11000",
        "payment_method_id": "2",
        "check_number": "",
        "bank_or_credit_card_amount": "5",
        "currency_iso_4217_code": "USD",
        "exchange_rate": "1",
        **changes,
    }
    return with_lines(header, lines, blank=blank)


def contract_form(
    token: str, *, memo: str, lines: list[dict[str, Any]], blank: int = 0
) -> dict[str, Any]:
    """A contract form as a browser posts it: Bluebird's platform contract of 2025, billed and
    recognised monthly, with `lines` and `blank` empty rows."""
    header = {
        "form_token": token,
        "name": "Bluebird platform 2025",
        "company_id": "1",
        "customer_id": "102",
        "status": "draft",
        "date": "2025-01-01",
        "memo": memo,
        "start_date": "2025-01-01",
        "end_date": "2025-12-31",
        "currency_iso_4217_code": "USD",
        "billing_start_date": "",
        "billing_frequency": "monthly",
        "billing_interval": "1",
        "recognition_start_date": "",
        "recognition_frequency": "monthly",
        "recognition_interval": "1",
        "default_early_termination_fee": "",
        "bill_to_address": "",
        "ship_to_address": "",
    }
    return with_lines(header, lines, blank=blank)


# A contract line for twelve seats: what is typed here reaches the proposal's payload unchanged
# (with its item, 301, as a number there).
SEATS = {
    "quantity": "12",
    "rate": "99.5",
    "memo": "Seats",
    "recognition_strategy": "straight_line",
    "discount_type": "PERCENTAGE",
    "discount_value": "10",
}


def first_number(sandbox, collection: str, **matching: Any) -> int:
    for record in sandbox.store.collection(collection).values():
        if all(record.get(name) == value for name, value in matching.items()):
            return record["number"] if "number" in record else record["id"]
    raise LookupError(f"no {collection} matching {matching}")


def open_source(
    sandbox,
    collection: str,
    *,
    company_id: int = 1,
    customer_id: int | None = None,
    at_least: str = "0.01",
    balance_field: str = "",
) -> dict[str, Any]:
    """A posted record a refund or deposit line may apply (money_rules): of the company (and
    customer), in the company's currency, with at least `at_least` left."""
    from decimal import Decimal

    field = balance_field or (
        "remaining_amount"
        if collection in ("customer-credits", "customer-prepayments")
        else "amount"
    )
    for record in sandbox.store.collection(collection).values():
        if record.get("record_status") != "posted" or record.get("company_id") != company_id:
            continue
        if customer_id is not None and record.get("customer_id") != customer_id:
            continue
        if record.get("currency_iso_4217_code") != record.get("company_currency", "USD"):
            continue
        if Decimal(str(record.get(field) or 0)) >= Decimal(at_least):
            return record
    raise LookupError(f"no open {collection} of company {company_id}, customer {customer_id}")


def sound_draft_refund(sandbox) -> int:
    """A seeded draft refund whose lines keep the money rules (the seed also holds wrong
    ones: other customers' credits, more than a credit has left)."""
    from collections import defaultdict
    from decimal import Decimal

    collections = {
        "customer_credit_number": sandbox.store.collection("customer-credits"),
        "customer_prepayment_number": sandbox.store.collection("customer-prepayments"),
    }
    for refund in sandbox.store.collection("customer-refunds").values():
        if refund["record_status"] != "draft" or not refund["items"]:
            continue
        applied: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        sound = True
        for line in refund["items"]:
            for field, collection in collections.items():
                if line.get(field) is None:
                    continue
                source = collection.get(line[field])
                applied[(field, line[field])] += Decimal(line["amount"])
                sound = (
                    sound
                    and source is not None
                    and (
                        source["record_status"] == "posted"
                        and source["customer_id"] == refund["customer_id"]
                        and source["company_id"] == refund["company_id"]
                        and source["currency_iso_4217_code"] == refund["currency_iso_4217_code"]
                        and applied[(field, line[field])] <= Decimal(source["remaining_amount"])
                    )
                )
        if sound:
            return refund["number"]
    raise LookupError("no seeded draft refund keeps the money rules")


def spy_bodies(sandbox, monkeypatch) -> list[dict[str, Any]]:
    """Every JSON body the sandbox receives from now on: {"method", "path", "body"}."""
    received: list[dict[str, Any]] = []
    original = sandbox.app._json_body

    def spy(request):
        body, problem = original(request)
        received.append({"method": request.method, "path": request.path, "body": body})
        return body, problem

    monkeypatch.setattr(sandbox.app, "_json_body", spy)
    return received


def bodies(sent: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [entry["body"] for entry in sent if entry["method"] == method]


def error_messages(html: str) -> list[str]:
    """The texts of every error list item on the page (for assertion messages)."""
    import re
    from html import unescape

    found = []
    for block in re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S):
        found.extend(unescape(item).strip() for item in re.findall(r"<li>(.*?)</li>", block, re.S))
    return found
