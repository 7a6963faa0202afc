"""Amounts as people type them (issue 17, item 3): separators, spaces, a currency symbol;
normalised to the API's plain decimal text, anything else refused with a sentence."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from portal.records.forms.fields import money_field, normalise_amount


@pytest.mark.parametrize(
    ("typed", "mark", "text", "currency"),
    [
        ("1,000.00", ".", "1000.00", ""),
        ("1,000", ".", "1000", ""),
        ("1,234,567.89", ".", "1234567.89", ""),
        ("1 000,00", ".", "1000.00", ""),  # two decimals after a comma: a decimal comma
        ("1 000,00", ",", "1000.00", ""),
        ("1.000,50", ".", "1000.50", ""),  # both marks: the last one is the decimal mark
        ("1.000", ",", "1000", ""),  # a German "one thousand"
        ("1,000", ",", "1.000", ""),  # where the locale writes decimal commas
        ("12,5", ",", "12.5", ""),
        ("12,50", ".", "12.50", ""),
        ("$1,000.00", ".", "1000.00", "USD"),
        ("$ 5", ".", "5", "USD"),
        ("€20,00", ",", "20.00", "EUR"),
        ("£1,250.75", ".", "1250.75", "GBP"),
        ("USD 1,000.00", ".", "1000.00", "USD"),
        ("-$5.00", ".", "-5.00", "USD"),
        ("  250.10 ", ".", "250.10", ""),
        ("1\u00a0000.00", ".", "1000.00", ""),
        ("ten", ".", "ten", ""),  # not an amount: left for the field's message
        ("1,00,0", ".", "1,00,0", ""),
    ],
)
def test_typed_amounts_are_normalised(typed, mark, text, currency):
    assert normalise_amount(typed, decimal_mark=mark) == (text, currency)


@pytest.mark.parametrize(
    ("typed", "amount"),
    [("1,000.00", "1000.00"), ("$1,000.00", "1000.00"), ("9,667.28", "9667.28"), ("5", "5.00")],
)
def test_money_fields_accept_what_people_type(typed, amount):
    field = money_field("Amount")
    assert field.clean(typed) == Decimal(amount)


def test_money_field_keeps_a_clear_message_for_what_is_not_an_amount():
    field = money_field("Amount")
    with pytest.raises(Exception) as refused:
        field.clean("1,00,0")
    assert "Amount: type a number with digits and a decimal point" in str(refused.value)


def test_the_decimal_mark_follows_the_active_locale():
    field = money_field("Amount")
    with translation.override("de"):
        assert field.clean("1.234,5") == Decimal("1234.50")
    with translation.override("en"):
        assert field.clean("1,234") == Decimal("1234.00")


def test_money_is_shown_with_thousands_separators_in_forms():
    field = money_field("Amount")
    assert field.prepare_value(Decimal("9667.28")) == "9,667.28"
