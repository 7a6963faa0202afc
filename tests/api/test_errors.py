"""ErrorSchema bodies split into field, non-field and per-line errors, in every known shape."""

from __future__ import annotations

import pytest

from dualentry_api.errors import (
    ConnectionFailed,
    NotSupported,
    RateLimited,
    ValidationFailed,
    error_for_response,
    parse_error_body,
    retry_after_seconds,
)

LINE_ERRORS = {0: {"amount": ["Too big."]}, 2: {"position": ["Required."]}}


@pytest.mark.parametrize(
    "errors",
    [
        {"items[0].amount": ["Too big."], "items[2].position": ["Required."]},
        {"items.0.amount": ["Too big."], "items.2.position": ["Required."]},
        {"items[0][amount]": ["Too big."], "items[2][position]": ["Required."]},
        {"items": [{"amount": ["Too big."]}, {}, {"position": ["Required."]}]},
        {"items": {"0": {"amount": ["Too big."]}, "2": {"position": ["Required."]}}},
    ],
    ids=["brackets", "dots", "double-brackets", "nested-list", "nested-dict"],
)
def test_item_errors_are_addressed_by_line_index_in_every_format(errors):
    field_errors, non_field, items = parse_error_body({"success": False, "errors": errors})
    assert items == LINE_ERRORS
    assert field_errors == {} and non_field == []


def test_field_and_non_field_errors_and_whole_list_errors():
    field_errors, non_field, items = parse_error_body(
        {
            "errors": {
                "__all__": ["Period is closed."],
                "date": ["Enter a valid date."],
                "items": ["At least one line is required."],
                "billing_address": {"country": ["Unknown country."]},
                "items[1]": ["This line is a duplicate."],
            }
        }
    )
    assert non_field == ["Period is closed."]
    assert field_errors == {
        "date": ["Enter a valid date."],
        "items": ["At least one line is required."],
        "billing_address.country": ["Unknown country."],
    }
    assert items == {1: {"__all__": ["This line is a duplicate."]}}


def test_nested_line_objects_flatten_to_dotted_fields():
    _, _, items = parse_error_body({"errors": {"items": [{"tax": {"vat_rate_id": ["Bad."]}}]}})
    assert items == {0: {"tax.vat_rate_id": ["Bad."]}}


def test_bodies_that_are_not_error_schemas_do_not_crash():
    assert parse_error_body(None) == ({}, [], {})
    assert parse_error_body({"detail": "Not allowed"}) == ({}, ["Not allowed"], {})
    assert parse_error_body(["x"]) == ({}, [], {})


def test_validation_failed_lists_every_message_for_a_flash():
    error = error_for_response(
        status=422,
        method="PUT",
        path="/p/",
        body={"errors": {"__all__": ["Closed."], "memo": ["Too long."], "items.0.amount": ["No."]}},
        request_id=None,
    )
    assert isinstance(error, ValidationFailed)
    assert error.messages == ["Closed.", "memo: Too long.", "line 1 amount: No."]


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_exception_strings_are_technical_and_sentences_are_for_people():
    error = RateLimited("hit", retry_after=1.2, status=429, method="GET", path="/x/")
    assert str(error) == "GET /x/ (HTTP 429): hit"
    assert error.user_message == "DualEntry is busy right now. Try again in 1 second."
    failed = ConnectionFailed("ReadTimeout", method="GET", path="/x/")
    assert "no response" in str(failed)
    assert repr(failed).startswith("ConnectionFailed(status=None")
    assert isinstance(NotSupported("x"), AttributeError)
