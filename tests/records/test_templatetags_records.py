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


# --- reference names from the read model ---------------------------------------------------

SEEN = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def copy_only(settings, db, monkeypatch):
    """A DualEntry the portal must not call: names come from the copy or the test fails."""
    settings.DUALENTRY_API_URL = "http://dualentry.test"
    settings.DUALENTRY_API_KEY = "key-one"

    def no_upstream():
        raise AssertionError("reference names must come from the read model")

    monkeypatch.setattr(references, "get_client", no_upstream)


def _copy(name, items, *, seen_at=SEEN):
    from portal.readmodel.account import current_account
    from portal.readmodel.registry import reference_spec_for
    from portal.readmodel.services import references_upsert

    references_upsert(
        spec=reference_spec_for(name), account=current_account(), items=items, seen_at=seen_at
    )


def test_names_come_from_the_copy_with_no_upstream_call(copy_only):
    _copy("customers", [{"id": 101, "name": "Acme"}])
    customers = references.reference_list("customers")
    assert customers.name_of("101") == "Acme"
    assert customers.fetched_at == SEEN


def test_another_dualentry_account_never_sees_the_names_of_this_one(copy_only, settings):
    _copy("customers", [{"id": 101, "name": "Acme"}])
    settings.DUALENTRY_API_KEY = "key-two"
    with pytest.raises(AssertionError, match="read model"):
        references.reference_list("customers")  # never copied for this account: read live


def test_a_list_that_synced_empty_stays_empty_without_an_upstream_call(copy_only):
    from portal.readmodel.account import current_account
    from portal.readmodel.models import SyncState
    from portal.readmodel.selectors import REFERENCES

    SyncState.objects.create(account=current_account(), kind=REFERENCES, last_full_at=SEEN)
    vendors = references.reference_list("vendors")
    assert len(vendors) == 0
    assert vendors.fetched_at == SEEN


def test_account_labels_and_numbers_are_derived_from_the_copied_accounts(copy_only):
    _copy("accounts", [{"id": 7, "number": 1000, "name": "Cash", "account_type": "bank"}])
    assert references.reference_list("accounts").name_of(7) == "1000 · Cash"
    numbers = references.reference_list("account_numbers")
    assert numbers.name_of(1000) == "1000 · Cash"
    assert numbers.fetched_at == SEEN


def test_payment_method_names_come_from_settings(copy_only, settings):
    settings.PAYMENT_METHODS = {1: "Check", 9: "Crypto"}
    loaded = references.references_load(names=["payment_methods"])
    assert loaded.name("payment_methods", 9) == "Crypto"
    assert loaded.as_of is None  # not fetched from DualEntry


def test_choices_are_sorted_by_name(copy_only):
    _copy(
        "companies",
        [{"id": 3, "name": "beta"}, {"id": 1, "name": "Alpha"}, {"id": 2, "name": "Gamma"}],
    )
    assert references.reference_list("companies").choices() == [
        (1, "Alpha"),
        (3, "beta"),
        (2, "Gamma"),
    ]
