"""Money rules (portal.records.money_rules): what refund and deposit lines may apply.

Each rule once per kind that has it, through the real form pages against the sandbox; the two
wrong refunds of issue 15 (another customer's credit; more than a credit has left, then a
second refund over-reserving it); the same rules live at submit and approval; the pickers."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest

from portal.approvals import services as approvals
from portal.approvals.models import ApprovalRequest
from portal.approvals.services.transitions import MoneyRulesBroken
from portal.readmodel.sync import sync_all_now
from portal.records import money_rules
from tests.records.edit_support import error_messages, form_values, open_source, with_lines
from tests.records.money_support import customer_id, make_credit, new_token, refund_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_settings")]


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    sandbox.reset()


def credit_line(credit: int, amount: str) -> dict:
    return {"customer_credit_number": credit, "amount": amount}


def posts_of_refunds(sandbox) -> int:
    return sandbox.request_count("/public/v2/customer-refunds/", "POST")


def messages_of(response) -> list[str]:
    return [unescape(message) for message in error_messages(response.content.decode())]


def refused_messages(client, slug: str, data: dict) -> list[str]:
    """Post a new record's form that must be refused: a 422, and the messages it shows."""
    response = client.post(f"/{slug}/new/", data)
    assert response.status_code == 422
    return messages_of(response)


def any_message(messages: list[str], *, starting: str = "", holding: str = "") -> bool:
    """Whether one of `messages` starts with `starting` and holds `holding`."""
    return any(message.startswith(starting) and holding in message for message in messages)


@pytest.fixture
def preparer_client(login_as, preparer):
    return login_as(preparer)


@pytest.fixture
def acme(sandbox) -> int:
    """Acme Logistics, the customer the refunds here are for."""
    return customer_id(sandbox, "Acme Logistics")


@pytest.fixture
def credit(sandbox, acme) -> int:
    """A posted credit of 100.00 USD for Acme Logistics, made in DualEntry: its number."""
    return make_credit(sandbox, customer=acme, amount="100.00")


# --- the two wrong refunds of the issue ---------------------------------------------------------


def test_refund_cannot_apply_another_customers_credit(sandbox, preparer_client, acme):
    delta = customer_id(sandbox, "Delta Marine Services")
    credit = make_credit(sandbox, customer=delta, amount="900.00")
    data = refund_form(preparer_client, customer=acme, lines=[credit_line(credit, "500.00")])
    response = preparer_client.post("/refunds/new/", data)
    assert response.status_code == 422
    assert (
        f"Line 1: credit {credit} belongs to Delta Marine Services, not to Acme Logistics; a "
        "refund can only apply the customer's own credits."
    ) in messages_of(response)
    assert posts_of_refunds(sandbox) == 0
    assert form_values(response.content.decode())["items-0-amount"] == "500.00"  # input kept


def test_refund_cannot_apply_more_than_the_credit_has_left_nor_over_reserve_it(
    sandbox, preparer_client, acme
):
    credit = make_credit(sandbox, customer=acme, amount="1910.00")
    too_much = refund_form(preparer_client, customer=acme, lines=[credit_line(credit, "2,500.00")])
    assert (
        f"Line 1: 2,500.00 USD is more than credit {credit} has left for this refund: "
        "remaining 1,910.00 USD. At most 1,910.00 USD can be applied."
    ) in refused_messages(preparer_client, "refunds", too_much)
    assert posts_of_refunds(sandbox) == 0

    first = refund_form(preparer_client, customer=acme, lines=[credit_line(credit, "1,500.00")])
    assert preparer_client.post("/refunds/new/", first).status_code == 302
    first_number = max(sandbox.store.collection("customer-refunds"))
    second = refund_form(preparer_client, customer=acme, lines=[credit_line(credit, "500.00")])
    assert (
        f"Line 1: 500.00 USD is more than credit {credit} has left for this refund: remaining "
        f"1,910.00 USD, of which 1,500.00 USD is reserved by draft refund {first_number}: "
        "1,500.00 USD. At most 410.00 USD can be applied."
    ) in refused_messages(preparer_client, "refunds", second)
    assert posts_of_refunds(sandbox) == 1
    second_fits = {**second, "items-0-amount": "410.00", "form_token": new_token(preparer_client)}
    assert preparer_client.post("/refunds/new/", second_fits).status_code == 302


