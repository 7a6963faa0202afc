"""Formatting of DualEntry values (portal.records.templatetags.records) and the reference
cache (portal.records.references), without a server where none is needed."""

import datetime as dt
from decimal import Decimal

import pytest
from django.template import Context, Template

from dualentry_api.records import Record
from portal.records import references
from portal.records.kinds import Column
from portal.records.templatetags.records import (
    cell,
    column_total,
    iso_datetime,
    money,
    plain_number,
    status_badge,
)

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (Decimal("1234.5"), "EUR", f"1,234.50{NBSP}EUR"),
        (Decimal("-0.05"), "USD", f"-0.05{NBSP}USD"),
        (Decimal("1000000"), "", "1,000,000.00"),
        (Decimal("12.3456"), "GBP", f"12.3456{NBSP}GBP"),  # never rounded away
        (None, "USD", "—"),
        ("", "USD", "—"),
    ],
)
def test_money_shows_exact_amounts_with_their_currency(value, currency, shown):
    assert money(value, currency) == shown


@pytest.mark.parametrize(
    ("value", "shown"), [(Decimal("1.500000"), "1.5"), (Decimal("12"), "12"), (None, "—")]
)
def test_quantities_show_their_significant_decimals_only(value, shown):
    assert plain_number(value) == shown


def test_status_badge_is_escaped_and_labelled():
    assert status_badge("post_failed") == '<span class="badge badge-post_failed">Post failed</span>'
    assert "&lt;b&gt;" in status_badge("<b>")


def test_amount_in_a_foreign_currency_shows_the_company_currency_equivalent():
    refund = Record(
        {
            "amount": Decimal("100.00"),
            "currency_iso_4217_code": "EUR",
            "company_currency": "USD",
            "exchange_rate": Decimal("1.0855"),
        }
    )
    html = cell(refund, Column("amount", "Total", "amount"), convert=True)
    assert f"100.00{NBSP}EUR" in html
    assert f"108.55{NBSP}USD" in html  # 108.55 exactly, rounded half up


def test_amount_in_the_company_currency_shows_once():
    refund = Record(
        {
            "amount": Decimal("100.00"),
            "currency_iso_4217_code": "USD",
            "company_currency": "USD",
            "exchange_rate": Decimal("1"),
        }
    )
    assert cell(refund, Column("amount", "Total", "amount"), convert=True) == f"100.00{NBSP}USD"


def test_line_amounts_take_the_currency_of_their_record():
    refund = Record({"currency_iso_4217_code": "GBP"})
    line = Record({"amount": Decimal("5")})
    assert cell(line, Column("amount", "Amount", "amount"), currency_record=refund) == (
        f"5.00{NBSP}GBP"
    )


def test_column_total_adds_decimals_exactly():
    lines = [Record({"amount": Decimal("0.10")}) for _ in range(3)]
    total = column_total(lines, Column("amount", "Amount", "amount"), Record({}))
    assert total == "0.30"


def test_address_cell_uses_the_structured_address_or_the_text_one():
    column = Column("billing_address", "Billing", "address", reference="bill_to_address")
    structured = Record(
        {
            "billing_address": {
                "street": "1 Main St",
                "city": "Boston",
                "postal_code": "02110",
                "country": "US",
            }
        }
    )
    assert cell(structured, column) == "1 Main St<br>02110 Boston<br>US"
    text_only = Record({"billing_address": None, "bill_to_address": "6 King St\n<Boston>"})
    assert cell(text_only, column) == "6 King St<br>&lt;Boston&gt;"


def test_user_cell_names_the_dualentry_actor_and_when():
    record = Record(
        {
            "updated_by": {
                "first_name": "Maria",
                "last_name": "Lopez",
                "timestamp": dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC),
            }
        }
    )
    html = cell(record, Column("updated_by", "Last updated", "user"))
    assert html.startswith("Maria Lopez<br>")
    assert iso_datetime(record["updated_by"]["timestamp"]) in html


def test_dotted_fields_reach_nested_values():
    line = Record({"tax": {"code": "VAT20"}})
    assert cell(line, Column("tax.code", "Tax")) == "VAT20"
    assert cell(Record({"tax": None}), Column("tax.code", "Tax")) == "—"


def test_link_cell_points_to_the_linked_kind():
    assert cell(Record({"customer_credit_number": 1026}), Column(
        "customer_credit_number", "Credit", "link", reference="credits"
    )) == '<a href="/credits/1026/">1026</a>'  # fmt: skip


def test_templates_render_cells_through_the_tag():
    template = Template("{% load records %}{% cell record column %}")
    rendered = template.render(
        Context({"record": Record({"memo": "<script>"}), "column": Column("memo", "Memo")})
    )
    assert rendered == "&lt;script&gt;"


# --- reference cache -----------------------------------------------------------------------


@pytest.fixture
def fresh_cache(settings):
    from django.core.cache import cache

    settings.DUALENTRY_API_URL = "http://dualentry.test"
    settings.DUALENTRY_API_KEY = "key-one"
    cache.clear()
    yield cache
    cache.clear()


def _store(name, entries):
    references._store(
        references.ReferenceList(name, entries, dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    )


def test_cached_lists_are_per_dualentry_tenant(fresh_cache, settings):
    _store("customers", {101: {"name": "Acme"}})
    assert references.reference_list("customers").name_of("101") == "Acme"
    settings.DUALENTRY_API_KEY = "key-two"
    assert references._cached("customers") is None


def test_cached_lists_expire_after_the_configured_ttl(fresh_cache, settings, monkeypatch):
    settings.REFERENCE_CACHE_TTL = 42
    seen = {}
    monkeypatch.setattr(
        fresh_cache, "set", lambda key, value, timeout: seen.update(timeout=timeout)
    )
    _store("customers", {})
    assert seen["timeout"] == 42


def test_account_numbers_are_derived_from_the_accounts_list(fresh_cache):
    _store("accounts", {7: {"name": "1000 · Cash", "number": 1000}})
    numbers = references.reference_list("account_numbers")
    assert numbers.name_of(1000) == "1000 · Cash"
    assert numbers.fetched_at == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_payment_method_names_come_from_settings(fresh_cache, settings):
    settings.PAYMENT_METHODS = {1: "Check", 9: "Crypto"}
    loaded = references.references_load(names=["payment_methods"])
    assert loaded.name("payment_methods", 9) == "Crypto"
    assert loaded.as_of is None  # not fetched from DualEntry


def test_choices_are_sorted_by_name(fresh_cache):
    _store("companies", {3: {"name": "beta"}, 1: {"name": "Alpha"}, 2: {"name": "Gamma"}})
    assert references.reference_list("companies").choices() == [
        (1, "Alpha"),
        (3, "beta"),
        (2, "Gamma"),
    ]


def test_clear_forgets_every_cached_list(fresh_cache):
    _store("customers", {1: {"name": "A"}})
    references.references_clear()
    assert references._cached("customers") is None
