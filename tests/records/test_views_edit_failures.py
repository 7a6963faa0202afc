"""When saving does not work: DualEntry's 422 lands on the right field, line or the top of the
form; 5xx, timeouts and rate limits keep every value typed; a record changed meanwhile is
not overwritten and the change is shown; a deposit drafted elsewhere asks for line amounts."""

from __future__ import annotations

import re
import time
from html import unescape

import pytest

from dualentry_api.client import get_client
from portal.audit.models import AuditEvent
from portal.records.models import FormToken, SentPayload
from tests.records.edit_support import bodies, error_messages, form_values, sound_draft_refund
from tests.records.test_views_edit import KINDS, credit_data, refund_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_settings")]


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    sandbox.reset()


def _new_form(client, slug: str) -> str:
    html = client.get(f"/{slug}/new/").content.decode()
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


def errors_at(html: str, name: str) -> list[str]:
    """The error messages shown with the control called `name` (its field div or cell)."""
    position = html.index(f'name="{name}"')
    start = max(html.rfind('<div class="field', 0, position), html.rfind("<td", 0, position))
    end_candidates = [html.find(tag, position) for tag in ("</div>", "</td>")]
    end = min(candidate for candidate in end_candidates if candidate != -1)
    block = html[start:end]
    return [unescape(item).strip() for item in re.findall(r"<li>(.*?)</li>", block, re.S)]


def top_errors(html: str) -> list[str]:
    match = re.search(r'<div class="form-errors".*?</div>', html, re.S)
    if not match:
        return []
    return [unescape(text).strip() for text in re.findall(r"<(?:li|strong)>(.*?)</", match[0])]


# --- DualEntry's 422 mapped back -----------------------------------------------------------------


def _warm_references(client, slug: str) -> str:
    """Load the form once so the reference lists are cached (as in a real session)."""
    return _new_form(client, slug)


def test_refund_field_error_lands_on_the_field(settings, login_as, preparer, sandbox):
    settings.PAYMENT_METHODS = {**settings.PAYMENT_METHODS, 9: "Petty cash"}  # unknown upstream
    client = login_as(preparer)
    data = refund_data(sandbox, _new_form(client, "refunds"))
    data["payment_method_id"] = "9"
    response = client.post("/refunds/new/", data)
    html = response.content.decode()
    assert response.status_code == 422
    assert errors_at(html, "payment_method_id") == [
        "Payment method: Payment method 9 does not exist."
    ]
    assert top_errors(html)[0].startswith("DualEntry did not accept the refund")
    assert form_values(html)["memo"] == "Refund for order 7"
    failed = AuditEvent.objects.get(action="save_failed", kind="refunds")
    assert failed.upstream_status == 422 and not failed.success


def _remove(sandbox, collection: str, **matching) -> None:
    records = sandbox.store.collection(collection)
    key = next(
        key
        for key, record in records.items()
        if all(record.get(name) == value for name, value in matching.items())
    )
    del records[key]


@pytest.mark.parametrize(
    ("slug", "collection", "matching", "field", "message"),
    [
        ("refunds", "customers", {"id": 101}, "customer_id",
         "Customer: Customer 101 does not exist."),
        ("deposits", "accounts", {"number": 11000}, "account_number",
         "Deposit to account: Account 11000 does not exist."),
        ("credits", "customers", {"id": 101}, "customer_id",
         "Customer: Customer 101 does not exist."),
    ],
)  # fmt: skip
def test_field_error_for_a_reference_removed_upstream(
    slug, collection, matching, field, message, login_as, preparer, sandbox
):
    """The cached reference list still has the entry; DualEntry no longer does."""
    client = login_as(preparer)
    data = KINDS[slug][0](sandbox, _warm_references(client, slug))
    _remove(sandbox, collection, **matching)
    response = client.post(f"/{slug}/new/", data)
    assert response.status_code == 422
    assert errors_at(response.content.decode(), field) == [message]