# --- one test per rule, refunds ------------------------------------------------------------------


def test_refund_credit_must_be_posted(sandbox, preparer_client, acme):
    credit = make_credit(sandbox, customer=acme, amount="100.00", status="draft")
    data = refund_form(preparer_client, customer=acme, lines=[credit_line(credit, "5")])
    assert (
        f"Line 1: credit {credit} is draft, not posted; only a posted credit can be applied."
    ) in refused_messages(preparer_client, "refunds", data)


def test_refund_credit_must_belong_to_the_company(sandbox, preparer_client, acme):
    credit = make_credit(sandbox, customer=acme, amount="100.00", company_id=2, currency="EUR")
    data = refund_form(preparer_client, customer=acme, lines=[credit_line(credit, "5")])
    messages = refused_messages(preparer_client, "refunds", data)
    start = f"Line 1: credit {credit} belongs to Lindqvist & Moreau GmbH, not to"
    assert any_message(messages, starting=start), messages


def test_refund_credit_must_be_in_the_refunds_currency(sandbox, preparer_client, acme):
    credit = make_credit(sandbox, customer=acme, amount="100.00", currency="EUR", rate="1.1")
    data = refund_form(preparer_client, customer=acme, lines=[credit_line(credit, "5")])
    assert (
        f"Line 1: credit {credit} is in EUR but the refund is in USD; choose a credit in USD "
        "or change the refund's currency."
    ) in refused_messages(preparer_client, "refunds", data)


def test_refund_prepayment_must_belong_to_the_customer(sandbox, preparer_client, acme):
    prepayment = next(
        record
        for record in sandbox.store.collection("customer-prepayments").values()
        if record["company_id"] == 1 and record["customer_id"] != acme
    )
    line = {"customer_prepayment_number": prepayment["number"], "amount": "1"}
    messages = refused_messages(
        preparer_client, "refunds", refund_form(preparer_client, customer=acme, lines=[line])
    )
    owner = f"Line 1: prepayment {prepayment['number']} belongs to {prepayment['customer_name']}"
    assert any_message(messages, holding=owner), messages


def test_refund_bank_account_must_be_a_bank_or_card_account(preparer_client, acme, credit):
    data = refund_form(
        preparer_client,
        customer=acme,
        lines=[credit_line(credit, "5")],
        account_number="11200",  # Accounts Receivable
    )
    assert (
        "Bank account: 11200 · Accounts Receivable is accounts receivable, not a bank or "
        "credit-card account; choose the bank or card account the money moves through."
    ) in refused_messages(preparer_client, "refunds", data)
    page = preparer_client.get("/refunds/new/?company_id=1").content.decode()
    start = page.index('name="account_number"')
    bank_select = page[start : page.index("</select>", start)]
    assert "Operating Bank" in bank_select and "Accounts Receivable" not in bank_select


def test_refund_paid_from_bank_cannot_exceed_its_total(preparer_client, acme, credit):
    lines = [credit_line(credit, "50")]
    data = refund_form(preparer_client, customer=acme, lines=lines, bank_or_credit_card_amount="60")
    messages = refused_messages(preparer_client, "refunds", data)
    assert any_message(messages, starting="Paid from bank or card: 60.00 is more"), messages


def test_lines_of_one_refund_together_cannot_exceed_the_credit(preparer_client, acme, credit):
    lines = [credit_line(credit, "60"), credit_line(credit, "60")]
    messages = refused_messages(
        preparer_client, "refunds", refund_form(preparer_client, customer=acme, lines=lines)
    )
    assert any_message(
        messages,
        starting="Line 2: 60.00 USD is more than",
        holding="earlier lines of this refund apply 60.00 USD. At most 40.00 USD",
    ), messages


