"""The client against real HTTP: a local scripted server answers each failure mode."""

from __future__ import annotations

import datetime as dt
import io
import json
import socket
import threading
import tracemalloc
from decimal import Decimal

import pytest
from werkzeug.formparser import parse_form_data

from dualentry_api import client as client_module
from dualentry_api.client import UPLOAD_CHUNK_SIZE, DualEntryClient, get_client, user_agent
from dualentry_api.errors import (
    AuthenticationFailed,
    BadResponse,
    ConnectionFailed,
    DualEntryError,
    NotFound,
    NotSupported,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationFailed,
)
from dualentry_api.records import Page, Record

from .conftest import API_KEY, Reply
from .samples import refund_payload, response_example

REFUNDS = "/public/v2/customer-refunds/"
REFUND_12 = "/public/v2/customer-refunds/12/"
REFUND_12_FILES = "/public/v2/customer-refunds/12/attachments/"


def _refund(number: int = 12, **fields) -> dict:
    from dualentry_api import spec

    body = response_example(spec.response_schema("GET", REFUND_12, 200))
    body.update(number=number, **fields)
    return body


def _page(items: list[dict], count: int | None = None) -> dict:
    return {"items": items, "count": len(items) if count is None else count}


# Requests as sent ------------------------------------------------------------------------
def test_list_sends_array_filters_as_repeated_params_and_drops_blank_values(
    api_server, make_client
):
    api_server.script("GET", REFUNDS, Reply(json=_page([_refund()])))
    page = make_client().customer_refunds.list(
        filters={
            "record_status": ["draft", "posted"],
            "customer_id": [3],
            "company_id": None,
            "memo": "",
            "number": [],
            "date_from": dt.date(2026, 1, 2),
        },
        limit=50,
        offset=100,
        ordering="-date",
    )
    query = api_server.last().query
    assert query == [
        ("record_status", "draft"),
        ("record_status", "posted"),
        ("customer_id", "3"),
        ("date_from", "2026-01-02"),
        ("limit", "50"),
        ("offset", "100"),
        ("ordering", "-date"),
    ]
    assert isinstance(page, Page)
    assert (page.count, page.limit, page.offset) == (1, 50, 100)


def test_every_request_carries_the_key_header_user_agent_and_accept(api_server, make_client):
    api_server.script("GET", REFUND_12, Reply(json=_refund()))
    make_client().customer_refunds.get(12)
    headers = api_server.last().headers
    assert headers["X-API-KEY"] == API_KEY
    assert headers["User-Agent"] == user_agent()
    assert user_agent().startswith("dualentry-portal/")
    assert headers["Accept"] == "application/json"


def test_list_limit_above_the_api_cap_is_refused_before_sending(api_server, make_client):
    with pytest.raises(ValueError, match="between 1 and 100"):
        make_client().customer_refunds.list(limit=101)
    assert api_server.count() == 0


def test_iterate_walks_every_page_until_count(api_server, make_client):
    records = [_refund(number) for number in range(1, 6)]
    api_server.script(
        "GET",
        REFUNDS,
        Reply(json=_page(records[0:2], 5)),
        Reply(json=_page(records[2:4], 5)),
        Reply(json=_page(records[4:5], 5)),
    )
    numbers = [r.number for r in make_client().customer_refunds.iterate(page_size=2)]
    assert numbers == [1, 2, 3, 4, 5]
    offsets = [dict(received.query)["offset"] for received in api_server.requests]
    assert offsets == ["0", "2", "4"]


def test_iterate_stops_on_an_empty_page_even_if_count_says_more(api_server, make_client):
    api_server.script("GET", REFUNDS, Reply(json=_page([_refund()], 10)), Reply(json=_page([], 10)))
    assert len(list(make_client().customer_refunds.iterate(page_size=1))) == 1
    assert api_server.count() == 2


def test_create_sends_decimals_and_dates_exactly_as_json_strings(api_server, make_client):
    api_server.script("POST", REFUNDS, Reply(json=_refund(99)))
    created = make_client().customer_refunds.create(refund_payload())
    sent = json.loads(api_server.last().body)
    assert sent["exchange_rate"] == "1.0834000000000001"
    assert sent["bank_or_credit_card_amount"] == "250.10"
    assert sent["items"][1]["amount"] == "50"
    assert sent["date"] == "2026-03-31"
    assert api_server.last().headers["Content-Type"] == "application/json"
    assert created.number == 99
    assert created.upstream.status == 200


