"""Resources speak to DualEntry only through a transport's public ``request()``."""

from __future__ import annotations

from typing import Any

import pytest

from dualentry_api.client import DualEntryClient
from dualentry_api.errors import BadResponse, ServerError
from dualentry_api.records import CallInfo
from dualentry_api.transport import NOT_GIVEN, Answer

from .conftest import API_KEY


class RecordingTransport:
    """Answers every call with ``body`` and remembers what was asked."""

    base_url = "http://fake.invalid"
    last_call: CallInfo | None = None

    def __init__(self, body: Any) -> None:
        self.body = body
        self.calls: list[tuple[str, str, dict, dict]] = []

    def request(self, method, template, path_params=None, **options: Any) -> Answer:
        self.calls.append((method, template, dict(path_params or {}), options))
        path = template.format(**(path_params or {}))
        self.last_call = CallInfo(method, path, 200, 0.1, "fake-1")
        return Answer(self.body, self.last_call, template)

    def close(self) -> None:
        pass


def test_a_client_sends_through_the_transport_it_is_given():
    transport = RecordingTransport({"id": 7, "name": "Acme"})
    client = DualEntryClient(transport=transport)
    customer = client.customers.get(7)
    assert customer.name == "Acme"
    assert customer.upstream.request_id == "fake-1"
    method, template, path_params, options = transport.calls[0]
    assert (method, template, path_params) == (
        "GET",
        "/public/v2/customers/{customer_id}/",
        {"customer_id": 7},
    )
    assert options.get("payload", NOT_GIVEN) is NOT_GIVEN
    assert client.last_call is transport.last_call


def test_swapping_the_transport_reroutes_every_resource(api_server, make_client):
    client = make_client()
    fake = RecordingTransport({"items": [{"id": 1, "name": "Acme"}], "count": 1})
    client.transport = fake
    page = client.customers.list(limit=10)
    assert [customer.name for customer in page] == ["Acme"]
    assert client.resource("customers").transport is fake
    assert api_server.count() == 0


def test_a_failing_transport_fails_the_call_with_its_error():
    class DownTransport(RecordingTransport):
        def request(self, method, template, path_params=None, **options: Any) -> Answer:
            raise ServerError("down", status=503, method=method, path=template)

    client = DualEntryClient(transport=DownTransport(None))
    with pytest.raises(ServerError):
        client.customer_refunds.get(12)


def test_an_answer_of_the_wrong_shape_is_a_bad_response():
    client = DualEntryClient(transport=RecordingTransport([1, 2]))
    with pytest.raises(BadResponse, match="expected a JSON object"):
        client.customers.get(1)
    with pytest.raises(BadResponse, match="'items'"):
        client.customers.list()


def test_a_transport_and_the_options_to_build_one_are_not_both_accepted():
    with pytest.raises(TypeError):
        DualEntryClient("http://x.invalid", API_KEY, transport=RecordingTransport({}))
