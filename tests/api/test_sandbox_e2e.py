"""End to end against the sandbox (real HTTP, spec-validated writes) through get_client()."""

from __future__ import annotations

import io
import threading
import time
from decimal import Decimal

import pytest

from dualentry_api.client import DualEntryClient, get_client
from dualentry_api.errors import (
    NotFound,
    NotSupported,
    RateLimited,
    ServerError,
    ValidationFailed,
)
from dualentry_api.ratelimit import Lane, use_lane
from tests.payloads import refund_payload_from

LIST_ROUTES = ("companies", "customers", "accounts", "items", "contracts")


@pytest.fixture
def client(sandbox_settings):
    sandbox_settings.reset()
    return get_client()


def _draft_refund(client):
    return client.customer_refunds.list(filters={"record_status": ["draft"]}, limit=1).items[0]


def _payload_from(refund, **changes) -> dict:
    """The PUT body for an existing refund, kept a draft."""
    return refund_payload_from(refund, record_status="draft", **changes)


def test_list_filters_and_get_return_typed_records(client, sandbox_settings):
    page = client.customer_refunds.list(filters={"record_status": ["draft"]}, limit=5)
    assert page.count >= len(page.items) > 0
    assert {refund.record_status for refund in page.items} == {"draft"}
    refund = client.customer_refunds.get(page.items[0].number)
    assert isinstance(refund.amount, Decimal)
    assert refund.amount == sum(line.amount for line in refund.items)
    assert refund.upstream.request_id  # the sandbox sends X-Request-ID
    assert sandbox_settings.request_count("/public/v2/customer-refunds") == 2


def test_iterate_reads_every_matching_record(client):
    expected = client.customer_refunds.list(filters={"company_id": [1]}, limit=1).count
    seen = list(client.customer_refunds.iterate(filters={"company_id": [1]}, page_size=7))
    assert len(seen) == expected
    assert len({refund.number for refund in seen}) == expected


def test_create_then_update_a_draft_refund_exactly(client):
    source = _draft_refund(client)
    created = client.customer_refunds.create(_payload_from(source, memo="Created by test"))
    assert created.number != source.number
    assert created.record_status == "draft"
    assert created.amount == source.amount
    lines = [{**line, "amount": Decimal("10.01")} for line in _payload_from(created)["items"]]
    updated = client.customer_refunds.update(
        created.number, _payload_from(created, memo="Edited", items=lines)
    )
    assert updated.memo == "Edited"
    assert [line.amount for line in updated.items] == [Decimal("10.01")] * len(lines)
    assert client.customer_refunds.get(created.number).memo == "Edited"


def test_a_bad_line_reference_comes_back_as_an_item_error(client):
    source = _draft_refund(client)
    payload = _payload_from(source)
    payload["items"][0]["customer_credit_number"] = 999999
    with pytest.raises(ValidationFailed) as caught:
        client.customer_refunds.create(payload)
    assert 0 in caught.value.item_errors
    assert caught.value.request_id


def test_upload_attachments_streams_to_the_sandbox(client):
    refund = _draft_refund(client)
    before = len(refund.attachments)
    updated = client.customer_refunds.upload_attachments(
        refund.number,
        [
            ("remittance.pdf", io.BytesIO(b"%PDF-1.7\n" + b"0" * 300_000), "application/pdf"),
            ("note.txt", io.BytesIO(b"approved by phone"), "text/plain"),
        ],
    )
    names = [attachment.file_name for attachment in updated.attachments]
    assert len(names) == before + 2
    assert {"remittance.pdf", "note.txt"} <= set(names)


def test_contract_get_by_id_and_usage(client):
    contract = client.contracts.list(limit=1).items[0]
    fetched = client.contracts.get(contract.id)
    assert fetched.id == contract.id
    usage = client.contracts.list_usage(contract.id)
    assert usage.count == len(list(client.contracts.iterate_usage(contract.id)))
    with pytest.raises(NotSupported):
        client.contracts.update(contract.id, {"status": "draft"})


def test_missing_records_are_not_found(client):
    with pytest.raises(NotFound):
        client.customer_credits.get(987654)


def test_a_sandbox_503_is_retried_and_counted(client, sandbox_settings):
    sandbox_settings.set_faults(status_for_path={"/public/v2/companies": 503})
    with pytest.raises(ServerError) as caught:
        client.companies.list()
    assert caught.value.status == 503
    assert sandbox_settings.request_count("/public/v2/companies") == 3


