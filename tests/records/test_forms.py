"""Each validation rule of the edit forms, with the message people see (no HTTP, no database).

Rules come from the spec (required, enums, decimal places, minimums, integers, dates) and from
what a finance person expects (lines needed, no zero amounts, totals that add up)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.http import QueryDict

from portal.records.forms import (
    ContractForm,
    ContractObligationFormSet,
    CustomerCreditForm,
    CustomerCreditItemFormSet,
    CustomerDepositForm,
    CustomerDepositItemFormSet,
    CustomerRefundForm,
    CustomerRefundItemFormSet,
    FormReferences,
    Option,
    UsageBatchForm,
    UsageItemFormSet,
    validate_record_forms,
)
from tests.records.edit_support import with_lines

REFERENCES = FormReferences(
    companies=[Option(1, "Acme Inc", currency="USD"), Option(2, "Acme GmbH", currency="EUR")],
    customers=[Option(101, "Bluebird Bakeries"), Option(102, "Cedar Ridge Health")],
    accounts=[
        Option(11000, "11000 · Operating Bank", company_id=1),
        Option(12100, "12100 · Customer Deposits", company_id=1),
        Option(21000, "21000 · Operating Bank (EUR)", company_id=2),
    ],
    items=[Option(301, "Platform subscription"), Option(302, "Onboarding")],
    vendors=[Option(401, "Paper Co", company_id=1)],
    payment_methods=[Option(1, "Check"), Option(2, "ACH transfer")],
    obligations=[Option(9001, "1. Platform subscription")],
)

FORMS = {
    "refund": (CustomerRefundForm, CustomerRefundItemFormSet),
    "deposit": (CustomerDepositForm, CustomerDepositItemFormSet),
    "credit": (CustomerCreditForm, CustomerCreditItemFormSet),
    "contract": (ContractForm, ContractObligationFormSet),
    "usage": (UsageBatchForm, UsageItemFormSet),
}

VALID = {
    "refund": (
        {
            "company_id": "1", "customer_id": "101", "date": "2025-03-14",
            "account_number": "11000", "currency_iso_4217_code": "USD", "exchange_rate": "1",
            "bank_or_credit_card_amount": "0",
        },
        [{"customer_credit_number": "1001", "amount": "10.50"}],
    ),
    "deposit": (
        {
            "company_id": "1", "date": "2025-03-14", "account_number": "11000",
            "currency_iso_4217_code": "USD", "exchange_rate": "1",
        },
        [{"customer_payment_number": "2001", "amount": "100.00"}],
    ),
    "credit": (
        {
            "company_id": "1", "customer_id": "101", "date": "2025-03-14",
            "currency_iso_4217_code": "USD", "exchange_rate": "1",
        },
        [{"item_id": "301", "quantity": "2", "rate": "10"}],
    ),
    "contract": (
        {
            "name": "Bluebird platform 2025", "company_id": "1", "customer_id": "101",
            "status": "draft", "start_date": "2025-01-01", "end_date": "2025-12-31",
            "currency_iso_4217_code": "USD", "billing_frequency": "monthly",
            "billing_interval": "1", "recognition_frequency": "monthly",
            "recognition_interval": "1",
        },
        [{"item_id": "301", "quantity": "12", "rate": "99",
          "recognition_strategy": "straight_line"}],
    ),
    "usage": ({}, [{"obligation_id": "9001", "usage_date": "2025-02-01", "quantity": "3.5"}]),
}  # fmt: skip


def check(kind: str, header: dict | None = None, lines: list | None = None, **kwargs):
    """Validate `kind`'s valid example changed by `header`/`lines`; (valid, form, formset)."""
    base_header, base_lines = VALID[kind]
    data = {**base_header, **(header or {})}
    data = {name: value for name, value in data.items() if value is not None}
    lines = base_lines if lines is None else lines
    query = QueryDict(mutable=True)
    query.update(with_lines(data, lines))
    form_class, formset_class = FORMS[kind]
    form = form_class(query, references=REFERENCES, **kwargs)
    formset = formset_class(
        query, form_kwargs={"references": REFERENCES, "company_id": form.company_id}
    )
    return validate_record_forms(form, formset), form, formset


def header_errors(form) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in form.errors.items()}


def line_errors(formset, index: int = 0) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in formset.forms[index].errors.items()}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_examples_pass(kind):
    valid, form, formset = check(kind)
    assert valid, (form.errors, formset.errors, formset.non_form_errors())