def test_typed_symbol_must_match_the_refunds_currency(preparer_client, acme, credit):
    data = refund_form(preparer_client, customer=acme, lines=[credit_line(credit, "€5")])
    assert (
        "Amount: the amount was typed in EUR, but the refund is in USD; type the amount in USD "
        "(or without a symbol)."
    ) in refused_messages(preparer_client, "refunds", data)
    data = {**data, "items-0-amount": "$ 5.00"}
    assert preparer_client.post("/refunds/new/", data).status_code == 302


# --- deposits ------------------------------------------------------------------------------------


def refused_deposit(client, lines: list[dict], **header) -> list[str]:
    """Post a new deposit with `lines` that must be refused: the messages the form shows."""
    data = {
        "form_token": new_token(client, "deposits"),
        "company_id": "1",
        "date": "2026-11-02",
        "transaction_date": "",
        "memo": "Deposit",
        "account_number": "11000",
        "check_number": "",
        "currency_iso_4217_code": "USD",
        "exchange_rate": "1",
        **header,
    }
    return refused_messages(client, "deposits", with_lines(data, lines, blank=1))


def payment_line(payment: dict, amount: str, **fields) -> dict:
    return {"customer_payment_number": payment["number"], "amount": amount, **fields}


def test_deposit_cannot_deposit_more_than_the_payment(sandbox, preparer_client):
    payment = open_source(sandbox, "customer-payments")
    too_much = Decimal(payment["amount"]) + 1
    messages = refused_deposit(preparer_client, [payment_line(payment, f"{too_much:f}")])
    start = f"Line 1: {money_rules.format_money(too_much)} USD is more than payment"
    assert any_message(messages, starting=start), messages


def test_deposit_line_customer_must_own_the_payment(sandbox, preparer_client):
    payment = open_source(sandbox, "customer-payments")
    other = next(
        customer["id"]
        for customer in sandbox.store.collection("customers").values()
        if customer["id"] != payment["customer_id"]
    )
    messages = refused_deposit(preparer_client, [payment_line(payment, "1", customer_id=other)])
    owner = f"payment {payment['number']} belongs to {payment['customer_name']}"
    assert any_message(messages, holding=owner), messages


def test_deposit_source_must_belong_to_the_company(sandbox, preparer_client):
    payment = open_source(sandbox, "customer-payments", company_id=2)
    messages = refused_deposit(preparer_client, [payment_line(payment, "1")])
    start = f"Line 1: payment {payment['number']} belongs to Lindqvist"
    assert any_message(messages, starting=start), messages


def test_deposit_account_must_be_a_bank_account(sandbox, preparer_client):
    payment = open_source(sandbox, "customer-payments")
    messages = refused_deposit(
        preparer_client,
        [payment_line(payment, "1")],
        account_number="14000",  # Subscription Revenue
    )
    assert any_message(
        messages, starting="Deposit to account: ", holding="not a bank or credit-card"
    ), messages


# --- live at submit and at approval -------------------------------------------------------------


def draft_refund(sandbox, *, customer: int, credit: int, amount: str) -> str:
    """A draft refund saved in DualEntry directly (not through the portal's form)."""
    record = sandbox.outside.create(
        "customer-refunds",
        {
            "date": "2026-11-02",
            "company_id": 1,
            "customer_id": customer,
            "account_number": 11000,
            "currency_iso_4217_code": "USD",
            "exchange_rate": "1",
            "items": [{"customer_credit_number": credit, "amount": amount, "position": 0}],
            "record_status": "draft",
        },
    )
    return str(record["number"])


def lower_credit(sandbox, credit: int, *, to: str) -> None:
    """Lower the credit in DualEntry (outside the portal), as when part of it is used up."""
    sandbox.outside.edit(
        "customer-credits",
        credit,
        items=[{"item_id": 301, "quantity": "1", "rate": to, "position": 0}],
    )


