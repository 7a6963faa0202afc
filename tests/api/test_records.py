"""Record/Page behaviour and exact request serialisation."""

from __future__ import annotations

import datetime as dt
import pickle
from decimal import Decimal

import pytest
from django.template import Context, Template

from dualentry_api.records import Page, Record, parse_record, response_shape, to_jsonable

REFUND_DETAIL = "/public/v2/customer-refunds/{record_number}/"


def _refund_json() -> dict:
    return {
        "number": 12,
        "memo": "Duplicate payment",
        "amount": "1250.10",
        "exchange_rate": "1.0834000000000001",
        "date": "2026-03-31",
        "created_by": {"email": "a@example.com", "timestamp": "2026-03-31T10:00:00Z"},
        "items": [
            {"amount": "1000.00", "customer_credit_number": 31},
            {"amount": "250.10", "customer_prepayment_number": None},
        ],
        "attachments": [{"id": 1, "file_name": "scan.pdf", "file_size": 10, "download_url": None}],
        "brand_new_field": {"nested": "kept"},
    }


@pytest.fixture
def refund() -> Record:
    return parse_record(_refund_json(), response_shape("GET", REFUND_DETAIL, 200))


def test_spec_declared_fields_are_typed(refund):
    assert refund.amount == Decimal("1250.10")
    assert str(refund.amount) == "1250.10"  # trailing zero kept: exact, not float
    assert refund.exchange_rate == Decimal("1.0834000000000001")
    assert refund.date == dt.date(2026, 3, 31)
    assert refund.created_by.timestamp == dt.datetime(2026, 3, 31, 10, tzinfo=dt.UTC)
    assert [line.amount for line in refund.items] == [Decimal("1000.00"), Decimal("250.10")]
    assert refund.attachments[0].file_name == "scan.pdf"


def test_unknown_fields_are_kept_and_missing_optional_fields_read_as_none(refund):
    assert refund.brand_new_field == {"nested": "kept"}  # as received
    assert refund.transaction_date is None  # declared in the spec, absent here
    assert refund.get("transaction_date", "-") == "-"
    assert "transaction_date" not in refund
    with pytest.raises(KeyError):
        refund["transaction_date"]
    with pytest.raises(AttributeError):
        getattr(refund, "not_a_field_anywhere")  # noqa: B009 - the lookup is the test


def test_items_is_the_line_list_not_a_dict_method(refund):
    assert isinstance(refund.items, list)
    assert isinstance(refund["items"], list)
    assert not isinstance(refund, dict)
    assert list(refund.keys())[:2] == ["number", "memo"]
    assert "memo" in list(refund)


def test_django_templates_read_fields_and_lines(refund):
    rendered = Template(
        "{{ record.memo }}|{{ record.amount }}|"
        "{% for line in record.items %}{{ line.amount }};{% endfor %}|{{ record.created_by.email }}"
    ).render(Context({"record": refund}))
    assert rendered == "Duplicate payment|1250.10|1000.00;250.10;|a@example.com"


def test_raw_keeps_the_json_and_to_dict_is_a_typed_plain_copy(refund):
    assert refund.raw == _refund_json()
    plain = refund.to_dict()
    assert type(plain) is dict and type(plain["items"][0]) is dict
    assert plain["items"][0]["amount"] == Decimal("1000.00")
    assert refund == plain


def test_records_are_read_only(refund):
    with pytest.raises(AttributeError):
        refund.memo = "changed"
    with pytest.raises(TypeError):
        refund["memo"] = "changed"


def test_records_survive_pickling_for_the_shared_cache(refund):
    restored = pickle.loads(pickle.dumps(refund))
    assert restored == refund
    assert restored.items[1].amount == Decimal("250.10")
    assert restored.raw == refund.raw
    assert restored.transaction_date is None


def test_a_json_number_never_becomes_a_float():
    record = Record({"total": Decimal("0.1")})
    assert record.total == Decimal("0.1")


def test_page_knows_the_next_offset():
    records = [Record(id=index) for index in range(3)]
    assert Page(records, 10, 3, 0).next_offset == 3
    assert Page(records, 6, 3, 3).next_offset is None
    assert Page([], 10, 3, 9).next_offset is None
    assert len(Page(records, 3, 3, 0)) == 3


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1250.10"), "1250.10"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0.01"), "-0.01"),
        (Decimal("1.0834000000000001"), "1.0834000000000001"),
        (Decimal("0.000000001"), "0.000000001"),
    ],
)
def test_decimals_serialise_to_exact_fixed_point_strings(value, text):
    assert to_jsonable({"amount": value}) == {"amount": text}


def test_payload_serialisation_handles_dates_nested_lists_and_refuses_floats_and_nan():
    payload = {
        "date": dt.date(2026, 3, 31),
        "at": dt.datetime(2026, 3, 31, 9, 30, tzinfo=dt.UTC),
        "items": ({"amount": Decimal("2.50"), "position": 0},),
        "flag": True,
        "nothing": None,
    }
    assert to_jsonable(payload) == {
        "date": "2026-03-31",
        "at": "2026-03-31T09:30:00+00:00",
        "items": [{"amount": "2.50", "position": 0}],
        "flag": True,
        "nothing": None,
    }
    with pytest.raises(TypeError, match="float"):
        to_jsonable({"amount": 2.5})
    with pytest.raises(ValueError, match="finite"):
        to_jsonable({"amount": Decimal("NaN")})
    with pytest.raises(TypeError, match="set"):
        to_jsonable({"ids": {1, 2}})


def test_odd_but_readable_answers_take_the_slow_path():
    shape = response_shape("GET", REFUND_DETAIL, 200)
    refund = parse_record(
        {
            "date": "2026-03-31T00:00:00Z",  # a date-time where a date is documented
            "amount": 12,  # a JSON integer where a decimal string is documented
            "attachments": [None, {"id": 1, "file_name": "a.pdf", "file_size": 1}],
        },
        shape,
    )
    assert refund.date == dt.date(2026, 3, 31)
    assert refund.amount == Decimal(12)
    assert refund.attachments[0] is None and refund.attachments[1].file_name == "a.pdf"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "NaN", "amount: 'NaN' is not a finite decimal number"),
        ("amount", "12,50", "amount: '12,50' is not a decimal number"),
        ("amount", True, "amount: True is not a decimal number"),
        ("date", "31/03/2026", "date: '31/03/2026' is not an ISO date"),
        ("items", {"amount": "1"}, "items: expected a list, got dict"),
        ("created_by", "someone", "created_by: expected an object, got str"),
    ],
)
def test_off_schema_values_are_refused_with_the_field_named(field, value, message):
    with pytest.raises(ValueError) as caught:
        parse_record({field: value}, response_shape("GET", REFUND_DETAIL, 200))
    assert str(caught.value) == message
