"""Creating and editing drafts end to end: the portal's forms against the sandbox over HTTP.

Every kind's create and edit reaches the sandbox with the exact body (decimal strings, an
explicit draft status); edits keep what the form does not show (attachments)."""

from __future__ import annotations

import re

import pytest

from portal.audit.models import AuditEvent
from portal.records.models import FormToken, SentPayload
from tests.records.edit_support import (
    bodies,
    error_messages,
    first_number,
    form_values,
    open_source,
    refund_form_data,
    with_lines,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_settings")]


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    sandbox.reset()


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name} in the page"
    return match.group(1)


def _token(client, url: str) -> str:
    return _hidden(client.get(url).content.decode(), "form_token")


def refund_data(sandbox, token: str) -> dict:
    credit = open_source(sandbox, "customer-credits", customer_id=101, at_least="10.5")["number"]
    prepayment = open_source(sandbox, "customer-prepayments", customer_id=101, at_least="4")[
        "number"
    ]
    lines = [
        {"customer_credit_number": credit, "amount": "10.5"},
        {"customer_prepayment_number": prepayment, "amount": "4"},
    ]
    return refund_form_data(token, customer_id=101, lines=lines, blank=2)


def refund_body(sandbox) -> dict:
    credit = open_source(sandbox, "customer-credits", customer_id=101, at_least="10.5")["number"]
    prepayment = open_source(sandbox, "customer-prepayments", customer_id=101, at_least="4")[
        "number"
    ]
    return {
        "date": "2025-03-14",
        "transaction_date": "2025-03-12",
        "company_id": 1,
        "customer_id": 101,
        "check_number": "",
        "account_number": 11000,
        "currency_iso_4217_code": "USD",
        "exchange_rate": "1",
        "memo": "Refund for order 7",
        "bank_or_credit_card_amount": "5.00",
        "payment_method_id": 2,
        "items": [
            {"customer_credit_number": credit, "amount": "10.50", "position": 0},
            {"customer_prepayment_number": prepayment, "amount": "4.00", "position": 1},
        ],
        "record_status": "draft",
    }


def deposit_data(sandbox, token: str) -> dict:
    source = open_source(sandbox, "customer-payments", at_least="120")
    payment, payer = source["number"], str(source["customer_id"])
    header = {
        "form_token": token,
        "company_id": "1",
        "date": "2025-04-01",
        "transaction_date": "",
        "memo": "Morning deposit",
        "account_number": "11000",
        "check_number": "",
        "currency_iso_4217_code": "USD",
        "exchange_rate": "1",
    }
    lines = [
        {"customer_payment_number": payment, "customer_id": payer, "amount": "120"},
        {
            "account_number": "12100",
            "customer_id": "102",
            "description": "Cash from the fair",
            "amount": "30.25",
        },
    ]
    return with_lines(header, lines, blank=1)


def deposit_body(sandbox) -> dict:
    source = open_source(sandbox, "customer-payments", at_least="120")
    payment, payer = source["number"], source["customer_id"]
    return {
        "date": "2025-04-01",
        "company_id": 1,
        "account_number": 11000,
        "currency_iso_4217_code": "USD",
        "exchange_rate": "1",
        "memo": "Morning deposit",
        "check_number": "",
        "items": [
            {
                "customer_payment_number": payment,
                "customer_id": payer,
                "description": "",
                "amount": "120.00",
                "position": 0,
            },
            {
                "account_number": 12100,
                "customer_id": 102,
                "description": "Cash from the fair",
                "amount": "30.25",
                "position": 1,
            },
        ],
        "record_status": "draft",
    }


def credit_data(sandbox, token: str) -> dict:
    header = {
        "form_token": token,
        "company_id": "1",
        "customer_id": "101",
        "date": "2025-05-02",
        "memo": "Goodwill credit",
        "currency_iso_4217_code": "USD",
        "exchange_rate": "1",
        "billing_address.street": "1 Main Street",
        "billing_address.city": "Denver",
        "billing_address.postal_code": "80202",
        "billing_address.country": "us",
    }
    lines = [{"item_id": "301", "quantity": "2", "rate": "49.995", "memo": "Two seats"}]
    return with_lines(header, lines, blank=1)