def test_the_rate_budget_keeps_the_client_under_the_sandbox_limits(sandbox_settings, settings):
    """The budget spaces a burst that would otherwise be answered 429 (see the next test).

    Scaled up for speed (20/s instead of 1/s), the server's bucket is given some slack
    over the client's: at 50 ms spacing, scheduling jitter of a loaded test machine is a
    sizeable share of the gap; at the real 1 s spacing it is not.
    """
    sandbox_settings.set_faults(rate_limits=True, key_rate=100, key_burst=100,
                                route_rate=40, route_burst=2)  # fmt: skip
    settings.DUALENTRY_ROUTE_RATE_PER_SECOND = 20
    settings.DUALENTRY_ROUTE_RATE_BURST = 2
    client = get_client()
    started = time.monotonic()
    for _ in range(8):
        client.companies.list()
    statuses = [entry["status"] for entry in sandbox_settings.requests_log]
    assert statuses == [200] * 8
    assert time.monotonic() - started >= 0.29  # 6 requests past the burst, 50 ms apart


def test_without_the_budget_the_same_burst_is_answered_429_and_retried(sandbox_settings):
    sandbox_settings.set_faults(rate_limits=True, key_rate=100, key_burst=100,
                                route_rate=40, route_burst=2)  # fmt: skip
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    client = DualEntryClient(sandbox_settings.url, sandbox_settings.api_key, sleep=sleep)
    for _ in range(3):
        client.companies.list()
    statuses = [entry["status"] for entry in sandbox_settings.requests_log]
    assert statuses == [200, 200, 429, 200]
    assert slept and slept[0] >= 1  # Retry-After is whole seconds in the sandbox
    client.close()


def test_a_write_goes_through_first_time_while_page_views_saturate_the_budget(
    sandbox_settings, settings
):
    """Issue 13's approval scenario: people browsing must not make a posting fail.

    DualEntry's documented limits, in the sandbox and in the portal's budget alike. Twenty
    threads of page views hammer the refund's detail page and eight other routes (more than
    the key's 5/s) until the portal's own budget refuses some of them; then a write-lane
    stale check, PUT and read-back of that refund. The write must go through at once, and
    DualEntry must never have answered 429.
    """
    sandbox_settings.reset()
    sandbox_settings.set_faults(rate_limits=True)  # 5/s burst 50 per key, 1/s burst 10 per route
    settings.DUALENTRY_RATE_PER_SECOND, settings.DUALENTRY_RATE_BURST = 5, 50
    settings.DUALENTRY_ROUTE_RATE_PER_SECOND, settings.DUALENTRY_ROUTE_RATE_BURST = 1, 10
    with use_lane(Lane.WRITE):
        refund = _draft_refund(get_client())
    numbers = {
        "customer_refunds": refund.number,
        "customer_deposits": 1001,
        "customer_credits": 1001,
    }
    stop = threading.Event()
    refused: list[RateLimited] = []
    other_failures: list[BaseException] = []

    def views_of_refund() -> None:
        get_client().customer_refunds.get(refund.number)

    def browse(offset: int) -> None:
        client = get_client()
        others = [
            *(lambda r=r, n=n: client.resource(r).get(n) for r, n in numbers.items()),
            *(lambda r=r: client.resource(r).list(limit=5) for r in LIST_ROUTES),
        ]
        # Every other view is the refund's detail page, the route the read-back uses.
        views = [view for other in others for view in (views_of_refund, other)]
        index = offset
        while not stop.is_set():
            try:
                views[index % len(views)]()
            except RateLimited as err:
                refused.append(err)
            except Exception as err:
                other_failures.append(err)
            index += 1
        client.close()

    threads = [threading.Thread(target=browse, args=(offset,)) for offset in range(20)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 15
        while not refused and time.monotonic() < deadline:
            time.sleep(0.05)
        assert refused, "the page views never saturated the budget"
        started = time.monotonic()
        with use_lane(Lane.WRITE):
            client = get_client()
            live = client.customer_refunds.get(refund.number)  # the stale check
            client.customer_refunds.update(refund.number, _payload_from(live, memo="Lane test"))
            read_back = client.customer_refunds.get(refund.number)
        write_seconds = time.monotonic() - started
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert read_back.memo == "Lane test"
    assert write_seconds < 2.5  # at most one token's wait on the hammered detail route
    assert other_failures == []
    statuses = [entry["status"] for entry in sandbox_settings.requests_log]
    assert statuses.count(429) == 0
    assert sandbox_settings.request_count(method="PUT") == 1