@pytest.mark.parametrize("slug", sorted(KINDS))
def test_non_field_error_goes_to_the_top(slug, login_as, preparer, sandbox):
    client = login_as(preparer)
    data = KINDS[slug][0](sandbox, _new_form(client, slug))
    sandbox.set_faults(status_for_path={KINDS[slug][2]: 422})
    response = client.post(f"/{slug}/new/", data)
    assert response.status_code == 422
    assert "Sandbox fault: status 422." in top_errors(response.content.decode())
    assert form_values(response.content.decode()) == {
        **data,
        **{key: value for key, value in form_values(response.content.decode()).items()
           if key not in data},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("slug", "field", "message"),
    [
        ("refunds", "customer_credit_number",
         "Line 1: credit 999999 was not found in DualEntry; choose one of the credits listed."),
        ("deposits", "customer_payment_number",
         "Line 1: payment 999999 was not found in DualEntry; choose one of the payments "
         "listed."),
    ],
)  # fmt: skip
def test_line_error_lands_on_its_row(slug, field, message, login_as, preparer, sandbox):
    client = login_as(preparer)
    data = KINDS[slug][0](sandbox, _new_form(client, slug))
    data[f"items-0-{field}"] = "999999"
    response = client.post(f"/{slug}/new/", data)
    html = response.content.decode()
    assert response.status_code == 422
    assert errors_at(html, f"items-0-{field}") == [message]
    assert errors_at(html, f"items-1-{field}") == []


def test_credit_line_error_for_an_item_removed_upstream(login_as, preparer, sandbox):
    client = login_as(preparer)
    data = credit_data(sandbox, _warm_references(client, "credits"))
    del sandbox.store.collection("items")[301]
    response = client.post("/credits/new/", data)
    assert response.status_code == 422
    assert errors_at(response.content.decode(), "items-0-item_id") == [
        "Item: Item 301 does not exist."
    ]