def credit_body(sandbox) -> dict:
    return {
        "date": "2025-05-02",
        "customer_id": 101,
        "company_id": 1,
        "currency_iso_4217_code": "USD",
        "memo": "Goodwill credit",
        "exchange_rate": "1",
        "bill_to_address": "",
        "ship_to_address": "",
        "billing_address": {
            "street": "1 Main Street",
            "second_line": "",
            "city": "Denver",
            "state": "",
            "postal_code": "80202",
            "country": "US",
            "name": None,
        },
        "items": [
            {"item_id": 301, "quantity": "2", "rate": "49.995", "memo": "Two seats", "position": 0}
        ],
        "record_status": "draft",
    }


KINDS = {
    "refunds": (refund_data, refund_body, "/public/v2/customer-refunds/"),
    "deposits": (deposit_data, deposit_body, "/public/v2/customer-deposits/"),
    "credits": (credit_data, credit_body, "/public/v2/customer-credits/"),
}


def _create(client, sandbox, slug: str) -> tuple[str, object]:
    data_for, _body, _path = KINDS[slug]
    response = client.post(f"/{slug}/new/", data_for(sandbox, _token(client, f"/{slug}/new/")))
    assert response.status_code == 302, error_messages(response.content.decode())
    key = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    return key, response


@pytest.mark.parametrize("slug", sorted(KINDS))
def test_create_sends_the_exact_draft_body(slug, login_as, preparer, sandbox, sent_bodies):
    client = login_as(preparer)
    key, response = _create(client, sandbox, slug)
    _data, body_for, path = KINDS[slug]
    assert response["Location"] == f"/{slug}/{key}/"
    posted = bodies(sent_bodies, "POST")
    assert posted == [body_for(sandbox)]
    stored = sandbox.store.get(path.strip("/").rsplit("/", 1)[-1], int(key))
    assert stored["record_status"] == "draft"
    assert SentPayload.objects.get(kind=slug, key=key).payload["record_status"] == "draft"
    event = AuditEvent.objects.get(action="record_created", kind=slug, key=key)
    assert event.success and event.actor == preparer
    assert event.upstream_method == "POST" and event.upstream_status == 200


@pytest.mark.parametrize("slug", sorted(KINDS))
def test_edit_sends_the_full_body_with_draft_status(slug, login_as, preparer, sandbox, sent_bodies):
    client = login_as(preparer)
    key, _ = _create(client, sandbox, slug)
    page = client.get(f"/{slug}/{key}/edit/")
    assert page.status_code == 200
    data = form_values(page.content.decode())
    assert data["version"] and data["base"]
    data["memo"] = "Changed in the portal"
    response = client.post(f"/{slug}/{key}/edit/", data)
    assert response.status_code == 302, error_messages(response.content.decode())
    assert response["Location"] == f"/{slug}/{key}/"
    put = bodies(sent_bodies, "PUT")
    assert len(put) == 1
    expected = KINDS[slug][1](sandbox)
    expected["memo"] = "Changed in the portal"
    sent = dict(put[0])
    assert sent.pop("attachments") == []  # the record's attachments, carried over
    # Deposit lines come back with their DualEntry ids (kept for the next edit).
    for line in sent["items"]:
        line.pop("id", None)
    # DualEntry fills in the transaction date (the posting date) when it is left empty.
    expected.setdefault("transaction_date", expected["date"])
    assert sent == expected
    event = AuditEvent.objects.get(action="record_updated", kind=slug, key=key)
    assert event.changes["memo"] == [expected_memo_before(slug), "Changed in the portal"]


def expected_memo_before(slug: str) -> str:
    return {"refunds": "Refund for order 7", "deposits": "Morning deposit"}.get(
        slug, "Goodwill credit"
    )


