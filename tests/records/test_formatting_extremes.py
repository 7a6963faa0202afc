"""Values the API allows that the default 28-digit decimal context cannot hold, rendered
exactly (issue 16: an amount times an exchange rate used to raise InvalidOperation -> 500)."""

from decimal import ROUND_HALF_UP, Context, Decimal

from dualentry_api.records import Record
from portal.records.kinds import REFUNDS, Column
from portal.records.templatetags.records import (
    cell,
    column_total,
    money,
    record_url,
    status_badge,
)

NBSP = "\u00a0"
AMOUNT = Column("amount", "Amount", "amount")


def test_foreign_amount_beyond_decimal_precision_shows_its_exact_equivalent():
    amount, rate = Decimal("987654321987654321987654321.99"), Decimal("1.0855123456789012")
    refund = Record(
        {
            "amount": amount,
            "currency_iso_4217_code": "EUR",
            "company_currency": "USD",
            "exchange_rate": rate,
        }
    )
    shown = cell(refund, AMOUNT, convert=True)
    wide = Context(prec=100, rounding=ROUND_HALF_UP)
    exact = wide.quantize(wide.multiply(amount, rate), Decimal("0.01"))
    assert f"{exact:,.2f}{NBSP}USD" in shown
    assert f"987,654,321,987,654,321,987,654,321.99{NBSP}EUR" in shown


def test_long_amounts_keep_every_decimal():
    assert money(Decimal("12345678901234567890123456789.125"), "GBP") == (
        f"12,345,678,901,234,567,890,123,456,789.125{NBSP}GBP"
    )
    assert money("000000000000000000000000000000001.50") == "1.50"
    assert money(Decimal("-0.000000000000000000000000000000001")).endswith("001")


def test_totals_of_long_amounts_are_exact():
    rows = [{"amount": "9" * 40 + ".99"}, {"amount": "0.01"}, {"amount": None}, {"amount": ""}]
    assert column_total(rows, AMOUNT) == "10" + ",000" * 13 + ".00"  # 10**40


def test_unknown_status_is_shown_as_is():
    assert "Archived later" in status_badge("archived_later")
    status = next(column for column in REFUNDS.list_columns if column.kind == "status")
    assert "Brand new state" in cell({status.field: "brand_new_state"}, status)


def test_a_record_key_no_page_can_have_links_nowhere_instead_of_failing():
    assert record_url(REFUNDS, {"number": -1}) == ""
    assert record_url(REFUNDS, {"number": 12}) == "/refunds/12/"
