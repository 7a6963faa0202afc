"""Deterministic seed data a finance person recognises.

Three companies (USD, EUR, GBP), 40 customers, a chart of accounts per company, items, vendors,
classifications, custom fields, VAT/GST rates, the reference transactions that lines point at
(invoices, sales orders, cash sales, customer payments, prepayments, vendor refunds), and 300
records of the four portal kinds (90 refunds, 80 deposits, 90 credits, 40 contracts with
obligations and usage; ``Seed(records_per_kind=N)`` or ``DUALENTRY_SANDBOX_RECORDS_PER_KIND``
makes it N of each, for benchmarks) in draft, posted and archived over the 18 months before
:data:`REFERENCE_DATE`. Everything comes from ``random.Random(SEED)``, and the four kinds are
built through the same code as API writes, so totals and numbering follow the same rules.

Payment method ids used: see :data:`dualentry_api.sandbox.writes.PAYMENT_METHODS`.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from dataclasses import dataclass
from decimal import Decimal

from dualentry_api.sandbox.money import money, money_text
from dualentry_api.sandbox.projection import REFERENCE_DATE
from dualentry_api.sandbox.resources import KEY_FIELDS
from dualentry_api.sandbox.store import Store
from dualentry_api.sandbox.writes import BUILDERS, PAYMENT_METHODS, build_usage

SEED = 20261101
# Records of each portal kind in the default seed.
DEFAULT_COUNTS = {
    "contracts": 40,
    "customer-credits": 90,
    "customer-refunds": 90,
    "customer-deposits": 80,
}
HISTORY_DAYS = 540

COMPANIES = (
    (
        1,
        "Northwind Analytics Inc.",
        "USD",
        "US",
        "500 Market Street",
        "San Francisco",
        "CA",
        "94105",
    ),
    (2, "Lindqvist & Moreau GmbH", "EUR", "DE", "Friedrichstraße 68", "Berlin", "", "10117"),
    (3, "Harrow & Finch Ltd", "GBP", "GB", "21 Bishopsgate", "London", "", "EC2N 3AR"),
)

CUSTOMER_NAMES = (
    "Acme Logistics",
    "Bluebird Bakeries",
    "Cedar Ridge Health",
    "Delta Marine Services",
    "Evergreen Dental Group",
    "Foxglove Interiors",
    "Granite Peak Outfitters",
    "Harbor Freight Partners",
    "Ironwood Construction",
    "Juniper Software",
    "Kestrel Aviation",
    "Lakeside Veterinary Clinic",
    "Maple & Main Realty",
    "Northstar Robotics",
    "Oakhurst Schools",
    "Pioneer Solar",
    "Quarry Lane Brewing",
    "Redwood Legal LLP",
    "Silverline Hotels",
    "Tidewater Fisheries",
    "Union Square Dental",
    "Vantage Media",
    "Willow Creek Farms",
    "Yellowstone Outdoor Co.",
    "Zephyr Wind Energy",
    "Atlas Freight GmbH",
    "Bergmann Maschinenbau",
    "Côte d'Azur Voyages",
    "Dupont & Fils SARL",
    "Elbe Logistik",
    "Fjord Seafood AS",
    "Grünwald Apotheke",
    "Hollandse Bloemen BV",
    "Ibérica Textiles",
    "Albion Tea Rooms",
    "Brighton Pier Events",
    "Cotswold Cheese Company",
    "Dartmoor Adventures",
    "Edinburgh Print Works",
    "Fenwick & Daughters",
)

# (base number, name, account type, system ref)
CHART = (
    (1000, "Operating Bank", "bank", None),
    (1010, "Payroll Bank", "bank", None),
    (1020, "Savings Account", "bank", None),
    (1050, "Undeposited Funds", "other_current_asset", "Undeposited Funds"),
    (1200, "Accounts Receivable", "accounts_receivable", "Accounts Receivable"),
    (1300, "Unbilled Receivables", "unbilled_receivable", None),
    (2000, "Accounts Payable", "accounts_payable", "Accounts Payable"),
    (2100, "Customer Deposits", "other_current_liability", "Customer Deposits"),
    (2400, "Deferred Revenue", "deferred_revenue", "Deferred Revenue"),
    (2600, "Sales Tax Payable", "other_current_liability", "Tax Payable"),
    (4000, "Subscription Revenue", "income", None),
    (4100, "Professional Services Revenue", "income", None),
    (4200, "Hardware Sales", "income", None),
    (4900, "Sales Discounts", "income", None),
    (5000, "Cost of Goods Sold", "cost_of_goods_sold", None),
    (6100, "Bank Fees", "expense", None),
)
BANK_BASES = (1000, 1010, 1020)

ITEMS = (
    ("Platform subscription (annual)", "SUB-ANNUAL", "service", "1200.00", 4000),
    ("Platform subscription (monthly)", "SUB-MONTHLY", "service", "110.00", 4000),
    ("Implementation package", "SVC-IMPL", "service", "4500.00", 4100),
    ("Consulting hour", "SVC-HOUR", "service", "175.00", 4100),
    ("Training workshop", "SVC-TRAIN", "service", "950.00", 4100),
    ("Premium support plan", "SUP-PREM", "service", "300.00", 4000),
    ("API usage (per 1,000 calls)", "USG-API", "service", "2.50", 4000),
    ("Data storage (per GB)", "USG-GB", "service", "0.40", 4000),
    ("Barcode scanner", "HW-SCAN", "good", "249.00", 4200),
    ("Receipt printer", "HW-PRINT", "good", "189.00", 4200),
    ("Card terminal", "HW-TERM", "good", "329.00", 4200),
    ("Loyalty discount", "DISC-LOYAL", "discount", "50.00", 4900),
)

VENDORS = (
    "Amazon Web Services",
    "Staples Business",
    "Brightline Couriers",
    "Kanzlei Weber & Partner",
    "Metro Office Supplies",
    "Thames Facilities Ltd",
    "Greenfield Catering",
    "Nordic Cloud Hosting",
    "Summit Insurance",
    "Clearwater Utilities",
)

CLASSIFICATIONS = (
    ("Department", ("Sales", "Engineering", "Finance", "Operations", "Customer Success")),
    ("Region", ("North America", "DACH", "United Kingdom", "Rest of EMEA")),
)

STAFF = (
    {
        "actor_type": "user",
        "email": "maria.lopez@northwind.example",
        "first_name": "Maria",
        "last_name": "Lopez",
    },
    {
        "actor_type": "user",
        "email": "jonas.becker@northwind.example",
        "first_name": "Jonas",
        "last_name": "Becker",
    },
    {
        "actor_type": "user",
        "email": "priya.shah@northwind.example",
        "first_name": "Priya",
        "last_name": "Shah",
    },
)

REFUND_MEMOS = (
    "Refund of overpayment",
    "Refund for cancelled order",
    "Credit balance refund",
    "Refund of unused prepayment",
    "Duplicate payment refund",
    "Goodwill refund",
    "Refund after service outage",
    "Refund of security deposit",
)
DEPOSIT_MEMOS = (
    "Weekly deposit",
    "Lockbox deposit",
    "Card settlement batch",
    "Wire receipts",
    "Cheque deposit",
    "ACH batch deposit",
    "Month-end deposit",
)
CREDIT_MEMOS = (
    "Credit for returned goods",
    "Pricing adjustment",
    "Service credit (SLA breach)",
    "Volume rebate",
    "Credit for damaged shipment",
    "Billing correction",
)
STATUSES = ("posted",) * 12 + ("draft",) * 5 + ("archived",) * 3


CONTRACT_KINDS = ("Subscription", "Services", "Enterprise")


def _slug(name: str) -> str:
    return "".join(character for character in name.lower() if character.isalnum())


def _timestamp(date: str, rng: random.Random) -> str:
    return f"{date}T{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}:00Z"


def _date(rng: random.Random, days: int = HISTORY_DAYS) -> str:
    return (REFERENCE_DATE - dt.timedelta(days=rng.randint(1, days))).isoformat()


def _actor(rng: random.Random, timestamp: str) -> dict:
    return {**rng.choice(STAFF), "timestamp": timestamp}


def _add(store: Store, name: str, record: dict) -> dict:
    store.collection(name)[record[KEY_FIELDS[name]]] = record
    return record


def _reference_data(store: Store, rng: random.Random) -> None:
    created = "2025-01-06T09:00:00Z"
    for company_id, name, currency, country, street, city, state, postal in COMPANIES:
        _add(
            store,
            "companies",
            {
                "id": company_id,
                "name": name,
                "parent_company_id": None,
                "currency_iso_4217_code": currency,
                "is_active": True,
                "is_elimination": False,
                "fiscal_year_end_month": 12,
                "tin": "",
                "tin_type": None,
                "address": {
                    "name": name,
                    "street": street,
                    "second_line": "",
                    "city": city,
                    "state": state,
                    "postal_code": postal,
                    "country": country,
                },
                "created_at": created,
                "updated_at": created,
            },
        )
    account_id = 201
    for company_id, _name, currency, *_rest in COMPANIES:
        for base, name, account_type, system_ref in CHART:
            _add(
                store,
                "accounts",
                {
                    "id": account_id,
                    "number": company_id * 10000 + base,
                    "name": f"{name} ({currency})" if account_type == "bank" else name,
                    "description": f"{name} for {COMPANIES[company_id - 1][1]}",
                    "is_active": True,
                    "is_system": system_ref is not None,
                    "company_id": company_id,
                    "account_type": account_type,
                    "currency_iso_4217_code": currency,
                    "category_1099": "",
                    "system_ref": system_ref,
                    "created_at": created,
                    "updated_at": created,
                },
            )
            account_id += 1
    for index, name in enumerate(CUSTOMER_NAMES):
        company_id = 1 if index < 25 else (2 if index < 34 else 3)
        country, currency = {1: ("US", "USD"), 2: ("DE", "EUR"), 3: ("GB", "GBP")}[company_id]
        domain = "".join(ch for ch in name.lower() if ch.isalnum())[:18] + ".example"
        street = (
            f"{rng.randint(1, 900)} {rng.choice(('High', 'Main', 'Mill', 'Park', 'King'))} Street"
        )
        city = {
            1: rng.choice(("Denver", "Austin", "Portland", "Boston", "Chicago")),
            2: rng.choice(("Munich", "Hamburg", "Lyon", "Rotterdam", "Madrid")),
            3: rng.choice(("Manchester", "Bristol", "Leeds", "Edinburgh", "Brighton")),
        }[company_id]
        address = {
            "street": street,
            "city": city,
            "state": "",
            "postal_code": f"{rng.randint(10000, 99999)}",
            "country": country,
            "second_line": "",
            "name": name,
        }
        updated = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:00:00Z"
        _add(
            store,
            "customers",
            {
                "id": 101 + index,
                "name": name,
                "unique_id": f"CUST-{1001 + index}",
                "email": f"accounts@{domain}",
                "website": f"https://www.{domain}",
                "customer_type": "company",
                "is_active": index % 13 != 12,
                "phone": f"+1 555 01{index:02d}",
                "record_status": "posted",
                "is_taxable": True,
                "default_tax_code": "",
                "tax_registration_number": "",
                "default_currency": currency,
                "full_address": address,
                "shipping_address": address,
                "address": f"{street}, {city}",
                "country": country,
                "company_id": company_id,
                "created_at": "2025-01-06T09:00:00Z",
                "updated_at": updated,
            },
        )
    item_id = 301
    for name, sku, item_type, _price, income_base in ITEMS:
        _add(
            store,
            "items",
            {
                "id": item_id,
                "name": name,
                "sku": sku,
                "description": name,
                "item_type": item_type,
                "is_active": True,
                "record_status": "posted",
                "income_account_id": 201 + [base for base, *_ in CHART].index(income_base),
                "deferral_account_id": 201 + [base for base, *_ in CHART].index(2400),
                "created_at": created,
                "updated_at": created,
            },
        )
        item_id += 1
    for index, name in enumerate(VENDORS):
        company_id = 1 + index % 3
        _add(
            store,
            "vendors",
            {
                "id": 401 + index,
                "name": name,
                "vendor_type": "company",
                "company_id": company_id,
                "company_name": COMPANIES[company_id - 1][1],
                "email": f"billing@{_slug(name)[:16]}.example",
                "is_active": True,
                "is_1099_eligible": False,
                "record_status": "posted",
                "term_id": None,
                "term_name": None,
                "preferred_payment_method_id": 2,
                "preferred_payment_method_name": PAYMENT_METHODS[2],
                "address": {
                    "street": "1 Supplier Way",
                    "city": "Springfield",
                    "state": "",
                    "postal_code": "10001",
                    "country": "US",
                    "second_line": "",
                },
                "created_at": created,
                "updated_at": created,
            },
        )
    line_id = 511
    for index, (name, lines) in enumerate(CLASSIFICATIONS):
        classification_id = 501 + index
        selections = []
        for line_name in lines:
            _add(
                store,
                "classifications-lines",
                {
                    "id": line_id,
                    "name": line_name,
                    "is_active": True,
                    "classification_id": classification_id,
                    "classification_name": name,
                },
            )
            selections.append({"id": line_id, "name": line_name})
            line_id += 1
        _add(
            store,
            "classifications",
            {
                "id": classification_id,
                "name": name,
                "selections": selections,
                "required_for_records": [],
                "parent_id": None,
                "parent_name": None,
                "is_active": True,
                "created_at": created,
                "updated_at": created,
            },
        )
    _add_numbered(
        store,
        "custom-fields",
        601,
        [
            {
                "name": name,
                "field_type": "text",
                "description": f"{name} recorded by the finance team",
                "applies_to": [{"record_type": applies}],
            }
            for name, applies in (
                ("Cost centre", "customer_refund"),
                ("Approval reference", "customer_credit"),
                ("Bank reference", "customer_deposit"),
            )
        ],
        shared={
            "is_active": True,
            "helper_text": "",
            "options": None,
            "created_at": created,
            "updated_at": created,
        },
    )
    tax_rate = {"valid_to": None, "is_active": True, "is_system": True}
    _add_numbered(
        store,
        "vat-rates",
        701,
        [
            {
                "country_code": country,
                "name": name,
                "rate": rate,
                "rate_type": rate_type,
                "description": name,
            }
            for country, name, rate, rate_type in (
                ("GB", "UK standard rate", "20", "STANDARD"),
                ("GB", "UK reduced rate", "5", "REDUCED"),
                ("DE", "Germany standard rate", "19", "STANDARD"),
                ("DE", "Germany reduced rate", "7", "REDUCED"),
                ("FR", "France standard rate", "20", "STANDARD"),
            )
        ],
        shared=tax_rate | {"tax_type": "INPUT_OUTPUT", "valid_from": "2020-01-01"},
    )
    _add_numbered(
        store,
        "gst-tax-rates",
        801,
        [
            {"country_code": country, "name": name, "rate": rate, "description": name}
            for country, name, rate in (
                ("AU", "Australia GST", "10"),
                ("IN", "India GST 18%", "18"),
                ("SG", "Singapore GST", "9"),
            )
        ],
        shared=tax_rate
        | {"tax_treatment": "STANDARD", "valid_from": "2023-01-01", "components": []},
    )


def _add_numbered(store: Store, name: str, first_id: int, rows: list[dict], shared: dict) -> None:
    """Reference rows numbered from ``first_id``, each with the ``shared`` fields added."""
    for index, row in enumerate(rows):
        _add(store, name, {"id": first_id + index, **row, **shared})


def _customers_of(store: Store, company_id: int) -> list[dict]:
    return [c for c in store.collection("customers").values() if c["company_id"] == company_id]


def _account_number(company_id: int, base: int) -> int:
    return company_id * 10000 + base


def _reference_transactions(store: Store, rng: random.Random) -> None:
    """Invoices, sales orders, cash sales, payments, prepayments and vendor refunds."""
    companies = store.collection("companies")
    plan = (
        ("invoices", 60),
        ("sales-orders", 15),
        ("cash-sales", 15),
        ("customer-payments", 30),
        ("customer-prepayments", 25),
    )
    for name, count in plan:
        for _ in range(count):
            company = companies[rng.choice((1, 1, 1, 2, 3))]
            customer = rng.choice(_customers_of(store, company["id"]))
            date = _date(rng)
            amount = money(Decimal(rng.randint(200, 25000)) + Decimal(rng.randint(0, 99)) / 100)
            timestamp = _timestamp(date, rng)
            record = {
                "internal_id": store.next_id(),
                "number": store.next_number(name),
                "transaction_ids": [store.next_id()],
                "company_id": company["id"],
                "company_name": company["name"],
                "company_currency": company["currency_iso_4217_code"],
                "customer_id": customer["id"],
                "customer_name": customer["name"],
                "currency_iso_4217_code": company["currency_iso_4217_code"],
                "exchange_rate": "1",
                "date": date,
                "transaction_date": date,
                "due_date": (dt.date.fromisoformat(date) + dt.timedelta(days=30)).isoformat(),
                "amount": f"{amount:f}",
                "memo": f"{name.replace('-', ' ').rstrip('s').capitalize()} for {customer['name']}",
                "record_status": rng.choice(("posted",) * 8 + ("draft", "archived")),
                "account_number": _account_number(company["id"], 1000),
                "check_number": "",
                "items": [],
                "paper_check_status": None,
                "payment_method_id": rng.randint(1, 4),
                "bill_to_address": customer["address"],
                "ship_to_address": customer["address"],
                "created_by": _actor(rng, timestamp),
                "updated_by": _actor(rng, timestamp),
                "created_at": timestamp,
                "updated_at": timestamp,
            }
            if name == "invoices":
                paid = amount if rng.random() < 0.6 else Decimal("0.00")
                record.update(
                    {
                        "amount_due": f"{amount - paid:f}",
                        "paid_total": f"{paid:f}",
                        "term_id": None,
                        "term_name": None,
                        "reference_number": "",
                    }
                )
            if name == "sales-orders":
                record.update(
                    {
                        "invoiced_status": "not_invoiced",
                        "invoiced_total": "0.00",
                        "due_total": f"{amount:f}",
                        "term_id": None,
                        "term_name": None,
                        "reference_number": "",
                    }
                )
            if name == "customer-prepayments":
                record.update(
                    {
                        "used_amount": "0.00",
                        "remaining_amount": f"{amount:f}",
                        "bank_or_undeposited_funds_amount": f"{amount:f}",
                        "undeposited_funds_currency": record["currency_iso_4217_code"],
                    }
                )
            if name in ("cash-sales", "customer-payments"):
                record.update(
                    {
                        "bank_or_undeposited_account_amount": f"{amount:f}",
                        "undeposited_funds_currency": record["currency_iso_4217_code"],
                        "unassigned_amount": "0.00",
                    }
                )
            _add(store, name, record)
    for _ in range(10):
        company = companies[rng.choice((1, 2, 3))]
        vendor = rng.choice([v for v in store.collection("vendors").values()])
        date = _date(rng)
        timestamp = _timestamp(date, rng)
        amount = money(rng.randint(50, 3000))
        _add(
            store,
            "vendor-refunds",
            {
                "internal_id": store.next_id(),
                "number": store.next_number("vendor-refunds"),
                "transaction_ids": [store.next_id()],
                "account_number": _account_number(company["id"], 1000),
                "items": [],
                "company_id": company["id"],
                "company_name": company["name"],
                "company_currency": company["currency_iso_4217_code"],
                "vendor_id": vendor["id"],
                "vendor_name": vendor["name"],
                "memo": f"Refund from {vendor['name']}",
                "check_number": str(rng.randint(10000, 99999)),
                "date": date,
                "transaction_date": date,
                "currency_iso_4217_code": company["currency_iso_4217_code"],
                "exchange_rate": "1",
                "bank_or_credit_card_amount": f"{amount:f}",
                "amount": f"{amount:f}",
                "record_status": "posted",
                "paper_check_status": None,
                "payment_method_id": 1,
                "created_by": _actor(rng, timestamp),
                "updated_by": _actor(rng, timestamp),
                "created_at": timestamp,
                "updated_at": timestamp,
            },
        )


def _build(store: Store, name: str, body: dict, rng: random.Random, timestamp: str) -> dict:
    record, errors = BUILDERS[name](store, body, None, timestamp)
    if errors:
        raise ValueError(f"seed {name} body rejected: {dict(errors)} for {body}")
    record["created_by"] = _actor(rng, timestamp)
    record["updated_by"] = record["created_by"]
    return _add(store, name, record)


def _contracts(store: Store, rng: random.Random, seed: Seed) -> None:
    companies = store.collection("companies")
    items = list(store.collection("items").values())
    for index in range(seed.count("contracts")):
        company = companies[rng.choice((1, 1, 2, 3))]
        customer = rng.choice(_customers_of(store, company["id"]))
        start = dt.date.fromisoformat(_date(rng))
        months = rng.choice((12, 12, 24, 36))
        status = rng.choice(
            ("active",) * 10
            + ("draft",) * 3
            + ("completed",) * 3
            + ("terminated", "archived", "archived")
        )
        obligations = []
        for position, item in enumerate(rng.sample(items[:8], rng.randint(1, 3))):
            usage_based = item["sku"].startswith("USG")
            price = next(entry[3] for entry in ITEMS if entry[1] == item["sku"])
            obligations.append(
                {
                    "item_id": item["id"],
                    "position": position,
                    "memo": item["name"],
                    "quantity": "1" if usage_based else str(rng.choice((1, 1, 5, 10, 25))),
                    "rate": price,
                    "recognition_strategy": "usage" if usage_based else "straight_line",
                }
            )
            if rng.random() < 0.2:
                obligations[-1].update({"discount_type": "PERCENTAGE", "discount_value": "10"})
        body = {
            "name": f"{customer['name']} {CONTRACT_KINDS[index % 3]} agreement",
            "company_id": company["id"],
            "customer_id": customer["id"],
            "currency_iso_4217_code": company["currency_iso_4217_code"],
            "memo": f"Signed by {customer['name']}",
            "date": start.isoformat(),
            "start_date": start.isoformat(),
            "end_date": (start + dt.timedelta(days=30 * months)).isoformat(),
            "billing_frequency": rng.choice(("monthly", "quarterly", "annually")),
            "recognition_frequency": "monthly",
            "status": status,
            "bill_to_address": customer["address"],
            "ship_to_address": customer["address"],
            "obligations": obligations,
        }
        contract = _build(store, "contracts", body, rng, _timestamp(start.isoformat(), rng))
        for obligation in contract["obligations"]:
            if obligation["recognition_strategy"] != "usage":
                continue
            usage_body = {
                "items": [
                    {
                        "obligation_id": obligation["id"],
                        "usage_date": (start + dt.timedelta(days=30 * month + 27)).isoformat(),
                        "quantity": str(rng.randint(100, 5000)),
                        "status": "invoiced" if month < 2 else "draft",
                        "memo": f"Month {month + 1} usage",
                    }
                    for month in range(rng.randint(2, 5))
                    if start + dt.timedelta(days=30 * month + 27) < REFERENCE_DATE
                ]
            }
            if not usage_body["items"]:
                continue
            saved, errors = build_usage(
                store, contract, usage_body, _timestamp(start.isoformat(), rng)
            )
            if errors:
                raise ValueError(f"seed usage rejected: {dict(errors)}")
            for usage in saved:
                store.collection("contract-usage")[usage["id"]] = usage


def _credits(store: Store, rng: random.Random, seed: Seed) -> None:
    invoices = list(store.collection("invoices").values())
    first_contract_of: dict[int, dict] = {}
    for contract in store.collection("contracts").values():
        first_contract_of.setdefault(contract["customer_id"], contract)
    items = list(store.collection("items").values())
    for _ in range(seed.count("customer-credits")):
        invoice = rng.choice(invoices) if rng.random() < 0.5 else None
        company = store.get(
            "companies", invoice["company_id"] if invoice else rng.choice((1, 1, 2, 3))
        )
        customer = (
            store.get("customers", invoice["customer_id"])
            if invoice
            else rng.choice(_customers_of(store, company["id"]))
        )
        contract = None
        if invoice is None and rng.random() < 0.2:
            contract = first_contract_of.get(customer["id"])
        date = _date(rng)
        lines = []
        for position in range(rng.randint(1, 3)):
            item = rng.choice(items[:11])
            price = next(entry[3] for entry in ITEMS if entry[1] == item["sku"])
            line = {
                "item_id": item["id"],
                "position": position,
                "quantity": str(rng.choice((1, 1, 2, 3, 10))),
                "rate": price,
                "memo": item["name"],
            }
            if company["currency_iso_4217_code"] == "GBP" and rng.random() < 0.5:
                tax = money(Decimal(line["quantity"]) * Decimal(price) * Decimal("0.2"))
                line["tax"] = {
                    "code": "GB-VAT-20",
                    "rate": "20",
                    "amount": f"{tax:f}",
                    "vat_rate_id": 701,
                }
            lines.append(line)
        body = {
            "date": date,
            "transaction_date": date,
            "company_id": company["id"],
            "customer_id": customer["id"],
            "currency_iso_4217_code": company["currency_iso_4217_code"],
            "exchange_rate": "1",
            "memo": rng.choice(CREDIT_MEMOS),
            "invoice_number": invoice["number"] if invoice else None,
            "contract_id": contract["id"] if contract else None,
            "bill_to_address": customer["address"],
            "ship_to_address": customer["address"],
            "items": lines,
            "record_status": rng.choice(STATUSES),
        }
        credit = _build(store, "customer-credits", body, rng, _timestamp(date, rng))
        if credit["record_status"] == "posted" and rng.random() < 0.3:
            used = money(Decimal(credit["amount"]) * Decimal("0.5"))
            credit["used_amount"] = f"{used:f}"
            credit["remaining_amount"] = f"{money(credit['amount']) - used:f}"


def _refunds(store: Store, rng: random.Random, seed: Seed) -> None:
    credits = [c for c in store.collection("customer-credits").values() if c["customer_id"]]
    prepayments = list(store.collection("customer-prepayments").values())
    for _ in range(seed.count("customer-refunds")):
        source = rng.choice(credits) if rng.random() < 0.6 else rng.choice(prepayments)
        company = store.get("companies", source["company_id"])
        date = max(source["date"], _date(rng))
        payment_method_id = rng.randint(1, 4)
        lines = []
        remaining = money(source["amount"])
        for position in range(rng.randint(1, 2)):
            share = money(remaining * Decimal(rng.choice(("0.25", "0.5", "1"))))
            if share <= 0:
                share = Decimal("1.00")
            line = {"position": position, "amount": f"{share:f}"}
            if (
                "used_amount" in source
                and "remaining_amount" in source
                and "invoice_number" in source
            ):
                line["customer_credit_number"] = source["number"]
            else:
                line["customer_prepayment_number"] = source["number"]
            lines.append(line)
        body = {
            "date": date,
            "transaction_date": date,
            "company_id": company["id"],
            "customer_id": source["customer_id"],
            "account_number": _account_number(company["id"], rng.choice(BANK_BASES)),
            "currency_iso_4217_code": company["currency_iso_4217_code"],
            "exchange_rate": "1",
            "memo": rng.choice(REFUND_MEMOS),
            "check_number": str(rng.randint(100000, 999999)) if payment_method_id == 1 else "",
            "payment_method_id": payment_method_id,
            "items": lines,
            "record_status": rng.choice(STATUSES),
        }
        _build(store, "customer-refunds", body, rng, _timestamp(date, rng))


def _deposits(store: Store, rng: random.Random, seed: Seed) -> None:
    sources = {
        "customer_payment_number": list(store.collection("customer-payments").values()),
        "customer_prepayment_number": list(store.collection("customer-prepayments").values()),
        "cash_sale_number": list(store.collection("cash-sales").values()),
    }
    for _ in range(seed.count("customer-deposits")):
        company = store.get("companies", rng.choice((1, 1, 2, 3)))
        date = _date(rng)
        lines = []
        for position in range(rng.randint(1, 4)):
            field = rng.choice(tuple(sources))
            candidates = [s for s in sources[field] if s["company_id"] == company["id"]]
            if not candidates or rng.random() < 0.2:
                customer = rng.choice(_customers_of(store, company["id"]))
                lines.append(
                    {
                        "position": position,
                        "customer_id": customer["id"],
                        "account_number": _account_number(company["id"], 2100),
                        "description": f"Deposit received from {customer['name']}",
                        "amount": money_text(rng.randint(100, 8000)),
                    }
                )
                continue
            source = rng.choice(candidates)
            lines.append(
                {
                    "position": position,
                    field: source["number"],
                    "customer_id": source["customer_id"],
                    "description": source["memo"],
                    "amount": source["amount"],
                }
            )
        body = {
            "date": date,
            "transaction_date": date,
            "company_id": company["id"],
            "account_number": _account_number(company["id"], rng.choice(BANK_BASES[:2])),
            "currency_iso_4217_code": company["currency_iso_4217_code"],
            "exchange_rate": "1",
            "memo": rng.choice(DEPOSIT_MEMOS),
            "check_number": "",
            "items": lines,
            "record_status": rng.choice(STATUSES),
        }
        _build(store, "customer-deposits", body, rng, _timestamp(date, rng))


def _attachments(store: Store, rng: random.Random) -> None:
    for name in ("customer-refunds", "customer-deposits"):
        records = list(store.collection(name).values())
        for record in rng.sample(records, 6):
            attachment_id = store.next_id()
            content = (
                f"{record['company_name']}\n{name.replace('-', ' ').title()} {record['number']}\n"
                f"Amount: {record['amount']} {record['currency_iso_4217_code']}\n"
            )
            attachment = {
                "id": attachment_id,
                "file_name": f"{name.split('-')[1].rstrip('s')}-{record['number']}-backup.txt",
                "file_size": len(content.encode()),
                "content_type": "text/plain",
                "content_text": content,
            }
            store.collection("attachments")[attachment_id] = attachment
            record["attachments"] = [store.attachment_summary(attachment)]


@dataclass(frozen=True)
class Seed:
    """What to seed: today's mix, or ``records_per_kind`` of each of the four portal kinds.

    Hashable on purpose: the store builds the pristine state once per distinct seed. A bigger
    seed keeps the same reference data (companies, customers, the transactions lines point at);
    only the refunds, deposits, credits and contracts grow.
    """

    records_per_kind: int | None = None

    def __post_init__(self) -> None:
        if self.records_per_kind is not None and self.records_per_kind < 1:
            raise ValueError("records_per_kind must be at least 1.")

    def count(self, name: str) -> int:
        return self.records_per_kind or DEFAULT_COUNTS[name]

    def __call__(self, store: Store) -> None:
        populate(store, self)


def populate(store: Store, seed: Seed | None = None) -> None:
    """Fill an empty store with the deterministic seed."""
    seed = seed or Seed()
    rng = random.Random(SEED)
    _reference_data(store, rng)
    store.state["sequences"]["id"] = 10001
    _reference_transactions(store, rng)
    _contracts(store, rng, seed)
    _credits(store, rng, seed)
    _refunds(store, rng, seed)
    _deposits(store, rng, seed)
    _attachments(store, rng)


def seed_from_environment() -> Seed:
    """``DUALENTRY_SANDBOX_RECORDS_PER_KIND`` (unset or empty: today's mix)."""
    raw = os.environ.get("DUALENTRY_SANDBOX_RECORDS_PER_KIND", "").strip()
    if not raw:
        return Seed()
    try:
        return Seed(int(raw))
    except ValueError as err:
        raise ValueError(
            f"DUALENTRY_SANDBOX_RECORDS_PER_KIND must be a whole number of at least 1, not {raw!r}."
        ) from err