# --- header fields -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "changes", "field", "message"),
    [
        ("refund", {"date": ""}, "date", "Posting date is required: type a date like 2025-03-31."),
        ("refund", {"date": "2025-02-30"}, "date",
         "Posting date: that is not a date; type one like 2025-03-31."),
        ("refund", {"date": "14/03/2025"}, "date",
         "Posting date: that is not a date; type one like 2025-03-31."),
        ("refund", {"transaction_date": "1850-01-01"}, "transaction_date",
         "Transaction date: 1850-01-01 is out of range; type a date between 1900 and 2100, like "
         "2025-03-31."),
        ("refund", {"company_id": ""}, "company_id",
         "Company is required: choose one from the list."),
        ("refund", {"customer_id": "999"}, "customer_id",
         "Customer: 999 is not one of the choices; choose one from the list."),
        ("refund", {"account_number": "21000"}, "account_number",
         "Bank account: 21000 · Operating Bank (EUR) belongs to Acme GmbH; choose one of Acme "
         "Inc's accounts."),
        ("refund", {"currency_iso_4217_code": "XYZ"}, "currency_iso_4217_code",
         "Currency: XYZ is not one of the choices; choose one from the list."),
        ("refund", {"exchange_rate": ""}, "exchange_rate",
         "Exchange rate is required: type a number like 1.0825."),
        ("refund", {"exchange_rate": "0"}, "exchange_rate",
         "Exchange rate: must be more than zero; type a positive number like 1.0825."),
        ("refund", {"currency_iso_4217_code": "EUR", "exchange_rate": "1.12345678901234567"},
         "exchange_rate",
         "Exchange rate: use at most 16 decimal places (for example 1.0825)."),
        ("refund", {"exchange_rate": "1.08"}, "exchange_rate",
         "Exchange rate: the refund is in Acme Inc's own currency (USD), so the rate must be 1."),
        ("refund", {"exchange_rate": "1e3"}, "exchange_rate",
         "Exchange rate: type a number with digits and a decimal point, like 1.0825."),
        ("refund", {"bank_or_credit_card_amount": "-1"}, "bank_or_credit_card_amount",
         "Paid from bank or card: cannot be negative; type 0 or a positive number."),
        ("refund", {"bank_or_credit_card_amount": "11"}, "bank_or_credit_card_amount",
         "Paid from bank or card: 11.00 is more than the refund's total (10.50, the sum of its "
         "lines). Lower it or add lines."),
        ("refund", {"payment_method_id": "7"}, "payment_method_id",
         "Payment method: 7 is not one of the choices; choose one from the list."),
        ("refund", {"check_number": "x" * 65}, "check_number",
         "Check number: use at most 64 characters (you typed 65)."),
        ("refund", {"memo": "a\x00b"}, "memo", "Memo: remove the invisible null characters."),
        ("credit", {"invoice_number": "INV-1"}, "invoice_number",
         "Invoice number: type a whole number (digits only), like 1042."),
        ("credit", {"invoice_number": "99999999999"}, "invoice_number",
         "Invoice number: type a number no larger than 2147483647."),
        ("credit", {"billing_address.city": "Denver"}, "billing_address.street",
         "Billing address: a street is needed for an address (or leave every part of it empty)."),
        ("credit", {"shipping_address.street": "1 Main St", "shipping_address.city": "Denver",
                    "shipping_address.postal_code": "80202", "shipping_address.country": "USA"},
         "shipping_address.country",
         "Shipping address: country: type the two-letter country code, like US, DE or GB."),
        ("contract", {"name": ""}, "name", "Name is required: type it in."),
        ("contract", {"name": "n" * 129}, "name",
         "Name: use at most 128 characters (you typed 129)."),
        ("contract", {"memo": "m" * 513}, "memo",
         "Memo: use at most 512 characters (you typed 513)."),
        ("contract", {"status": "completed"}, "status",
         "Status: a new contract starts as Draft or Active; choose one of them."),
        ("contract", {"end_date": "2024-12-31"}, "end_date",
         "End date: 2024-12-31 is before the start date (2025-01-01); type a later date or "
         "leave it empty."),
        ("contract", {"billing_interval": "0"}, "billing_interval",
         "Billing interval: type a number no smaller than 1."),
        ("contract", {"billing_frequency": "fortnightly"}, "billing_frequency",
         "Billing frequency: fortnightly is not one of the choices; choose one from the list."),
        ("contract", {"default_early_termination_fee": "12.345"}, "default_early_termination_fee",
         "Early termination fee: use at most 2 decimal places (for example 1250.00)."),
    ],
)  # fmt: skip
def test_header_rule(kind, changes, field, message):
    valid, form, _formset = check(kind, changes)
    assert not valid
    assert header_errors(form)[field] == [message]


