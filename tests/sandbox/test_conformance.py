"""Every endpoint the sandbox serves answers within the vendored spec, for all seeded data."""

import pytest

from dualentry_api import spec
from dualentry_api.sandbox.resources import RESOURCES

from .conftest import contract_body, credit_body, deposit_body, refund_body

pytestmark = pytest.mark.usefixtures("fresh_sandbox")


def assert_conforms(method: str, response) -> dict:
    path = response.request.path_url.split("?")[0]
    operation = spec.operation_for(method, path)
    assert operation is not None, path
    assert response.status_code in operation.statuses, (response.status_code, response.text)
    body = response.json()
    assert spec.validate_response(method, path, response.status_code, body) == []
    return body


def all_items(api, name: str, **params) -> list[dict]:
    items, offset = [], 0
    while True:
        response = api.get(f"{name}/", params={**params, "limit": 100, "offset": offset})
        page = assert_conforms("GET", response)
        items.extend(page["items"])
        offset += 100
        if offset >= page["count"]:
            assert len(items) == page["count"]
            return items


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_every_seeded_record_conforms_in_list_and_detail(api, name):
    resource = RESOURCES[name]
    items = all_items(api, name)
    assert items, f"{name} has seed data"
    if not resource.detail_template:
        return
    for item in items:
        key = item[resource.key_field]
        assert_conforms("GET", api.get(f"{name}/{key}/"))


def test_seed_has_the_promised_shape(api):
    companies = all_items(api, "companies")
    assert sorted(company["currency_iso_4217_code"] for company in companies) == [
        "EUR",
        "GBP",
        "USD",
    ]
    assert len(all_items(api, "customers")) == 40
    kinds = ("customer-refunds", "customer-deposits", "customer-credits", "contracts")
    assert sum(len(all_items(api, name)) for name in kinds) == 300
    statuses = {item["record_status"] for item in all_items(api, "customer-refunds")}
    assert statuses == {"draft", "posted", "archived"}


def test_health_conforms(api):
    body = assert_conforms("GET", api.get("health/"))
    assert body["status"] == "ok"


def test_contract_usage_list_conforms(api):
    contracts = all_items(api, "contracts")
    with_usage = 0
    for contract in contracts:
        usage = assert_conforms("GET", api.get(f"contracts/{contract['id']}/usage/"))
        with_usage += bool(usage)
        assert all(line["contract_id"] == contract["id"] for line in usage)
    assert with_usage >= 3


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("customer-refunds", refund_body()),
        ("customer-deposits", deposit_body()),
        ("customer-credits", credit_body()),
        ("contracts", contract_body()),
    ],
)
def test_valid_create_bodies_are_accepted_and_answered_in_spec(api, name, body):
    assert spec.validate_request("POST", f"/public/v2/{name}/", body) == []
    response = api.post(f"{name}/", json=body)
    assert response.status_code == (201 if name == "contracts" else 200), response.text
    created = assert_conforms("POST", response)
    key = created[RESOURCES[name].key_field]
    fetched = assert_conforms("GET", api.get(f"{name}/{key}/"))
    assert fetched == created


@pytest.mark.parametrize(
    ("name", "body", "expected_keys"),
    [
        ("customer-refunds", {"memo": "no required fields"}, {"date", "company_id"}),
        (
            "customer-refunds",
            refund_body(items=[{"amount": "12.345", "position": 0}]),
            {"items[0].amount"},
        ),
        ("customer-deposits", deposit_body(exchange_rate="abc"), {"exchange_rate"}),
        (
            "customer-credits",
            credit_body(items=[{"item_id": 309, "position": 0, "rate": "1"}]),
            {"items[0].quantity"},
        ),
        ("contracts", contract_body(status="pending"), {"status"}),
        ("customer-refunds", [], {"__all__"}),
    ],
)
def test_invalid_bodies_are_rejected_with_422_in_the_error_shape(api, name, body, expected_keys):
    response = api.post(f"{name}/", json=body)
    assert response.status_code == 422
    errors = assert_conforms("POST", response)["errors"]
    assert expected_keys <= set(errors)
    assert all(isinstance(message, str) for messages in errors.values() for message in messages)