def test_submit_refuses_a_draft_that_breaks_a_rule(sandbox, preparer, acme, credit):
    key = draft_refund(sandbox, customer=acme, credit=credit, amount="150.00")
    with pytest.raises(MoneyRulesBroken) as refused:
        approvals.approval_submit(kind="refunds", key=key, user=preparer)
    assert f"Customer refund {key} cannot be submitted: Line 1: 150.00 USD is more than" in str(
        refused.value
    )
    assert not ApprovalRequest.objects.exists()


def test_a_pending_request_reserves_the_credit_for_the_next_refund(
    sandbox, preparer, preparer_client, acme, credit
):
    key = draft_refund(sandbox, customer=acme, credit=credit, amount="80.00")
    approvals.approval_submit(kind="refunds", key=key, user=preparer)
    data = refund_form(preparer_client, customer=acme, lines=[credit_line(credit, "30")])
    messages = refused_messages(preparer_client, "refunds", data)
    reserved = f"of which 80.00 USD is reserved by refund {key} (waiting for approval): 80.00 USD"
    assert any_message(messages, holding=reserved), messages


def test_approval_is_blocked_when_the_balance_was_used_up_meanwhile(
    sandbox, preparer, approver, acme, credit
):
    key = draft_refund(sandbox, customer=acme, credit=credit, amount="100.00")
    approval_request = approvals.approval_submit(kind="refunds", key=key, user=preparer)
    # Meanwhile the credit is lowered in DualEntry (someone used part of it up).
    lower_credit(sandbox, credit, to="40.00")
    puts_before = sandbox.request_count(f"/public/v2/customer-refunds/{key}/", "PUT")
    with pytest.raises(MoneyRulesBroken) as blocked:
        approvals.approval_approve(approval_request=approval_request, user=approver)
    assert "cannot be approved: Line 1: 100.00 USD is more than" in str(blocked.value)
    assert "remaining 40.00 USD" in str(blocked.value)
    approval_request.refresh_from_db()
    assert approval_request.state == ApprovalRequest.State.SUBMITTED
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/", "PUT") == puts_before
    assert sandbox.store.get("customer-refunds", int(key))["record_status"] == "draft"


# --- pickers --------------------------------------------------------------------------------------


def test_refund_line_picks_from_the_customers_open_credits(sandbox, preparer_client, acme):
    delta = customer_id(sandbox, "Delta Marine Services")
    credit = make_credit(sandbox, customer=acme, amount="1910.00")
    others = make_credit(sandbox, customer=delta, amount="50.00")
    sync_all_now()
    data = refund_form(preparer_client, customer=acme, lines=[])
    page = preparer_client.post("/refunds/new/", {**data, "_refresh": "1"}).content.decode()
    picker = page[page.index('name="items-0-customer_credit_number"') :]
    picker = unescape(picker[: picker.index("</select>")])
    assert f"Credit {credit} · 2026-05-02 · remaining 1,910.00 USD · Service credit" in picker
    assert 'data-available="1910.00"' in picker
    assert f"Credit {others} " not in picker
    found = preparer_client.get(
        "/refunds/new/pick/",
        {"field": "customer_credit_number", "company_id": 1, "customer_id": acme, "q": "1,910"},
    ).content.decode()
    assert f'value="{credit}"' in found and f'value="{others}"' not in found
    none = preparer_client.get(
        "/refunds/new/pick/",
        {"field": "customer_credit_number", "company_id": 1, "customer_id": acme, "q": "zzz"},
    ).content.decode()
    assert "No open credit matches" in none