# --- lines ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "line", "field", "message"),
    [
        ("refund", {"customer_credit_number": "1001", "amount": "10.123"}, "amount",
         "Amount: use at most 2 decimal places (for example 1250.00)."),
        ("refund", {"customer_credit_number": "1001", "amount": "0"}, "amount",
         "Amount: must be more than zero; type a positive number like 1250.00."),
        ("refund", {"customer_credit_number": "1001", "amount": "-5"}, "amount",
         "Amount: must be more than zero; type a positive number like 1250.00."),
        ("refund", {"customer_credit_number": "1001", "amount": "ten"}, "amount",
         "Amount: type a number with digits and a decimal point, like 1250.00."),
        ("refund", {"customer_credit_number": "1001", "amount": "1" * 16}, "amount",
         "Amount: that number is too large; use at most 15 digits before the decimal point."),
        ("refund", {"customer_credit_number": "1001", "amount": ""}, "amount",
         "Amount is required: type a number like 1250.00."),
        ("refund", {"amount": "5"}, "customer_credit_number",
         "Credit: choose the customer credit this line refunds (or a prepayment instead)."),
        ("refund", {"customer_credit_number": "1", "customer_prepayment_number": "2",
                    "amount": "5"}, "customer_prepayment_number",
         "Prepayment: a line refunds either a credit or a prepayment; clear one of the two."),
        ("refund", {"customer_credit_number": "-3", "amount": "5"}, "customer_credit_number",
         "Credit: type a number no smaller than 1."),
        ("deposit", {"amount": "5"}, "account_number",
         "Account: choose the account this line is booked to, or the payment, prepayment, "
         "cash sale or vendor refund it deposits."),
        ("deposit", {"customer_payment_number": "1", "cash_sale_number": "2", "amount": "5"},
         "cash_sale_number",
         "Cash sale: a line deposits one source record; keep only the payment or this one."),
        ("deposit", {"account_number": "21000", "amount": "5"}, "account_number",
         "Account: 21000 · Operating Bank (EUR) belongs to Acme GmbH; choose one of Acme Inc's "
         "accounts."),
        ("credit", {"item_id": "", "quantity": "1", "rate": "5"}, "item_id",
         "Item is required: choose one from the list."),
        ("credit", {"item_id": "301", "quantity": "0", "rate": "5"}, "quantity",
         "Quantity: must be more than zero; type a positive number like 2.5."),
        ("credit", {"item_id": "301", "quantity": "1.1234567", "rate": "5"}, "quantity",
         "Quantity: use at most 6 decimal places (for example 2.5)."),
        ("credit", {"item_id": "301", "quantity": "1", "rate": "-5"}, "rate",
         "Rate: cannot be negative; type 0 or a positive number."),
        ("contract", {"item_id": "301", "quantity": "1", "rate": "10",
                      "discount_type": "PERCENTAGE", "recognition_strategy": "straight_line"},
         "discount_value",
         "Discount: type the discount for this line."),
        ("contract", {"item_id": "301", "quantity": "1", "rate": "10", "discount_value": "5",
                      "recognition_strategy": "straight_line"}, "discount_type",
         "Discount type: choose Percentage or Fixed amount for it."),
        ("contract", {"item_id": "301", "quantity": "1", "rate": "10",
                      "discount_type": "PERCENTAGE", "discount_value": "150",
                      "recognition_strategy": "straight_line"},
         "discount_value", "Discount: a percentage cannot be over 100."),
        ("contract", {"item_id": "301", "quantity": "1", "rate": "10", "discount_type": "FIXED",
                      "discount_value": "11", "recognition_strategy": "straight_line"},
         "discount_value", "Discount: 11 is more than the line's value (10.00)."),
        ("contract", {"item_id": "301", "quantity": "1", "rate": "10",
                      "recognition_strategy": "straight_line",
                      "recognition_start_date": "2025-06-01", "recognition_end_date": "2025-01-01"},
         "recognition_end_date",
         "Recognition ends: this date is before the recognition start; type a later one."),
        ("contract", {"item_id": "301", "quantity": "1", "rate": "10",
                      "recognition_strategy": "magic"}, "recognition_strategy",
         "Recognition: magic is not one of the choices; choose one from the list."),
        ("usage", {"obligation_id": "9001", "usage_date": "2025-02-01", "quantity": "0"},
         "quantity", "Quantity: must be more than zero; type a positive number like 12.5."),
        ("usage", {"obligation_id": "9001", "usage_date": "2025-02-01", "quantity": "1",
                   "rate": "0.12345678901"}, "rate",
         "Rate: use at most 10 decimal places (for example 0.25)."),
        ("usage", {"obligation_id": "1", "usage_date": "2025-02-01", "quantity": "1"},
         "obligation_id", "Obligation: 1 is not one of the choices; choose one from the list."),
        ("usage", {"obligation_id": "9001", "quantity": "1"}, "usage_date",
         "Usage date is required: type a date like 2025-03-31."),
    ],
)  # fmt: skip
def test_line_rule(kind, line, field, message):
    valid, _form, formset = check(kind, lines=[line])
    assert not valid
    assert line_errors(formset)[field] == [message]


