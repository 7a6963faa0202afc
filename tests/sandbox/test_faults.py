"""Faults and rate limits on demand, through the fixture and the control endpoints."""

import time

import pytest
import requests

pytestmark = pytest.mark.usefixtures("fresh_sandbox")


def test_faults_are_off_by_default(sandbox, api):
    statuses = [api.get("customer-refunds/", params={"limit": 1}).status_code for _ in range(60)]
    assert set(statuses) == {200}


def test_added_latency(sandbox, api):
    sandbox.set_faults(latency_ms=150)
    started = time.perf_counter()
    assert api.get("health/").status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_status_for_path_answers_in_the_error_shape(sandbox, api):
    sandbox.set_faults(status_for_path={"/public/v2/customers": 503})
    response = api.get("customers/")
    assert response.status_code == 503
    assert response.json() == {
        "success": False,
        "errors": {"__all__": ["Sandbox fault: status 503."]},
    }
    assert api.get("companies/").status_code == 200


def test_error_rate_is_deterministic_for_a_seed(sandbox, api):
    def run() -> list[int]:
        sandbox.set_faults(error_rate=0.3, error_seed=7)
        return [api.get("health/").status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert 0 < first.count(500) < 40
    assert set(first) == {200, 500}


def test_dropped_connection_gives_no_answer(sandbox, api):
    sandbox.set_faults(drop_connection_for_path=["/public/v2/customer-credits"])
    with pytest.raises(requests.ConnectionError):
        api.get("customer-credits/")
    assert api.get("customer-refunds/", params={"limit": 1}).status_code == 200


def test_rate_limit_per_route_answers_429_with_retry_after(sandbox, api):
    sandbox.set_faults(rate_limits=True)
    statuses = [api.get("customer-refunds/", params={"limit": 1}) for _ in range(12)]
    assert [response.status_code for response in statuses[:10]] == [200] * 10
    limited = statuses[10]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert set(limited.json()) == {"success", "errors"}
    assert api.get("customer-credits/", params={"limit": 1}).status_code == 200


def test_rate_limit_per_key_allows_a_burst_of_50(sandbox, api):
    sandbox.set_faults(rate_limits=True, route_burst=1000, route_rate=1000)
    statuses = [api.get("health/").status_code for _ in range(55)]
    assert statuses[:50] == [200] * 50
    assert 429 in statuses[50:]


def test_rate_limited_route_recovers_after_retry_after(sandbox, api):
    sandbox.set_faults(rate_limits=True, route_rate=20, route_burst=1)
    assert api.get("health/").status_code == 200
    limited = api.get("health/")
    assert limited.status_code == 429
    time.sleep(0.06)
    assert api.get("health/").status_code == 200


def test_request_count_and_log(sandbox, api):
    sandbox.clear_log()
    api.get("customer-refunds/")
    api.get("customer-refunds/1001/")
    api.post("customer-refunds/", json={})
    assert sandbox.request_count() == 3
    assert sandbox.request_count("/public/v2/customer-refunds/1001") == 1
    assert sandbox.request_count(method="POST") == 1
    assert [entry["status"] for entry in sandbox.requests_log] == [200, 200, 422]
    sandbox.clear_log()
    assert sandbox.request_count() == 0


def test_control_endpoints_need_no_api_key(sandbox, api):
    control = f"{sandbox.url}/__sandbox__/"
    set_response = requests.put(
        control + "faults", json={"status_for_path": {"/public/v2/items": 500}}, timeout=5
    )
    assert set_response.json()["status_for_path"] == {"/public/v2/items": 500}
    assert api.get("items/").status_code == 500
    requests.delete(control + "faults", timeout=5)
    assert api.get("items/").status_code == 200
    log = requests.get(control + "requests", params={"path_prefix": "/public/v2/items"}, timeout=5)
    assert log.json()["count"] == 2
    api.post("customer-refunds/", json={"memo": "x"})
    assert requests.post(control + "reset", timeout=5).json() == {"reset": True}
    bad = requests.put(control + "faults", json={"colour": "red"}, timeout=5)
    assert bad.status_code == 422


def test_fractional_rates_set_through_the_faults_endpoint_keep_the_sandbox_answering(sandbox, api):
    """JSON decimals arrive as Decimal; the token buckets count time in floats (issue 16)."""
    control = f"{sandbox.url}/__sandbox__/faults"
    settings = {
        "rate_limits": True,
        "route_rate": 0.5,
        "route_burst": 1,
        "key_rate": 2.5,
        "key_burst": 50,
        "latency_ms": 0,
    }
    answer = requests.put(control, json=settings, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["route_rate"] == 0.5
    statuses = [api.get("customer-refunds/", params={"limit": 1}).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    assert api.get("customer-credits/", params={"limit": 1}).status_code == 200


def test_fault_settings_of_the_wrong_type_are_refused_with_a_sentence(sandbox):
    control = f"{sandbox.url}/__sandbox__/faults"
    wrong = ({"route_rate": "fast"}, {"key_burst": 2.5}, {"rate_limits": "yes"}, {"key_rate": 0})
    for settings in wrong:
        answer = requests.put(control, json=settings, timeout=5)
        assert answer.status_code == 422, settings
        assert answer.json()["success"] is False
