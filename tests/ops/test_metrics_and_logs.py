"""Prometheus metrics at a protected /metrics, and JSON log lines with the request context."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from prometheus_client import REGISTRY

from dualentry_api.client import get_client
from dualentry_api.errors import NotFound
from portal.audit import actions
from portal.audit.services import audit_record
from portal.ops.context import RequestContextFilter, RequestContextMiddleware

CUSTOMERS_ROUTE = "GET /public/v2/customers/"


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_refused_to_an_address_not_allowed(client, db):
    answer = client.get("/metrics", REMOTE_ADDR="10.0.0.5")
    assert answer.status_code == 403
    assert b"allowed addresses" in answer.content


def test_metrics_served_to_localhost_with_page_latency(client, db):
    client.get("/health/")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    assert b"django_http_requests_latency_seconds_by_view_method" in answer.content
    assert b"portal_worker_heartbeat_age_seconds" in answer.content


def test_behind_the_proxy_metrics_judge_the_client_not_nginx(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    outside = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert outside.status_code == 403
    local = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert local.status_code == 200


def test_metrics_served_anywhere_with_the_bearer_token(client, db, settings):
    settings.METRICS_TOKEN = "scrape-token-123"
    right = client.get(
        "/metrics", REMOTE_ADDR="10.0.0.5", HTTP_AUTHORIZATION="Bearer scrape-token-123"
    )
    assert right.status_code == 200
    wrong = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403


def test_allowed_networks_are_accepted(client, db, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_upstream_calls_and_budget_lanes_are_counted(client, db, sandbox_settings):
    calls_before = _sample("portal_upstream_requests_total", route=CUSTOMERS_ROUTE, status="200")
    lane_before = _sample("portal_budget_requests_total", lane="interactive")
    get_client().customers.list()
    assert (
        _sample("portal_upstream_requests_total", route=CUSTOMERS_ROUTE, status="200")
        == calls_before + 1
    )
    assert _sample("portal_budget_requests_total", lane="interactive") == lane_before + 1
    assert _sample("portal_upstream_request_seconds_count", route=CUSTOMERS_ROUTE) >= 1
    page = client.get("/metrics").content.decode()
    assert f'portal_upstream_requests_total{{route="{CUSTOMERS_ROUTE}",status="200"}}' in page


def test_failed_upstream_statuses_are_counted_by_status(db, sandbox_settings):
    sandbox_settings.set_faults(status_for_path={"/public/v2/customers/": 404})
    before = _sample("portal_upstream_requests_total", route=CUSTOMERS_ROUTE, status="404")
    with pytest.raises(NotFound):
        get_client().customers.list()
    assert _sample("portal_upstream_requests_total", route=CUSTOMERS_ROUTE, status="404") == (
        before + 1
    )


def test_approval_outcomes_are_counted_from_the_audit_events(approver):
    before = {
        outcome: _sample("portal_approval_outcomes_total", outcome=outcome)
        for outcome in ("approved", "rejected", "posted")
    }
    audit_record(actor=approver, action=actions.APPROVED, kind="refund", key="1")
    audit_record(actor=approver, action=actions.POSTED, kind="refund", key="1")
    audit_record(actor=approver, action=actions.LOGIN)
    assert _sample("portal_approval_outcomes_total", outcome="approved") == before["approved"] + 1
    assert _sample("portal_approval_outcomes_total", outcome="posted") == before["posted"] + 1
    assert _sample("portal_approval_outcomes_total", outcome="rejected") == before["rejected"]


def _json_handler(stream: io.StringIO) -> logging.Handler:
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    options = dict(settings.LOGGING["formatters"]["json"])
    options.pop("()")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(**options))
    handler.addFilter(RequestContextFilter())
    return handler


def test_log_lines_are_json_with_request_id_user_and_upstream_request_id(
    preparer, sandbox_settings
):
    stream = io.StringIO()
    handler = _json_handler(stream)
    api_logger = logging.getLogger("dualentry_api")
    api_logger.addHandler(handler)
    previous_level = api_logger.level
    api_logger.setLevel(logging.INFO)

    def view(request):
        get_client().customers.list()
        return HttpResponse("ok")

    request = RequestFactory().get("/customers/")
    request.user = preparer
    request.correlation_id = "req-abc-12345"
    try:
        RequestContextMiddleware(view)(request)
    finally:
        api_logger.removeHandler(handler)
        api_logger.setLevel(previous_level)
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["request_id"] == "req-abc-12345"
    assert line["user"] == "preparer"
    assert line["level"] == "INFO"
    assert line["logger"] == "dualentry_api"
    assert line["upstream_method"] == "GET"
    assert line["upstream_status"] == 200
    assert line["upstream_request_id"] == sandbox_settings.requests_log[-1]["request_id"]
    assert "sandbox-key" not in stream.getvalue()


def test_outside_a_request_the_context_is_empty():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
    RequestContextFilter().filter(record)
    assert (record.request_id, record.user) == ("", "")