def test_review_page_flags_a_rule_that_fails_now_and_confirmation_cannot_post(
    sandbox, preparer, approver, login_as, acme, credit
):
    key = draft_refund(sandbox, customer=acme, credit=credit, amount="90.00")
    approval_request = approvals.approval_submit(kind="refunds", key=key, user=preparer)
    client = login_as(approver)
    page = unescape(client.get(f"/approvals/{approval_request.pk}/").content.decode())
    money = page[page.index("What the lines apply") :]
    assert f"Credit {credit}" in money and "Acme Logistics" in money and "2026-05-02" in money
    assert "100.00\u00a0USD" in money and "10.00\u00a0USD" in money  # left before and after
    lower_credit(sandbox, credit, to="50.00")
    page = unescape(client.get(f"/approvals/{approval_request.pk}/").content.decode())
    assert "A money rule fails now" in page
    assert f"Line 1: 90.00 USD is more than credit {credit} has left" in page
    confirm = client.post(
        f"/approvals/{approval_request.pk}/approve/",
        {"payload_hash": approval_request.payload_hash},
    ).content.decode()
    assert re.search(r'<button type="submit" class="button primary" disabled>', confirm)


def test_refund_detail_header_and_lines_agree_on_the_bank_amount(
    sandbox, login_as, viewer, acme, credit
):
    number = draft_refund(sandbox, customer=acme, credit=credit, amount="40.00")
    sandbox.outside.edit("customer-refunds", number, bank_or_credit_card_amount="40.00")
    page = unescape(login_as(viewer).get(f"/refunds/{number}/").content.decode())
    assert "Paid from bank or card" in page
    lines = page[page.index("Line items") :]
    assert "Bank or card amount" not in lines
    assert "DualEntry does not take it per line" in lines


def test_usage_batch_picks_existing_usage_records_by_obligation_and_period(
    sandbox, preparer_client
):
    contract_id, usage = next(
        (contract["id"], sandbox.store.usage_for(contract["id"]))
        for contract in sandbox.store.collection("contracts").values()
        if sandbox.store.usage_for(contract["id"])
    )
    page = unescape(preparer_client.get(f"/contracts/{contract_id}/usage/new/").content.decode())
    picker = page[page.index('name="items-0-id"') :]
    picker = picker[: picker.index("</select>")]
    assert "New usage record" in picker
    first = usage[0]
    assert f'value="{first["id"]}"' in picker
    assert f" · {first['usage_date']} · " in picker
    assert "Usage record id" not in page


def test_without_javascript_the_refresh_fills_the_amount_from_the_chosen_credit(
    sandbox, preparer_client, acme
):
    credit = make_credit(sandbox, customer=acme, amount="1910.00")
    sync_all_now()
    data = refund_form(preparer_client, customer=acme, lines=[credit_line(credit, "")])
    page = preparer_client.post("/refunds/new/", {**data, "_refresh": "1"}).content.decode()
    assert form_values(page)["items-0-amount"] == "1910.00"


def test_a_change_to_a_posted_refund_counts_what_it_already_applies_as_available(
    sandbox, preparer, acme, credit
):
    key = draft_refund(sandbox, customer=acme, credit=credit, amount="80.00")
    sandbox.outside.post("customer-refunds", key)
    # As DualEntry does once the refund is posted: the credit has 20.00 left.
    lower_credit(sandbox, credit, to="20.00")
    posted = sandbox.store.get("customer-refunds", int(key))
    line = {"customer_credit_number": credit, "amount": "80.00", "position": 0}
    body = {
        name: posted[name]
        for name in ("date", "company_id", "customer_id", "account_number", "exchange_rate")
    }
    body.update(currency_iso_4217_code="USD", memo="Corrected memo", items=[line])
    approval_request = approvals.change_request_submit(
        kind="refunds", key=key, payload=body, user=preparer
    )
    assert approval_request.state == ApprovalRequest.State.SUBMITTED
    more = {**body, "items": [{**line, "amount": "100.01"}]}
    approvals.approval_withdraw(approval_request=approval_request, user=preparer)
    with pytest.raises(MoneyRulesBroken) as refused:
        approvals.change_request_submit(kind="refunds", key=key, payload=more, user=preparer)
    assert "At most 100.00 USD can be applied" in str(refused.value)