def test_edit_keeps_the_records_attachments(login_as, preparer, sandbox, sent_bodies):
    client = login_as(preparer)
    key, _ = _create(client, sandbox, "refunds")
    attachment = {"id": 9901, "file_name": "receipt.pdf", "file_size": 1234}
    sandbox.store.save("attachments", {**attachment, "content_type": "application/pdf"})
    refund = sandbox.store.get("customer-refunds", int(key))
    refund["attachments"] = [sandbox.store.attachment_summary(attachment)]
    sandbox.store.save("customer-refunds", refund)
    data = form_values(client.get(f"/refunds/{key}/edit/").content.decode())
    response = client.post(f"/refunds/{key}/edit/", data)
    assert response.status_code == 302, error_messages(response.content.decode())
    assert bodies(sent_bodies, "PUT")[0]["attachments"] == [attachment]


@pytest.mark.parametrize("slug", sorted(KINDS))
def test_double_submit_creates_one_record(slug, login_as, preparer, sandbox, sent_bodies):
    client = login_as(preparer)
    data = KINDS[slug][0](sandbox, _token(client, f"/{slug}/new/"))
    first = client.post(f"/{slug}/new/", data)
    second = client.post(f"/{slug}/new/", data)
    assert first.status_code == second.status_code == 302
    assert second["Location"] == first["Location"]
    assert len(bodies(sent_bodies, "POST")) == 1
    assert FormToken.objects.get(token=data["form_token"]).state == FormToken.State.DONE


def test_second_submit_with_htmx_is_sent_to_the_first_result(login_as, preparer, sandbox):
    client = login_as(preparer)
    data = refund_data(sandbox, _token(client, "/refunds/new/"))
    first = client.post("/refunds/new/", data, headers={"HX-Request": "true"})
    second = client.post("/refunds/new/", data, headers={"HX-Request": "true"})
    assert first.status_code == second.status_code == 200
    assert first["HX-Redirect"] == second["HX-Redirect"]
    assert sandbox.request_count("/public/v2/customer-refunds/", "POST") == 1


def test_a_failed_save_frees_the_token_for_the_corrected_form(
    login_as, preparer, sandbox, sent_bodies
):
    client = login_as(preparer)
    data = refund_data(sandbox, _token(client, "/refunds/new/"))
    sandbox.set_faults(status_for_path={"/public/v2/customer-refunds": 422})  # DualEntry refuses
    try:
        refused = client.post("/refunds/new/", data)
    finally:
        sandbox.clear_faults()
    assert refused.status_code == 422
    saved = client.post("/refunds/new/", data)
    assert saved.status_code == 302
    assert sandbox.request_count("/public/v2/customer-refunds/", "POST") == 2


def test_new_form_defaults(login_as, preparer):
    page = login_as(preparer).get("/refunds/new/?company_id=2").content.decode()
    values = form_values(page)
    assert values["company_id"] == "2"
    assert values["currency_iso_4217_code"] == "EUR"
    assert values["exchange_rate"] == "1"
    assert values["items-TOTAL_FORMS"] == "2"  # blank rows for people without JavaScript
    assert "data-warn-unsaved" in page


def test_company_choice_narrows_accounts(login_as, preparer):
    page = login_as(preparer).get("/refunds/new/?company_id=2").content.decode()
    account_select = page[page.index('name="account_number"') :]
    account_select = account_select[: account_select.index("</select>")]
    assert 'value="21000"' in account_select
    assert 'value="11000"' not in account_select