def test_422_is_swapped_by_htmx_as_the_form_body(login_as, preparer, sandbox):
    client = login_as(preparer)
    data = refund_data(sandbox, _new_form(client, "refunds"))
    data["items-0-customer_credit_number"] = "999999"
    response = client.post("/refunds/new/", data, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 422
    assert "<html" not in html and 'name="items-0-amount"' in html
    assert "X-Upstream-Error" not in response


# --- upstream failures keep the input ------------------------------------------------------------


@pytest.mark.parametrize("slug", sorted(KINDS))
def test_server_error_on_create_keeps_input_and_says_so(slug, login_as, preparer, sandbox):
    client = login_as(preparer)
    data = KINDS[slug][0](sandbox, _new_form(client, slug))
    sandbox.set_faults(status_for_path={KINDS[slug][2]: 500})
    response = client.post(f"/{slug}/new/", data, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 502
    assert response["X-Upstream-Error"]  # so htmx shows it (static/js/portal.js)
    assert top_errors(html)[0].startswith("DualEntry had a problem on its side (HTTP 500)")
    values = form_values(f'<form id="record-form">{html}</form>')
    assert {key: values[key] for key in data} == data
    assert not FormToken.objects.exists()  # the same form can be saved again
    sandbox.clear_faults()
    assert client.post(f"/{slug}/new/", data).status_code == 302


def test_server_error_on_edit_keeps_input(login_as, preparer, sandbox):
    client = login_as(preparer)
    number = sound_draft_refund(sandbox)
    data = form_values(client.get(f"/refunds/{number}/edit/").content.decode())
    data["memo"] = "My careful wording"
    sandbox.set_faults(status_for_path={f"/public/v2/customer-refunds/{number}/": 500})
    response = client.post(f"/refunds/{number}/edit/", data)
    assert response.status_code == 502
    html = response.content.decode()
    assert "your changes to the refund were not saved" in html
    assert form_values(html)["memo"] == "My careful wording"


def test_timeout_keeps_input_and_warns_that_it_may_have_been_saved(
    settings, login_as, preparer, sandbox
):
    client = login_as(preparer)
    data = refund_data(sandbox, _new_form(client, "refunds"))
    settings.DUALENTRY_READ_TIMEOUT = 0.3
    sandbox.set_faults(latency_ms=900)
    try:
        response = client.post("/refunds/new/", data)
    finally:
        sandbox.clear_faults()
        _wait_for_sandbox(sandbox)
    html = response.content.decode()
    assert response.status_code == 503
    assert "cannot tell whether the refund was saved" in unescape(html)
    assert "Check the drafts list before saving again" in unescape(html)
    assert form_values(html)["items-1-amount"] == "4"


def test_connection_refused_keeps_input(settings, login_as, preparer, sandbox):
    client = login_as(preparer)
    data = refund_data(sandbox, _new_form(client, "refunds"))
    settings.DUALENTRY_API_URL = "http://127.0.0.1:9"  # nothing listens there
    response = client.post("/refunds/new/", data)
    assert response.status_code == 503
    assert "could not reach DualEntry" in unescape(response.content.decode())
    assert form_values(response.content.decode())["memo"] == "Refund for order 7"


def test_rate_limited_save_keeps_input(login_as, preparer, sandbox):
    client = login_as(preparer)
    data = refund_data(sandbox, _new_form(client, "refunds"))
    sandbox.set_faults(status_for_path={"/public/v2/customer-refunds": 429})
    response = client.post("/refunds/new/", data)
    assert response.status_code == 503
    assert "DualEntry is busy right now" in unescape(response.content.decode())
    assert form_values(response.content.decode())["memo"] == "Refund for order 7"


def _wait_for_sandbox(sandbox, seconds: float = 3.0) -> None:
    """Let a request the client gave up on finish, so it does not leak into the next test."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(entry.get("status") is not None for entry in sandbox.requests_log):
            return
        time.sleep(0.05)


# --- no lost updates -----------------------------------------------------------------------------


@pytest.mark.parametrize("slug", sorted(KINDS))
def test_stale_edit_is_refused_with_the_changes_shown(slug, login_as, preparer, sandbox):
    client = login_as(preparer)
    response = client.post(f"/{slug}/new/", KINDS[slug][0](sandbox, _new_form(client, slug)))
    key = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    data = form_values(client.get(f"/{slug}/{key}/edit/").content.decode())
    # Someone else changes the draft in DualEntry meanwhile.
    resource = getattr(get_client(), KINDS[slug][2].split("/")[3].replace("-", "_"))
    body = dict(SentPayload.objects.get(kind=slug, key=key).payload)
    body["memo"] = "Changed by Sam in DualEntry"
    resource.update(key, body)
    data["memo"] = "My wording"
    put_count = sandbox.request_count(KINDS[slug][2], "PUT")

    refused = client.post(f"/{slug}/{key}/edit/", data)
    html = unescape(refused.content.decode())
    assert refused.status_code == 409
    assert "Someone changed the" in html and "your changes were not saved" in html
    assert "Changed by Sam in DualEntry" in html  # the diff
    assert sandbox.request_count(KINDS[slug][2], "PUT") == put_count  # nothing overwritten
    kept = form_values(html)
    assert kept["memo"] == "My wording"
    assert kept["version"] != data["version"]
    event = AuditEvent.objects.filter(action="save_failed", kind=slug, key=key).get()
    assert "Someone changed" in event.error

    applied = client.post(f"/{slug}/{key}/edit/", kept)  # re-apply on the current version
    assert applied.status_code == 302
    assert getattr(get_client(), resource.name).get(key)["memo"] == "My wording"


def test_stale_diff_names_the_changed_fields(login_as, preparer, sandbox):
    client = login_as(preparer)
    response = client.post("/refunds/new/", refund_data(sandbox, _new_form(client, "refunds")))
    key = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    data = form_values(client.get(f"/refunds/{key}/edit/").content.decode())
    body = dict(SentPayload.objects.get(kind="refunds", key=key).payload)
    body["check_number"] = "000777"
    get_client().customer_refunds.update(key, body)
    html = unescape(client.post(f"/refunds/{key}/edit/", data).content.decode())
    diff = html[html.index('class="card stale-changes"') :]
    diff = diff[: diff.index("</section>")]
    assert "check number" in diff and "000777" in diff
    assert "memo" not in diff  # only what changed is listed


# --- deposits whose line amounts DualEntry does not return ---------------------------------------


def _seeded_draft_deposit(sandbox) -> dict:
    return next(
        deposit
        for deposit in sandbox.store.collection("customer-deposits").values()
        if deposit["record_status"] == "draft" and len(deposit["items"]) >= 2
    )


def test_deposit_drafted_elsewhere_asks_for_line_amounts(login_as, preparer, sandbox, sent_bodies):
    deposit = _seeded_draft_deposit(sandbox)
    number = deposit["number"]
    client = login_as(preparer)
    page = unescape(client.get(f"/deposits/{number}/edit/").content.decode())
    assert "Type each line's amount" in page
    data = form_values(page)
    lines = len(deposit["items"])
    assert all(data[f"items-{index}-amount"] == "" for index in range(lines))
    # Amounts that do not add up are refused before DualEntry sees them.
    for index in range(lines):
        data[f"items-{index}-amount"] = "1.00"
    refused = client.post(f"/deposits/{number}/edit/", data)
    assert refused.status_code == 422
    assert any(
        message.startswith(f"The line amounts add up to {lines}.00, but the deposit's amount")
        for message in top_errors(unescape(refused.content.decode()))
    )
    assert bodies(sent_bodies, "PUT") == []
    # The right amounts are sent, and remembered for the next edit.
    for index, line in enumerate(sorted(deposit["items"], key=lambda line: line["position"])):
        data[f"items-{index}-amount"] = line["amount"]
    saved = client.post(f"/deposits/{number}/edit/", data)
    assert saved.status_code == 302, error_messages(saved.content.decode())
    sent = bodies(sent_bodies, "PUT")[0]
    assert [line["amount"] for line in sent["items"]] == [
        line["amount"] for line in sorted(deposit["items"], key=lambda line: line["position"])
    ]
    assert sent["account_number"] == deposit["account_number"]
    again = form_values(client.get(f"/deposits/{number}/edit/").content.decode())
    assert again["items-0-amount"] != ""


# --- exactly-once create -------------------------------------------------------------------------


def test_a_submit_while_the_first_is_still_saving_waits_then_says_so(
    monkeypatch, login_as, preparer, sandbox
):
    from portal.records import services

    monkeypatch.setattr(services, "FORM_TOKEN_WAIT_SECONDS", 0.3)
    client = login_as(preparer)
    data = refund_data(sandbox, _new_form(client, "refunds"))
    FormToken.objects.create(token=data["form_token"], kind="refunds", user=preparer)
    response = client.post("/refunds/new/", data)
    assert response.status_code == 409
    assert "still being saved" in unescape(response.content.decode())
    assert form_values(response.content.decode())["memo"] == "Refund for order 7"
    assert sandbox.request_count("/public/v2/customer-refunds/", "POST") == 0


def test_a_token_from_another_person_is_refused(login_as, preparer, admin_user, sandbox):
    client = login_as(preparer)
    data = refund_data(sandbox, _new_form(client, "refunds"))
    assert client.post("/refunds/new/", data).status_code == 302
    other = login_as(admin_user).post("/refunds/new/", data)
    assert other.status_code == 409
    assert sandbox.request_count("/public/v2/customer-refunds/", "POST") == 1


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_submits_create_one_record(login_as, preparer, sandbox):
    import threading

    first_client, second_client = login_as(preparer), login_as(preparer)
    data = refund_data(sandbox, _new_form(first_client, "refunds"))
    sandbox.set_faults(latency_ms=400)  # the first save is still in flight when the second lands
    responses = {}

    def submit(name, client):
        from django.db import connection

        try:
            responses[name] = client.post("/refunds/new/", data)
        finally:
            connection.close()  # each thread has its own connection

    threads = [
        threading.Thread(target=submit, args=("first", first_client)),
        threading.Thread(target=submit, args=("second", second_client)),
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join(timeout=30)
    sandbox.clear_faults()
    assert responses["first"].status_code == responses["second"].status_code == 302
    assert responses["first"]["Location"] == responses["second"]["Location"]
    assert sandbox.request_count("/public/v2/customer-refunds/", "POST") == 1
