"""Spec conformance: what the client sends and what it parses, checked by dualentry_api.spec.

The bodies validated are the bytes the client actually put on the wire (captured by the local
server), not a re-serialisation in the test.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from dualentry_api import spec
from dualentry_api.resources import CREATE, GET, LIST, RESOURCES, UPDATE, UPLOAD, USAGE

from .conftest import Reply
from .samples import (
    contract_payload,
    credit_payload,
    deposit_payload,
    refund_payload,
    response_example,
    usage_payload,
)

WRITES = [
    ("customer_refunds", refund_payload),
    ("customer_deposits", deposit_payload),
    ("customer_credits", credit_payload),
]


def _answer_for(method: str, path: str) -> Reply:
    operation = spec.operation_for(method, path)
    status = next(code for code in operation.statuses if 200 <= code < 300)
    return Reply(status, json=response_example(operation.response_schema(status)))


@pytest.mark.parametrize(("resource", "build"), WRITES, ids=[name for name, _ in WRITES])
@pytest.mark.parametrize("lines", [0, 1, 2])
def test_create_and_update_bodies_match_the_request_schema(
    api_server, make_client, resource, build, lines
):
    client = make_client()
    payload = build()
    payload["items"] = payload["items"][:lines] if lines < 2 else payload["items"]
    description = getattr(client, resource).description
    collection = description.collection_template
    detail = description.detail_template.format(record_number=41)
    api_server.script("POST", collection, _answer_for("POST", collection))
    api_server.script("PUT", detail, _answer_for("PUT", detail))
    getattr(client, resource).create(payload)
    getattr(client, resource).update(41, payload)
    for received in api_server.requests:
        body = json.loads(received.body)
        assert spec.validate_request(received.method, received.path, body) == []
        assert len(body["items"]) == len(payload["items"])


def test_contract_create_body_matches_the_request_schema(api_server, make_client):
    api_server.script("POST", "/public/v2/contracts/", _answer_for("POST", "/public/v2/contracts/"))
    contract = make_client().contracts.create(contract_payload())
    body = json.loads(api_server.last().body)
    assert spec.validate_request("POST", "/public/v2/contracts/", body) == []
    assert body["obligations"][0]["rate"] == "100.0000000001"
    assert contract.upstream.status == 201


def test_usage_upsert_body_matches_the_request_schema(api_server, make_client):
    path = "/public/v2/contracts/5/usage/bulk-upsert/"
    api_server.script("POST", path, _answer_for("POST", path))
    make_client().contracts.bulk_upsert_usage(5, usage_payload())
    body = json.loads(api_server.last().body)
    assert spec.validate_request("POST", path, body) == []


def test_a_body_the_spec_rejects_is_caught_by_this_check():
    body = json.loads(json.dumps({**refund_payload(), "exchange_rate": "1.2.3"}, default=str))
    assert spec.validate_request("POST", "/public/v2/customer-refunds/", body)


def _operations(description):
    found = []
    if LIST in description.capabilities:
        found.append(("GET", description.collection_template))
    if GET in description.capabilities:
        found.append(("GET", description.detail_template))
    if CREATE in description.capabilities:
        found.append(("POST", description.collection_template))
    if UPDATE in description.capabilities:
        found.append(("PUT", description.detail_template))
    if UPLOAD in description.capabilities:
        found.append(("POST", description.attachments_template))
    if USAGE in description.capabilities:
        found.append(("GET", "/public/v2/contracts/{contract_id}/usage/"))
        found.append(("POST", "/public/v2/contracts/{contract_id}/usage/bulk-upsert/"))
    return found


@pytest.mark.parametrize("description", RESOURCES, ids=[d.name for d in RESOURCES])
def test_the_resource_table_offers_exactly_what_the_spec_offers(description):
    offered = set(_operations(description))
    for method, template in offered:
        operation = spec.operation_for(method, template)
        assert operation is not None, f"{method} {template} is not in the spec"
        assert operation.template == template
    prefix = description.collection_template
    in_spec = {
        (operation.method, operation.template)
        for operation in spec.operations()
        if operation.template.startswith(prefix)
        and operation.method in ("GET", "POST", "PUT")
        and operation.template.count("/") <= prefix.count("/") + 2  # not deeper sub-resources
    }
    if description.name == "contracts":
        in_spec |= {
            ("GET", "/public/v2/contracts/{contract_id}/usage/"),
            ("POST", "/public/v2/contracts/{contract_id}/usage/bulk-upsert/"),
        }
    assert offered == in_spec


@pytest.mark.parametrize("description", RESOURCES, ids=[d.name for d in RESOURCES])
def test_every_response_fixture_is_spec_valid_and_parses(api_server, make_client, description):
    client = make_client()
    resource = client.resource(description.path)
    collection = description.collection_template
    list_answer = _answer_for("GET", collection)
    assert spec.validate_response("GET", collection, 200, list_answer.json) == []
    api_server.script("GET", collection, list_answer)
    page = resource.list()
    assert page.count == list_answer.json["count"]
    assert page.items[0].raw == list_answer.json["items"][0]
    if resource.can_get:
        detail = description.detail_template.format(**{description.key_param: 3})
        answer = _answer_for("GET", detail)
        assert spec.validate_response("GET", detail, 200, answer.json) == []
        api_server.script("GET", detail, answer)
        record = resource.get(3)
        assert record.raw == answer.json
        decimals = [value for value in record.to_dict().values() if isinstance(value, Decimal)]
        assert all(value == Decimal("1234.50") for value in decimals)