@pytest.mark.parametrize(
    ("kind", "noun"),
    [("refund", "refund"), ("deposit", "deposit"), ("credit", "credit"),
     ("contract", "contract"), ("usage", "usage batch")],
)  # fmt: skip
def test_a_record_needs_at_least_one_line(kind, noun):
    valid, _form, formset = check(kind, lines=[])
    assert not valid
    assert list(formset.non_form_errors()) == [
        f"Lines: a {noun} needs at least one line; fill in the first row."
    ]


def test_blank_and_removed_rows_are_ignored():
    lines = [
        {"customer_credit_number": "1001", "amount": "10.50"},
        {"customer_credit_number": "", "amount": ""},
        {"customer_credit_number": "1002", "amount": "oops", "DELETE": "on"},
    ]
    valid, _form, formset = check("refund", lines=lines)
    assert valid
    assert [line["amount"] for line in formset.lines()] == [Decimal("10.50")]


def test_credit_of_zero_is_refused():
    valid, form, _ = check("credit", lines=[{"item_id": "301", "quantity": "1", "rate": "0"}])
    assert not valid
    assert list(form.non_field_errors()) == [
        "The credit's total is zero: enter a rate above zero on at least one line."
    ]


def test_contract_of_zero_value_is_refused():
    lines = [{"item_id": "301", "quantity": "1", "rate": "0", "recognition_strategy": "usage"}]
    valid, form, _ = check("contract", lines=lines)
    assert not valid
    assert list(form.non_field_errors()) == [
        "The contract's value is zero: enter a quantity and a rate above zero on at least one "
        "obligation."
    ]


def test_deposit_lines_must_add_up_to_the_known_amount():
    lines = [
        {"customer_payment_number": "2001", "amount": "100.00"},
        {"account_number": "12100", "amount": "20.00"},
    ]
    valid, form, _ = check("deposit", lines=lines, expected_total=Decimal("150.00"))
    assert not valid
    assert list(form.non_field_errors()) == [
        "The line amounts add up to 120.00, but the deposit's amount in DualEntry is 150.00. "
        "Enter line amounts that add up to 150.00."
    ]
    valid, _form, _ = check("deposit", lines=lines, expected_total=Decimal("120.00"))
    assert valid


# --- choices -------------------------------------------------------------------------------------


def test_widget_shows_only_the_chosen_companys_accounts_but_keeps_the_current_value():
    query = QueryDict(mutable=True)
    query.update({"company_id": "1", "account_number": "21000"})
    form = CustomerRefundForm(query, references=REFERENCES)
    shown = [value for value, _label in form.fields["account_number"].widget.choices]
    assert shown == ["", "11000", "12100", "21000"]  # 21000 is the user's, kept visible
    fresh = CustomerRefundForm(initial={"company_id": 2}, references=REFERENCES)
    assert [value for value, _ in fresh.fields["account_number"].widget.choices] == ["", "21000"]


def test_a_payment_method_missing_from_the_setting_stays_valid_for_its_record():
    valid, form, _ = check("refund", {"payment_method_id": "7"})
    assert not valid  # typed in: refused
    query = QueryDict(mutable=True)
    query.update(with_lines({**VALID["refund"][0], "payment_method_id": "7"}, VALID["refund"][1]))
    form = CustomerRefundForm(query, initial={"payment_method_id": 7}, references=REFERENCES)
    formset = CustomerRefundItemFormSet(
        query, form_kwargs={"references": REFERENCES, "company_id": 1}
    )
    assert validate_record_forms(form, formset), form.errors
    assert form.cleaned_data["payment_method_id"] == 7
    labels = dict(form.fields["payment_method_id"].choices)
    assert labels["7"] == "Payment method 7 (not in the list)"


def test_a_list_that_cannot_be_loaded_becomes_an_id_input():
    references = FormReferences(
        companies=REFERENCES.companies, customers=None, accounts=REFERENCES.accounts,
        payment_methods=REFERENCES.payment_methods,
    )  # fmt: skip
    query = QueryDict(mutable=True)
    query.update(with_lines(VALID["refund"][0], VALID["refund"][1]))
    form = CustomerRefundForm(query, references=references)
    formset = CustomerRefundItemFormSet(
        query, form_kwargs={"references": references, "company_id": 1}
    )
    assert "could not be loaded" in form.fields["customer_id"].help_text
    assert validate_record_forms(form, formset)
    assert form.cleaned_data["customer_id"] == 101


def test_messages_name_the_field_for_every_required_field():
    form = ContractForm(QueryDict(), references=REFERENCES)
    form.is_valid()
    for name, errors in form.errors.items():
        label = form.fields[name].label
        assert all(error.startswith(label) for error in errors), (name, errors)