def test_a_float_amount_is_refused_before_anything_is_sent(api_server, make_client):
    with pytest.raises(TypeError, match=r"\$.items\[0\].amount is a float"):
        make_client().customer_refunds.create(
            refund_payload(items=[{"amount": 10.1, "position": 0}])
        )
    assert api_server.count() == 0


@pytest.mark.parametrize("resource", ["customer_refunds", "customer_deposits", "customer_credits"])
def test_writes_without_record_status_are_refused_because_they_would_post(
    api_server, make_client, resource
):
    client = make_client()
    payload = refund_payload()
    del payload["record_status"]
    with pytest.raises(ValueError, match="record_status"):
        getattr(client, resource).create(payload)
    with pytest.raises(ValueError, match="record_status"):
        getattr(client, resource).update(12, {**payload, "record_status": None})
    assert api_server.count() == 0


def test_contract_create_without_status_is_refused(api_server, make_client):
    with pytest.raises(ValueError, match="'status'"):
        make_client().contracts.create({"name": "No status"})
    assert api_server.count() == 0


def test_update_is_a_full_put_on_the_detail_path(api_server, make_client):
    api_server.script("PUT", REFUND_12, Reply(json=_refund()))
    make_client().customer_refunds.update(12, refund_payload())
    assert api_server.last().method == "PUT"
    assert json.loads(api_server.last().body)["record_status"] == "draft"


def test_keys_are_quoted_into_the_path(api_server, make_client):
    with pytest.raises(NotFound):
        make_client().customer_refunds.get("12/../../health")
    assert api_server.last().path == "/public/v2/customer-refunds/12%2F..%2F..%2Fhealth/"


# Unsupported operations --------------------------------------------------------------------
def test_operations_the_api_lacks_raise_not_supported_without_a_request(api_server, make_client):
    client = make_client()
    with pytest.raises(NotSupported, match="no update for contracts"):
        client.contracts.update(1, {"status": "draft"})
    with pytest.raises(AttributeError):
        client.customer_credits.upload_attachments(1, [("a.pdf", io.BytesIO(b"x"), "x/y")])
    assert not hasattr(client.contracts, "update")
    assert not client.customer_credits.can_upload and client.customer_refunds.can_upload
    assert client.customer_deposits.can_update and not client.contracts.can_update
    assert client.contracts.has_usage and not client.companies.can_create
    assert api_server.count() == 0


def test_resource_lookup_by_api_path_returns_the_same_object(make_client):
    client = make_client()
    assert client.resource("customer-refunds") is client.customer_refunds
    assert client.resource("classifications-lines") is client.classification_lines
    with pytest.raises(KeyError):
        client.resource("payment-methods")


# Retries -----------------------------------------------------------------------------------
def test_get_retries_a_502_then_succeeds(api_server, make_client, sleeps):
    api_server.script("GET", REFUND_12, Reply(502, body=b"<html>bad gateway</html>"),
                      Reply(json=_refund()))  # fmt: skip
    record = make_client().customer_refunds.get(12)
    assert record.number == 12
    assert api_server.count("GET", REFUND_12) == 2
    assert len(sleeps.calls) == 1


def test_get_gives_up_after_three_tries_with_growing_capped_backoff(
    api_server, make_client, sleeps
):
    api_server.script("GET", REFUND_12, Reply(503))
    with pytest.raises(ServerError) as caught:
        make_client(backoff_base=0.5, backoff_cap=0.8).customer_refunds.get(12)
    assert api_server.count() == 3
    # jitter fixed at 0.5: delay = ceiling * 0.75; ceilings 0.5 then min(0.8, 1.0)
    assert sleeps.calls == [pytest.approx(0.375), pytest.approx(0.6)]
    assert caught.value.status == 503
    assert caught.value.user_message == "DualEntry is not responding. Try again in a minute."


def test_a_500_is_not_retried(api_server, make_client):
    api_server.script("GET", REFUND_12, Reply(500, json={"errors": {"__all__": ["Boom"]}}))
    with pytest.raises(ServerError):
        make_client().customer_refunds.get(12)
    assert api_server.count() == 1