def test_changing_company_rerenders_choices_without_saving(login_as, preparer, sandbox):
    client = login_as(preparer)
    data = refund_data(sandbox, _token(client, "/refunds/new/"))
    data.update({"company_id": "3", "currency_iso_4217_code": "", "_refresh": "1"})
    response = client.post("/refunds/new/", data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<form id="record-form"' not in html  # the form body only
    values = form_values(f'<form id="record-form">{html}</form>')
    assert values["currency_iso_4217_code"] == "GBP"
    assert values["memo"] == "Refund for order 7"  # nothing typed is lost
    assert "errorlist" not in html
    assert sandbox.request_count("/public/v2/customer-refunds/", "POST") == 0


def test_add_line_without_javascript_keeps_input(login_as, preparer, sandbox):
    client = login_as(preparer)
    data = refund_data(sandbox, _token(client, "/refunds/new/"))
    data["_add_line"] = "1"
    response = client.post("/refunds/new/", data)
    assert response.status_code == 200
    values = form_values(response.content.decode())
    assert values["items-TOTAL_FORMS"] == "5"
    assert values["items-0-amount"] == "10.5"


def test_htmx_line_row_is_numbered_after_the_last(login_as, preparer):
    response = login_as(preparer).get(
        "/refunds/new/line/", {"items-TOTAL_FORMS": "3", "company_id": "1"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="items-3-amount"' in html
    assert 'name="items-TOTAL_FORMS" value="4"' in html and 'hx-swap-oob="true"' in html


def test_running_total_partial(login_as, preparer, sandbox):
    client = login_as(preparer)
    data = refund_data(sandbox, _token(client, "/refunds/new/"))
    data["items-1-DELETE"] = "on"
    data["_partial"] = "total"
    response = client.post("/refunds/new/", data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.decode().strip() == (
        '<output id="running-total" class="num" aria-live="polite">10.50</output>'
    )


def test_removed_lines_are_not_sent(login_as, preparer, sandbox, sent_bodies):
    client = login_as(preparer)
    data = refund_data(sandbox, _token(client, "/refunds/new/"))
    data["items-1-DELETE"] = "on"
    data["bank_or_credit_card_amount"] = "0"
    assert client.post("/refunds/new/", data).status_code == 302
    assert len(bodies(sent_bodies, "POST")[0]["items"]) == 1


def test_posted_records_are_not_offered_for_editing(login_as, preparer, sandbox):
    number = first_number(sandbox, "customer-refunds", record_status="posted")
    response = login_as(preparer).get(f"/refunds/{number}/edit/", follow=True)
    assert response.redirect_chain[0][0] == f"/refunds/{number}/"
    assert "only drafts are edited here" in response.content.decode()


def test_a_record_waiting_for_approval_is_not_saved(login_as, preparer, sandbox, sent_bodies):
    from portal.approvals.models import ApprovalRequest

    client = login_as(preparer)
    key, _ = _create(client, sandbox, "refunds")
    data = form_values(client.get(f"/refunds/{key}/edit/").content.decode())
    ApprovalRequest.objects.create(
        type="post_draft", kind="refunds", key=key, payload={}, payload_hash="x",
        submitted_by=preparer,
    )  # fmt: skip
    response = client.post(f"/refunds/{key}/edit/", data)
    assert response.status_code == 409
    assert "waiting for approval" in response.content.decode()
    assert bodies(sent_bodies, "PUT") == []
    failed = AuditEvent.objects.get(action="save_failed", kind="refunds", key=key)
    assert not failed.success and "waiting for approval" in failed.error
    assert client.get(f"/refunds/{key}/edit/").status_code == 302  # not offered either


def test_contracts_cannot_be_edited_in_dualentry(login_as, preparer, sandbox):
    contract_id = first_number(sandbox, "contracts")
    assert login_as(preparer).get(f"/contracts/{contract_id}/edit/").status_code == 404


def test_an_edit_without_its_version_is_not_trusted(login_as, preparer, sandbox, sent_bodies):
    client = login_as(preparer)
    key, _ = _create(client, sandbox, "refunds")
    data = form_values(client.get(f"/refunds/{key}/edit/").content.decode())
    del data["version"]
    response = client.post(f"/refunds/{key}/edit/", data)
    assert response.status_code == 409
    assert bodies(sent_bodies, "PUT") == []
    assert form_values(response.content.decode())["version"]  # armed for a second save


@pytest.mark.parametrize("persona", ["viewer", "approver"])
def test_only_preparers_may_save(request, persona, login_as, sandbox):
    user = request.getfixturevalue(persona)
    client = login_as(user)
    data = refund_data(sandbox, "x" * 32)
    assert client.post("/refunds/new/", data).status_code == 403
    assert client.post("/contracts/10314/usage/", {"items-TOTAL_FORMS": "0"}).status_code == 403
    assert sandbox.request_count("/public/v2/customer-refunds/", "POST") == 0


def test_the_service_checks_the_permission_too(viewer, sandbox):
    from django.core.exceptions import PermissionDenied

    from portal.records.kinds import KINDS as RECORD_KINDS
    from portal.records.services import record_save_draft

    with pytest.raises(PermissionDenied):
        record_save_draft(
            kind=RECORD_KINDS["refunds"], key=None, payload={}, user=viewer, request=None
        )
