"""Sandbox behaviour: auth, not found, filters, paging, ordering, attachments, state, speed."""

import json
import os
import resource
import statistics
import tempfile
import time

import pytest
import requests

from dualentry_api.sandbox.server import SandboxServer

from .conftest import deposit_body, refund_body

pytestmark = pytest.mark.usefixtures("fresh_sandbox")

ERROR_SHAPE_KEYS = {"success", "errors"}


def test_missing_or_wrong_api_key_is_401_in_the_error_shape(sandbox, api):
    for headers in ({}, {"X-API-KEY": "wrong"}):
        response = requests.get(f"{api.base}customer-refunds/", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json() == {
            "success": False,
            "errors": {"__all__": ["Invalid or missing API key (X-API-KEY)."]},
        }


def test_unknown_record_is_404_in_the_error_shape(api):
    for path in ("customer-refunds/999999/", "contracts/999999/", "contracts/999999/usage/"):
        response = api.get(path)
        assert response.status_code == 404
        assert set(response.json()) == ERROR_SHAPE_KEYS
        assert response.json()["errors"]["__all__"]
    assert api.put("customer-credits/999999/", json={}).status_code == 404


def test_unimplemented_operation_is_405_and_unknown_endpoint_404(api):
    assert api.post("invoices/", json={}).status_code == 405
    assert api.get("payment-methods/").status_code == 404


def test_count_is_total_matches_and_limit_is_capped_at_100(api):
    everything = api.get("customer-refunds/", params={"limit": 500}).json()
    assert everything["count"] == 90
    assert len(everything["items"]) == 90
    credits = api.get("invoices/", params={"limit": 1000}).json()
    assert len(credits["items"]) == 60
    big = api.get("accounts/", params={"limit": 1000}).json()
    assert big["count"] == 48


def test_offset_pages_without_overlap_and_past_the_end_is_empty(api):
    first = api.get("customer-credits/", params={"limit": 40, "offset": 0}).json()
    second = api.get("customer-credits/", params={"limit": 40, "offset": 40}).json()
    third = api.get("customer-credits/", params={"limit": 40, "offset": 80}).json()
    numbers = [item["number"] for page in (first, second, third) for item in page["items"]]
    assert len(numbers) == len(set(numbers)) == 90
    past = api.get("customer-credits/", params={"offset": 500}).json()
    assert past == {"items": [], "count": 90}


@pytest.mark.parametrize("params", [{"limit": 0}, {"offset": -1}, {"limit": "ten"}])
def test_bad_paging_parameters_are_400(api, params):
    response = api.get("customer-refunds/", params=params)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == set(params)


def test_filters_by_status_company_and_repeated_values(api):
    drafts = api.get("customer-refunds/", params={"record_status": "draft"}).json()
    assert drafts["count"] > 0
    assert {item["record_status"] for item in drafts["items"]} == {"draft"}
    two = api.get("customer-refunds/", params=[("company_id", 2), ("company_id", 3)]).json()
    assert {item["company_id"] for item in two["items"]} == {2, 3}
    one = api.get("customer-refunds/", params={"company_id": 1}).json()
    assert one["count"] + two["count"] == 90


def test_filter_by_number_customer_dates_and_currency(api):
    refund = api.get("customer-refunds/", params={"limit": 1}).json()["items"][0]
    by_number = api.get("customer-refunds/", params={"number": refund["number"]}).json()
    assert [item["number"] for item in by_number["items"]] == [refund["number"]]
    by_customer = api.get("customer-refunds/", params={"customer_id": refund["customer_id"]})
    assert {item["customer_id"] for item in by_customer.json()["items"]} == {refund["customer_id"]}
    window = api.get(
        "customer-refunds/", params={"start_date": "2026-01-01", "end_date": "2026-03-31"}
    ).json()
    assert window["count"] > 0
    assert all("2026-01-01" <= item["date"] <= "2026-03-31" for item in window["items"])
    euros = api.get("customer-credits/", params={"transaction_currency": "EUR"}).json()
    assert euros["count"] > 0
    assert {item["currency_iso_4217_code"] for item in euros["items"]} == {"EUR"}


def test_deposit_customer_filter_looks_at_the_lines(api):
    created = api.post("customer-deposits/", json=deposit_body()).json()
    found = api.get("customer-deposits/", params={"customer_id": 103, "limit": 100}).json()
    assert created["number"] in [item["number"] for item in found["items"]]
    for item in found["items"]:
        assert 103 in [line["customer_id"] for line in item["items"]]


def test_search_matches_memo_and_customer_name(api):
    found = api.get("customer-refunds/", params={"search": "DUPLICATE payment"}).json()
    assert found["count"] > 0
    assert all("duplicate payment" in item["memo"].lower() for item in found["items"])
    customers = api.get("customers/", params={"search": "dental"}).json()
    assert sorted(item["name"] for item in customers["items"]) == [
        "Evergreen Dental Group",
        "Union Square Dental",
    ]


def test_invalid_filter_values_are_400(api):
    response = api.get("customer-refunds/", params={"record_status": "pending"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["record_status"]
    assert api.get("customer-refunds/", params={"company_id": "x"}).status_code == 400


def test_ordering(api):
    newest = api.get("customer-refunds/", params={"ordering": "-date"}).json()["items"]
    dates = [item["date"] for item in newest]
    assert dates == sorted(dates, reverse=True)
    by_id = api.get("customer-refunds/").json()["items"]
    ids = [item["internal_id"] for item in by_id]
    assert ids == sorted(ids)
    bad = api.get("customer-refunds/", params={"ordering": "colour"})
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"ordering": ["Cannot order by 'colour'."]}


def test_create_assigns_numbers_totals_and_audit_actors(api):
    first = api.post("customer-refunds/", json=refund_body()).json()
    second = api.post("customer-refunds/", json=refund_body()).json()
    assert second["number"] == first["number"] + 1
    assert first["amount"] == "200.00"
    assert first["exchange_rate"] == "1"
    assert first["created_by"]["actor_type"] == "api_key"
    assert first["updated_by"]["timestamp"]
    assert first["record_status"] == "posted"
    assert first["customer_name"] == "Acme Logistics"


def test_deposit_output_follows_the_spec_and_omits_line_amounts(api):
    created = api.post("customer-deposits/", json=deposit_body()).json()
    assert created["amount"] == "350.00"
    assert "customer_id" not in created
    assert all("amount" not in line and "position" not in line for line in created["items"])


def test_reset_restores_the_seed(sandbox, api):
    api.post("customer-refunds/", json=refund_body())
    assert api.get("customer-refunds/").json()["count"] == 91
    started = time.perf_counter()
    sandbox.reset()
    assert time.perf_counter() - started < 0.5
    assert api.get("customer-refunds/").json()["count"] == 90


def test_upload_attachments_lists_them_and_serves_downloads(api):
    refund = api.get("customer-refunds/", params={"limit": 1}).json()["items"][0]
    response = api.post(
        f"customer-refunds/{refund['number']}/attachments/",
        files=[
            ("files", ("remittance.pdf", b"%PDF-1.4 remittance", "application/pdf")),
            ("files", ("bank-letter.txt", b"Dear finance team", "text/plain")),
        ],
    )
    assert response.status_code == 200, response.text
    attachments = response.json()["attachments"]
    new = [
        item for item in attachments if item["file_name"] in ("remittance.pdf", "bank-letter.txt")
    ]
    assert [(item["file_name"], item["file_size"]) for item in new] == [
        ("remittance.pdf", 19),
        ("bank-letter.txt", 17),
    ]
    download = requests.get(new[0]["download_url"], timeout=5)
    assert download.content == b"%PDF-1.4 remittance"
    again = api.get(f"customer-refunds/{refund['number']}/").json()
    assert again["attachments"] == attachments


def test_upload_without_files_is_422_and_unknown_record_404(api):
    deposit = api.get("customer-deposits/", params={"limit": 1}).json()["items"][0]
    empty = api.post(
        f"customer-deposits/{deposit['number']}/attachments/", files={"other": ("a.txt", b"x")}
    )
    assert empty.status_code == 422
    assert empty.json()["errors"] == {"files": ["No file was submitted."]}
    missing = api.post("customer-deposits/999999/attachments/", files={"files": ("a.txt", b"x")})
    assert missing.status_code == 404


def _multipart_file(size: int) -> tuple[str, str]:
    boundary = "sandbox-test-boundary"
    handle = tempfile.NamedTemporaryFile(delete=False, suffix=".multipart")  # noqa: SIM115
    with handle:
        handle.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="scan.pdf"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
        )
        chunk = b"0" * (1024 * 1024)
        for _ in range(size // len(chunk)):
            handle.write(chunk)
        handle.write(f"\r\n--{boundary}--\r\n".encode())
    return handle.name, boundary


def test_a_60_mb_upload_is_streamed_not_held_in_memory(api):
    size = 60 * 1024 * 1024
    path, boundary = _multipart_file(size)
    refund = api.get("customer-refunds/", params={"limit": 1}).json()["items"][0]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with open(path, "rb") as body:
            response = api.post(
                f"customer-refunds/{refund['number']}/attachments/",
                data=body,
                headers={
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "Content-Length": str(os.path.getsize(path)),
                },
            )
    finally:
        os.unlink(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert response.status_code == 200, response.text
    assert response.json()["attachments"][-1]["file_size"] == size
    assert grown_mb < 30, f"peak memory grew by {grown_mb:.0f} MB"


def test_state_file_keeps_changes_across_restarts(tmp_path):
    state_file = tmp_path / "state.json"
    first = SandboxServer(state_file=state_file).start()
    try:
        response = requests.post(
            f"{first.url}/public/v2/customer-refunds/",
            json=refund_body(memo="Survives a restart"),
            headers={"X-API-KEY": first.api_key},
            timeout=10,
        )
        number = response.json()["number"]
    finally:
        first.stop()
    assert "Survives a restart" in state_file.read_text()
    json.loads(state_file.read_text())
    second = SandboxServer(state_file=state_file).start()
    try:
        fetched = requests.get(
            f"{second.url}/public/v2/customer-refunds/{number}/",
            headers={"X-API-KEY": second.api_key},
            timeout=10,
        )
        next_one = requests.post(
            f"{second.url}/public/v2/customer-refunds/",
            json=refund_body(),
            headers={"X-API-KEY": second.api_key},
            timeout=10,
        )
    finally:
        second.stop()
    assert fetched.json()["memo"] == "Survives a restart"
    assert next_one.json()["number"] == number + 1


def test_a_100_record_list_is_answered_in_under_20_ms(api):
    for _ in range(12):
        api.post("customer-refunds/", json=refund_body())
    timings = []
    for params in ({"limit": 100}, {"limit": 100, "ordering": "-date", "company_id": [1, 2, 3]}):
        for _ in range(15):
            started = time.perf_counter()
            response = api.get("customer-refunds/", params=params)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(response.json()["items"]) == 100
    median = statistics.median(timings)
    print(f"list median {median:.2f} ms, max {max(timings):.2f} ms")
    assert median < 20