def test_get_honours_retry_after_on_429(api_server, make_client, sleeps):
    api_server.script("GET", REFUNDS, Reply(429, headers={"Retry-After": "2"}),
                      Reply(json=_page([])))  # fmt: skip
    make_client().customer_refunds.list()
    assert api_server.count() == 2
    assert sleeps.calls == [2.0]


def test_a_429_asking_for_longer_than_the_cap_is_raised_at_once(api_server, make_client, sleeps):
    api_server.script("GET", REFUNDS, Reply(429, headers={"Retry-After": "120"}))
    with pytest.raises(RateLimited) as caught:
        make_client(retry_after_cap=5).customer_refunds.list()
    assert api_server.count() == 1
    assert sleeps.calls == []
    assert caught.value.retry_after == 120
    assert "120 seconds" in caught.value.user_message


def test_a_get_past_the_read_timeout_is_retried_then_fails_as_connection_failed(
    api_server, make_client
):
    api_server.script("GET", REFUND_12, Reply(json=_refund(), delay=0.6))
    with pytest.raises(ConnectionFailed) as caught:
        make_client(read_timeout=0.2).customer_refunds.get(12)
    assert api_server.count() == 3
    assert caught.value.may_have_reached_server
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, Exception)


def test_a_post_past_the_read_timeout_is_sent_exactly_once(api_server, make_client, sleeps):
    api_server.script("POST", REFUNDS, Reply(json=_refund(), delay=0.6))
    with pytest.raises(ConnectionFailed) as caught:
        make_client(read_timeout=0.2).customer_refunds.create(refund_payload())
    assert api_server.count("POST", REFUNDS) == 1
    assert sleeps.calls == []
    assert caught.value.may_have_reached_server
    assert "may have been saved" in caught.value.user_message


def test_a_put_answered_502_is_not_retried(api_server, make_client):
    api_server.script("PUT", REFUND_12, Reply(502), Reply(json=_refund()))
    with pytest.raises(ServerError):
        make_client().customer_refunds.update(12, refund_payload())
    assert api_server.count() == 1


def test_a_reset_connection_on_get_is_retried(api_server, make_client):
    api_server.script("GET", REFUND_12, Reply(reset=True), Reply(json=_refund()))
    assert make_client().customer_refunds.get(12).number == 12
    assert api_server.count() == 2