def test_business_checks_answer_422_field_errors(api):
    body = refund_body(
        customer_id=999,
        account_number=21000,
        payment_method_id=9,
        items=[{"customer_credit_number": 999999, "amount": "5", "position": 0}],
    )
    errors = assert_conforms("POST", api.post("customer-refunds/", json=body))["errors"]
    assert errors["customer_id"] == ["Customer 999 does not exist."]
    assert errors["account_number"] == ["Account 21000 belongs to another company."]
    assert errors["payment_method_id"] == ["Payment method 9 does not exist."]
    assert errors["items[0].customer_credit_number"] == ["Customer credit 999999 does not exist."]


def test_posted_record_without_lines_is_a_non_field_error(api):
    response = api.post("customer-refunds/", json=refund_body(items=[]))
    assert response.status_code == 422
    assert response.json()["errors"] == {"__all__": ["A posted refund needs at least one line."]}
    draft = api.post("customer-refunds/", json=refund_body(items=[], record_status="draft"))
    assert draft.status_code == 200


def test_invalid_json_is_a_422(api):
    response = api.post(
        "customer-refunds/", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {
        "success": False,
        "errors": {"__all__": ["The request body is not valid JSON."]},
    }


def test_put_conforms_and_replaces_the_whole_record(api):
    created = api.post("customer-refunds/", json=refund_body()).json()
    replacement = refund_body(memo="", check_number="", items=[{"amount": "10", "position": 0}])
    del replacement["memo"]
    response = api.put(f"customer-refunds/{created['number']}/", json=replacement)
    updated = assert_conforms("PUT", response)
    assert updated["number"] == created["number"]
    assert updated["memo"] == ""
    assert updated["amount"] == "10.00"
    assert [line["amount"] for line in updated["items"]] == ["10.00"]
    assert updated["created_by"] == created["created_by"]


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("customer-refunds", refund_body(record_status="draft")),
        ("customer-deposits", deposit_body(record_status="draft")),
        ("customer-credits", credit_body(record_status="draft")),
    ],
)
def test_put_without_record_status_posts_the_record(api, name, body):
    created = api.post(f"{name}/", json=body).json()
    assert created["record_status"] == "draft"
    del body["record_status"]
    updated = assert_conforms("PUT", api.put(f"{name}/{created['number']}/", json=body))
    assert updated["record_status"] == "posted"


def test_usage_bulk_upsert_conforms_and_updates_by_id(api):
    contract = api.post("contracts/", json=contract_body()).json()
    usage_obligation = contract["obligations"][1]["id"]
    first = api.post(
        f"contracts/{contract['id']}/usage/bulk-upsert/",
        json={
            "items": [
                {"obligation_id": usage_obligation, "usage_date": "2026-10-31", "quantity": "1200"}
            ]
        },
    )
    saved = assert_conforms("POST", first)
    assert saved[0]["amount"] == "3000.00"
    second = api.post(
        f"contracts/{contract['id']}/usage/bulk-upsert/",
        json={
            "items": [
                {
                    "id": saved[0]["id"],
                    "obligation_id": usage_obligation,
                    "usage_date": "2026-10-31",
                    "quantity": 100,
                    "status": "invoiced",
                }
            ]
        },
    )
    assert assert_conforms("POST", second)[0]["id"] == saved[0]["id"]
    listed = assert_conforms("GET", api.get(f"contracts/{contract['id']}/usage/"))
    assert [(line["quantity"], line["status"]) for line in listed] == [("100", "invoiced")]
    detail = assert_conforms("GET", api.get(f"contracts/{contract['id']}/"))
    assert [line["id"] for line in detail["obligation_usage"]] == [saved[0]["id"]]


def test_usage_for_a_foreign_obligation_is_rejected(api):
    contract = api.post("contracts/", json=contract_body()).json()
    response = api.post(
        f"contracts/{contract['id']}/usage/bulk-upsert/",
        json={"items": [{"obligation_id": 1, "usage_date": "2026-10-31", "quantity": "1"}]},
    )
    assert response.status_code == 422
    assert list(assert_conforms("POST", response)["errors"]) == ["items[0].obligation_id"]
