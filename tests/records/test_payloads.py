"""Request bodies: from forms (exact values the spec accepts), back to forms, and rebuilt from
a GET (deposits: line amounts only from what the portal itself sent, if it still fits)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.http import QueryDict

from dualentry_api import spec
from dualentry_api.records import Record, to_jsonable
from portal.records.forms import validate_record_forms
from portal.records.kinds import KINDS
from portal.records.payloads import (
    deposit_line_amounts_known,
    initial_from_payload,
    payload_from_forms,
    payload_from_record,
    payload_total,
    payload_with_attachments,
    payload_with_custom_fields,
    payload_with_line_ids,
)
from tests.records.edit_support import with_lines
from tests.records.test_forms import FORMS, REFERENCES, VALID

KIND_FOR = {
    "refund": "refunds",
    "deposit": "deposits",
    "credit": "credits",
    "contract": "contracts",
}
CREATE_PATHS = {
    "refunds": "/public/v2/customer-refunds/",
    "deposits": "/public/v2/customer-deposits/",
    "credits": "/public/v2/customer-credits/",
    "contracts": "/public/v2/contracts/",
}


def _valid_forms(name: str, header: dict | None = None, lines: list | None = None):
    base_header, base_lines = VALID[name]
    query = QueryDict(mutable=True)
    query.update(
        with_lines({**base_header, **(header or {})}, base_lines if lines is None else lines)
    )
    form_class, formset_class = FORMS[name]
    form = form_class(query, references=REFERENCES)
    formset = formset_class(
        query, form_kwargs={"references": REFERENCES, "company_id": form.company_id}
    )
    assert validate_record_forms(form, formset), (form.errors, formset.errors)
    return form, formset


@pytest.mark.parametrize("name", sorted(KIND_FOR))
def test_form_fields_are_request_body_fields(name):
    kind = KINDS[KIND_FOR[name]]
    form_class = kind.forms.header
    properties = set(form_class.schema_fields())
    assert set(form_class.api_fields()) <= properties
    assert form_class.items_field in properties
    required = set(spec.component_schema(form_class.schema).get("required", []))
    assert required <= set(form_class.api_fields()) | {form_class.items_field}
    item_form_class = kind.forms.line
    item_properties = spec.component_schema(item_form_class.schema)["properties"]
    assert set(item_form_class.api_fields()) <= set(item_properties)


@pytest.mark.parametrize("name", sorted(KIND_FOR))
def test_bodies_from_valid_forms_pass_the_spec(name):
    kind = KINDS[KIND_FOR[name]]
    form, formset = _valid_forms(name)
    payload = payload_from_forms(kind=kind, form=form, formset=formset, record_status="draft")
    body = json.loads(json.dumps(to_jsonable(payload)))
    assert spec.validate_request("POST", CREATE_PATHS[kind.slug], body) == []
    if kind.status_field == "record_status":
        assert body["record_status"] == "draft"
    else:
        assert "record_status" not in body and body["status"] == "draft"


def test_refund_body_keeps_decimals_exact_and_numbers_lines():
    form, formset = _valid_forms(
        "refund",
        {"exchange_rate": "1.0000000000000001", "currency_iso_4217_code": "EUR"},
        [
            {"customer_credit_number": "1001", "amount": "10.5"},
            {"customer_prepayment_number": "77", "amount": "0003.10"},
        ],
    )
    payload = payload_from_forms(
        kind=KINDS["refunds"], form=form, formset=formset, record_status="draft"
    )
    assert payload["exchange_rate"] == Decimal("1.0000000000000001")
    assert to_jsonable(payload)["exchange_rate"] == "1.0000000000000001"
    assert to_jsonable(payload["items"]) == [
        {"customer_credit_number": 1001, "amount": "10.50", "position": 0},
        {"customer_prepayment_number": 77, "amount": "3.10", "position": 1},
    ]
    assert "transaction_date" not in payload  # left empty: the API's default applies


def test_usage_batch_body_is_just_its_lines():
    form, formset = _valid_forms("usage")
    payload = payload_from_forms(
        kind=KINDS["contracts"], form=form, formset=formset, record_status="draft"
    )
    body = json.loads(json.dumps(to_jsonable(payload)))
    assert body == {
        "items": [
            {"obligation_id": 9001, "usage_date": "2025-02-01", "quantity": "3.5", "memo": ""}
        ]
    }
    assert spec.validate_request("POST", "/public/v2/contracts/5/usage/bulk-upsert/", body) == []


@pytest.mark.parametrize("name", ["refund", "credit", "contract"])
def test_initial_from_payload_round_trips(name):
    kind = KINDS[KIND_FOR[name]]
    form, formset = _valid_forms(name)
    payload = to_jsonable(
        payload_from_forms(kind=kind, form=form, formset=formset, record_status="draft")
    )
    initial, items_initial = initial_from_payload(kind=kind, payload=payload)
    form_class, formset_class = FORMS[name]
    again = form_class(initial=initial, references=REFERENCES)
    data = {name: again[name].value() for name in again.fields}
    lines = [dict(line) for line in items_initial]
    query = QueryDict(mutable=True)
    query.update(with_lines({k: "" if v is None else v for k, v in data.items()}, lines))
    form2 = form_class(query, references=REFERENCES)
    formset2 = formset_class(
        query, form_kwargs={"references": REFERENCES, "company_id": form2.company_id}
    )
    assert validate_record_forms(form2, formset2), (form2.errors, formset2.errors)
    rebuilt = payload_from_forms(kind=kind, form=form2, formset=formset2, record_status="draft")
    assert to_jsonable(rebuilt) == payload


# --- rebuilt from a GET --------------------------------------------------------------------------

REFUND_OUT = {
    "number": 1042, "date": "2025-03-14", "transaction_date": "2025-03-12", "company_id": 1,
    "company_name": "Acme Inc", "customer_id": 101, "customer_name": "Bluebird", "memo": "m",
    "check_number": "", "account_number": 11000, "currency_iso_4217_code": "USD",
    "exchange_rate": "1", "bank_or_credit_card_amount": "0.00", "amount": "14.50",
    "record_status": "draft", "payment_method_id": 2, "paper_check_status": None,
    "items": [
        {"customer_credit_number": 5, "customer_prepayment_number": None, "amount": "10.50",
         "position": 0, "bank_or_credit_card_amount": "0.00"},
        {"customer_credit_number": None, "customer_prepayment_number": 6, "amount": "4.00",
         "position": 1, "bank_or_credit_card_amount": "0.00"},
    ],
    "attachments": [{"id": 7, "file_name": "a.pdf", "file_size": 10, "download_url": "http://x"}],
}  # fmt: skip

DEPOSIT_OUT = {
    "number": 2001, "date": "2025-04-01", "transaction_date": "2025-04-01", "company_id": 1,
    "company_name": "Acme Inc", "account_id": 201, "currency_iso_4217_code": "USD",
    "exchange_rate": "1", "amount": "150.25", "memo": "", "record_status": "draft",
    "transaction_id": 1, "items": [
        {"id": 31, "customer_payment_number": 77, "customer_prepayment_number": None,
         "cash_sale_number": None, "vendor_refund_number": None, "account_id": None,
         "description": "", "customer_id": 101, "vendor_id": None},
        {"id": 32, "customer_payment_number": None, "customer_prepayment_number": None,
         "cash_sale_number": None, "vendor_refund_number": None, "account_id": 208,
         "description": "Cash", "customer_id": None, "vendor_id": None},
    ],
}  # fmt: skip

SENT_DEPOSIT = {
    "account_number": 11000,
    "items": [
        {"id": 31, "customer_payment_number": 77, "amount": "120.00", "position": 0},
        {"id": 32, "account_number": 12100, "description": "Cash", "amount": "30.25",
         "position": 1},
    ],
}  # fmt: skip


def test_refund_payload_from_record_is_a_full_put_body():
    payload = payload_from_record(kind=KINDS["refunds"], record=Record(REFUND_OUT))
    body = json.loads(json.dumps(to_jsonable(payload)))
    assert spec.validate_request("PUT", "/public/v2/customer-refunds/1042/", body) == []
    assert body["items"] == [
        {"customer_credit_number": 5, "amount": "10.50", "position": 0},
        {"customer_prepayment_number": 6, "amount": "4.00", "position": 1},
    ]
    assert body["attachments"] == [{"id": 7, "file_name": "a.pdf", "file_size": 10}]
    assert body["record_status"] == "draft" and body["payment_method_id"] == 2


def test_deposit_amounts_come_from_what_the_portal_sent():
    payload = payload_from_record(
        kind=KINDS["deposits"],
        record=Record(DEPOSIT_OUT),
        sent_payload=SENT_DEPOSIT,
        accounts={201: 11000, 208: 12100},
    )
    assert deposit_line_amounts_known(payload)
    assert payload["account_number"] == 11000
    assert [line["amount"] for line in payload["items"]] == [Decimal("120.00"), Decimal("30.25")]
    assert payload["items"][1]["account_number"] == 12100
    body = json.loads(json.dumps(to_jsonable(payload)))
    assert spec.validate_request("PUT", "/public/v2/customer-deposits/2001/", body) == []
    assert payload_total(kind=KINDS["deposits"], payload=payload) == Decimal("150.25")


@pytest.mark.parametrize(
    "sent",
    [
        None,  # drafted elsewhere
        {**SENT_DEPOSIT, "items": [SENT_DEPOSIT["items"][0]]},  # a line added elsewhere
        {**SENT_DEPOSIT, "items": [{**SENT_DEPOSIT["items"][0], "amount": "100.00"},
                                   SENT_DEPOSIT["items"][1]]},  # amounts changed elsewhere
    ],
)  # fmt: skip
def test_deposit_amounts_are_not_guessed_when_the_record_moved_on(sent):
    payload = payload_from_record(
        kind=KINDS["deposits"], record=Record(DEPOSIT_OUT), sent_payload=sent, accounts={}
    )
    assert not deposit_line_amounts_known(payload)
    assert all("amount" not in line for line in payload["items"])
    assert payload_total(kind=KINDS["deposits"], payload=payload) is None


def test_deposit_account_falls_back_to_the_sent_number_without_the_account_list():
    payload = payload_from_record(
        kind=KINDS["deposits"], record=Record(DEPOSIT_OUT), sent_payload=SENT_DEPOSIT
    )
    assert payload["account_number"] == 11000
    assert payload["items"][1]["account_number"] == 12100


def test_line_ids_from_the_answer_are_kept_for_the_next_edit():
    sent = {"items": [{"amount": "1.00", "position": 1}, {"amount": "2.00", "position": 0}]}
    answer = {"items": [{"id": 50}, {"id": 51}]}  # in position order
    with_ids = payload_with_line_ids(kind=KINDS["deposits"], payload=sent, record=answer)
    assert with_ids["items"] == [
        {"amount": "1.00", "position": 1, "id": 51},
        {"amount": "2.00", "position": 0, "id": 50},
    ]


def test_attachments_are_carried_over_unless_the_body_names_them():
    record = Record({"attachments": [{"id": 1, "file_name": "a", "file_size": 3}]})
    assert payload_with_attachments(payload={}, record=record)["attachments"] == [
        {"id": 1, "file_name": "a", "file_size": 3}
    ]
    assert payload_with_attachments(payload={"attachments": []}, record=record)["attachments"] == []


def test_custom_field_values_are_carried_over_in_the_input_shape():
    record = Record(
        {
            "custom_fields": [
                {"field": {"id": 601, "name": "Cost centre"},
                 "value": {"id": 9, "custom_field_id": 601, "custom_field_name": "Cost centre",
                           "custom_field_type": "text", "custom_field_value_id": 4,
                           "value": "CC-12", "created_at": "x", "updated_at": "x"}},
                {"field": {"id": 602, "name": "Unset"}, "value": None},
            ]
        }
    )  # fmt: skip
    carried = payload_with_custom_fields(payload={}, record=record)["custom_fields"]
    assert carried == [{"field": {"id": 601}, "value": {"custom_field_id": 601, "value": "CC-12"}}]
    body = payload_from_record(kind=KINDS["refunds"], record=Record({**REFUND_OUT, **record.raw}))
    assert body["custom_fields"] == carried
    assert (
        spec.validate_request(
            "PUT", "/public/v2/customer-refunds/1042/", json.loads(json.dumps(to_jsonable(body)))
        )
        == []
    )