def test_a_reset_connection_on_post_is_not_retried(api_server, make_client):
    api_server.script("POST", REFUNDS, Reply(reset=True), Reply(json=_refund()))
    with pytest.raises(ConnectionFailed) as caught:
        make_client().customer_refunds.create(refund_payload())
    assert api_server.count() == 1
    assert caught.value.may_have_reached_server


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_connection_on_post_says_nothing_was_sent(make_client):
    client = make_client(base_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(ConnectionFailed) as caught:
        client.customer_refunds.create(refund_payload())
    assert not caught.value.may_have_reached_server
    assert "nothing was sent" in caught.value.user_message


def test_health_is_retried_like_a_get(api_server, make_client):
    api_server.script("GET", "/public/v2/health/", Reply(503), Reply(json={"status": "ok"}))
    assert make_client().health() == {"status": "ok"}
    assert api_server.count() == 2


def test_redirects_are_not_followed(api_server, make_client):
    api_server.script("GET", REFUND_12, Reply(302, headers={"Location": "http://example.com/"}))
    with pytest.raises(BadResponse, match="redirect"):
        make_client().customer_refunds.get(12)
    assert api_server.count() == 1


# Error mapping -----------------------------------------------------------------------------
def test_malformed_json_is_a_bad_response_and_is_not_retried(api_server, make_client):
    api_server.script("GET", REFUND_12, Reply(body=b'{"number": 12,'))
    with pytest.raises(BadResponse) as caught:
        make_client().customer_refunds.get(12)
    assert api_server.count() == 1
    assert caught.value.status == 200
    assert "could not read" in caught.value.user_message


def test_an_off_schema_amount_is_a_bad_response(api_server, make_client):
    api_server.script("GET", REFUND_12, Reply(json=_refund(amount="twelve")))
    with pytest.raises(BadResponse, match="amount"):
        make_client().customer_refunds.get(12)


def test_a_list_without_count_is_a_bad_response(api_server, make_client):
    api_server.script("GET", REFUNDS, Reply(json={"items": []}))
    with pytest.raises(BadResponse, match="count"):
        make_client().customer_refunds.list()


@pytest.mark.parametrize(
    ("status", "error_class", "sentence"),
    [
        (401, AuthenticationFailed, "API key"),
        (403, PermissionDenied, "not allowed"),
        (404, NotFound, "no such record"),
        (409, DualEntryError, "could not complete"),
    ],
)
def test_statuses_map_to_exceptions_with_sentences(
    api_server, make_client, status, error_class, sentence
):
    api_server.script(
        "GET",
        REFUND_12,
        Reply(status, json={"errors": {"__all__": ["nope"]}}, headers={"X-Request-ID": "req-7"}),
    )
    with pytest.raises(error_class) as caught:
        make_client().customer_refunds.get(12)
    error = caught.value
    assert sentence in error.user_message
    assert (error.status, error.method, error.path) == (status, "GET", REFUND_12)
    assert error.request_id == "req-7"
    assert error.upstream["request_id"] == "req-7"
    assert api_server.count() == 1


def test_a_422_carries_field_non_field_and_item_errors(api_server, make_client):
    api_server.script(
        "POST",
        REFUNDS,
        Reply(
            422,
            json={
                "success": False,
                "errors": {
                    "__all__": ["Line amounts do not add up to the total."],
                    "exchange_rate": ["Ensure that there are no more than 16 decimal places."],
                    "items[0].amount": ["Amount must be positive."],
                    "items.1.customer_credit_number": ["Credit 31 is already applied."],
                },
            },
            headers={"X-Request-ID": "abc-123"},
        ),
    )
    with pytest.raises(ValidationFailed) as caught:
        make_client().customer_refunds.create(refund_payload())
    error = caught.value
    assert error.non_field_errors == ["Line amounts do not add up to the total."]
    assert error.field_errors == {
        "exchange_rate": ["Ensure that there are no more than 16 decimal places."]
    }
    assert error.item_errors == {
        0: {"amount": ["Amount must be positive."]},
        1: {"customer_credit_number": ["Credit 31 is already applied."]},
    }
    assert error.request_id == "abc-123"
    assert "line(s) 1, 2" in str(error)
    assert api_server.count() == 1


# Typed results -------------------------------------------------------------------------------
def test_get_returns_a_typed_record(api_server, make_client):
    api_server.script("GET", REFUND_12, Reply(json=_refund(memo="Duplicate", future_field=1)))
    refund = make_client().customer_refunds.get(12)
    assert isinstance(refund, Record)
    assert refund.amount == Decimal("1234.50")
    assert refund["memo"] == refund.memo == "Duplicate"
    assert isinstance(refund.items, list) and isinstance(refund.items[0], Record)
    assert refund.items[0].amount == Decimal("1234.50")
    assert refund.created_by.timestamp.year == 2026
    assert refund.future_field == 1
    assert refund.raw["amount"] == "1234.50"
    assert refund.upstream.path == REFUND_12


# Uploads ------------------------------------------------------------------------------------
def test_upload_streams_each_file_as_a_files_part(api_server, make_client):
    api_server.script("POST", REFUND_12_FILES, Reply(json=_refund()))
    files = [
        ("scan.pdf", io.BytesIO(b"%PDF-1.7 fake"), "application/pdf"),
        ('odd "name".txt', io.BytesIO(b"hello"), "text/plain"),
        ("forged.txt", io.BytesIO(b"x"), "text/plain\r\nX-Injected: 1"),
    ]
    record = make_client().customer_refunds.upload_attachments(12, files)
    received = api_server.last()
    assert record.number == 12
    assert received.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert int(received.headers["Content-Length"]) == received.body_length
    _, _, uploaded = parse_form_data(
        {
            "wsgi.input": io.BytesIO(received.body),
            "CONTENT_TYPE": received.headers["Content-Type"],
            "CONTENT_LENGTH": str(received.body_length),
            "REQUEST_METHOD": "POST",
        }
    )
    parts = uploaded.getlist("files")
    assert [part.filename for part in parts] == ["scan.pdf", 'odd "name".txt', "forged.txt"]
    assert [part.content_type for part in parts] == [
        "application/pdf",
        "text/plain",
        "application/octet-stream",
    ]
    assert [part.read() for part in parts] == [b"%PDF-1.7 fake", b"hello", b"x"]
    assert b"X-Injected" not in received.body


class _LazyFile(io.RawIOBase):
    """A 60 MB file that exists only one read at a time; remembers the biggest read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = {0: offset, 1: self.position + offset, 2: self.size + offset}[whence]
        return self.position

    def read(self, size: int = -1) -> bytes:
        size = self.size - self.position if size < 0 else min(size, self.size - self.position)
        self.largest_read = max(self.largest_read, size)
        self.position += size
        return b"x" * size


def test_a_60_mb_upload_is_streamed_not_held_in_memory(api_server, make_client):
    api_server.script("POST", REFUND_12_FILES, Reply(json=_refund()))
    lazy = _LazyFile(60 * 1024 * 1024)
    client = make_client(read_timeout=20)
    tracemalloc.start()
    try:
        client.customer_refunds.upload_attachments(12, [("big.tiff", lazy, "image/tiff")])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    received = api_server.last()
    assert received.body_length > 60 * 1024 * 1024
    assert int(received.headers["Content-Length"]) == received.body_length
    assert lazy.largest_read <= UPLOAD_CHUNK_SIZE
    # The server thread's 1 MB reads are traced too; the client side adds a few chunks.
    assert peak < 8 * 1024 * 1024


def test_an_upload_of_unknown_size_is_sent_chunked(api_server, make_client):
    class Pipe:
        def __init__(self) -> None:
            self.chunks = [b"abc", b"def"]

        def read(self, size: int) -> bytes:
            return self.chunks.pop(0) if self.chunks else b""

    api_server.script("POST", REFUND_12_FILES, Reply(json=_refund()))
    make_client().customer_refunds.upload_attachments(12, [("pipe.txt", Pipe(), "text/plain")])
    received = api_server.last()
    assert received.headers.get("Transfer-Encoding") == "chunked"
    assert b"abcdef" in received.body


def test_upload_is_never_retried(api_server, make_client):
    api_server.script("POST", REFUND_12_FILES, Reply(503))
    with pytest.raises(ServerError):
        make_client().customer_refunds.upload_attachments(
            12, [("a.pdf", io.BytesIO(b"x"), "application/pdf")]
        )
    assert api_server.count() == 1


# Contract usage ---------------------------------------------------------------------------
def test_usage_list_pages_and_filters_locally_and_upsert_posts_once(api_server, make_client):
    from dualentry_api import spec

    usage_path = "/public/v2/contracts/5/usage/"
    example = response_example(spec.response_schema("GET", usage_path, 200))[0]
    rows = [{**example, "id": i, "status": "pending" if i % 2 else "invoiced"} for i in range(5)]
    api_server.script("GET", usage_path, Reply(json=rows))
    api_server.script("POST", usage_path + "bulk-upsert/", Reply(json=rows[:1]))
    client = make_client()
    page = client.contracts.list_usage(5, filters={"id": [1, 2, 3]}, limit=2, offset=1)
    assert [record.id for record in page.items] == [2, 3]
    assert page.count == 3
    assert page.items[0].quantity == Decimal("1234.50")
    assert len(list(client.contracts.iterate_usage(5))) == 5
    upserted = client.contracts.bulk_upsert_usage(5, {"items": [{"obligation_id": 1}]})
    assert upserted[0].id == 0
    assert api_server.count("POST") == 1


# get_client ---------------------------------------------------------------------------------
def test_get_client_is_built_from_settings_per_thread_and_rebuilt_on_change(settings, api_server):
    settings.DUALENTRY_API_URL = api_server.url
    settings.DUALENTRY_API_KEY = API_KEY
    settings.DUALENTRY_READ_TIMEOUT = 7
    first = get_client()
    assert get_client() is first
    assert first.transport.timeout == (float(settings.DUALENTRY_CONNECT_TIMEOUT), 7.0)
    other_thread: list[DualEntryClient] = []
    thread = threading.Thread(target=lambda: other_thread.append(get_client()))
    thread.start()
    thread.join()
    assert other_thread[0] is not first
    settings.DUALENTRY_API_URL = api_server.url + "/"
    assert get_client() is not first
    client_module._local.__dict__.clear()


def test_get_client_without_settings_explains_itself(settings):
    settings.DUALENTRY_API_URL = ""
    with pytest.raises(DualEntryError) as caught:
        get_client()
    assert "not connected to DualEntry" in caught.value.user_message
