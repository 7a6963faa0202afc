"""When DualEntry fails, every browse page says what happened and what to do (502/503, never a
500), with a retry link, and the log has the detail with DualEntry's request id."""

import logging

import pytest

from tests.api.conftest import Reply, ScriptedServer
from tests.records.browse_support import API

pytestmark = pytest.mark.django_db

# A contract with usage in the seed is not needed: the contract GET fails first.
PAGES = [
    "/refunds/",
    "/deposits/1001/",
    "/drafts/",
    "/contracts/10314/usage/",
    "/credits/export.csv",
]


@pytest.fixture
def browse(sandbox_settings, sandbox, login_as, viewer):
    sandbox.reset()
    return login_as(viewer)


def _assert_error_page(response, *, status: int, says: str, path: str) -> str:
    assert response.status_code == status
    html = response.content.decode()
    assert says in html
    assert "Try again" in html
    assert f'href="{path}"' in html  # retry link: the same page
    assert "site-nav" in html  # in the portal's layout
    return html


@pytest.mark.parametrize("path", PAGES)
def test_server_error_is_a_502_with_a_retry_link_and_the_request_id(browse, sandbox, path, caplog):
    sandbox.set_faults(status_for_path={API: 500})
    with caplog.at_level(logging.WARNING, logger="portal.records.views"):
        response = browse.get(path)
    html = _assert_error_page(
        response, status=502, says="DualEntry had a problem on its side", path=path
    )
    request_id = sandbox.requests_log[-1]["request_id"]
    assert f"DualEntry request {request_id}" in html
    assert response["X-Upstream-Error"] == "ServerError"
    assert any(request_id in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("path", PAGES)
def test_refused_api_key_tells_administrators_to_fix_the_configuration(
    browse, settings, path, caplog
):
    settings.DUALENTRY_API_KEY = "not-the-sandbox-key"
    with caplog.at_level(logging.ERROR, logger="portal.records.views"):
        response = browse.get(path)
    html = _assert_error_page(
        response, status=503, says="The portal cannot sign in to DualEntry", path=path
    )
    assert "DUALENTRY_API_KEY" in html
    assert "not-the-sandbox-key" not in html
    assert any("AuthenticationFailed" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("path", PAGES)
def test_forbidden_key_is_a_503_for_administrators(browse, sandbox, path):
    sandbox.set_faults(status_for_path={API: 403})
    _assert_error_page(browse.get(path), status=503, says="not allowed to read this", path=path)


@pytest.mark.parametrize("path", PAGES)
def test_refused_query_is_a_502_with_dualentrys_reasons(browse, sandbox, path):
    sandbox.set_faults(status_for_path={API: 400})
    html = _assert_error_page(
        browse.get(path), status=502, says="DualEntry did not accept the request", path=path
    )
    assert "Sandbox fault: status 400." in html


def test_rate_limited_is_a_503_with_retry_after(browse, sandbox):
    sandbox.set_faults(status_for_path={API: 429})  # no Retry-After: the client backs off
    response = browse.get("/refunds/?limit=25")
    _assert_error_page(response, status=503, says="DualEntry is busy", path="/refunds/?limit=25")
    assert len(sandbox.requests_log) == 3  # GETs are retried, then the page gives up


def test_the_portals_own_rate_budget_running_out_is_a_503_with_retry_after(browse, settings):
    settings.DUALENTRY_RATE_PER_SECOND = 0.01
    settings.DUALENTRY_RATE_BURST = 1
    settings.DUALENTRY_RATE_MAX_WAIT = 0.0
    response = browse.get("/refunds/")  # the companies list takes the only token
    _assert_error_page(response, status=503, says="DualEntry is busy", path="/refunds/")
    assert int(response["Retry-After"]) >= 1


def test_dualentry_not_answering_is_a_503(browse, sandbox):
    sandbox.set_faults(drop_connection_for_path=[API])
    _assert_error_page(
        browse.get("/refunds/1001/"), status=503, says="DualEntry is not responding",
        path="/refunds/1001/",
    )  # fmt: skip


def test_unreadable_answer_is_a_502(sandbox_settings, settings, login_as, viewer):
    server = ScriptedServer()
    try:
        server.script("GET", f"{API}customer-refunds/1001/", Reply(200, body=b"<html>login</html>"))
        settings.DUALENTRY_API_URL = server.url
        response = login_as(viewer).get("/refunds/1001/")
    finally:
        server.close()
    _assert_error_page(response, status=502, says="could not read", path="/refunds/1001/")


def test_export_failing_half_way_ends_with_a_line_saying_so(
    sandbox_settings, settings, login_as, viewer, monkeypatch
):
    monkeypatch.setattr("portal.records.views.browse.EXPORT_PAGE_SIZE", 2)
    record = {
        "number": 1, "date": "2025-01-02", "customer_name": "A", "company_name": "B",
        "amount": "1.00", "currency_iso_4217_code": "USD", "record_status": "draft",
        "memo": "", "updated_by": None,
    }  # fmt: skip
    server = ScriptedServer()
    try:
        path = f"{API}customer-refunds/"
        server.script(
            "GET",
            path,
            Reply(200, json={"items": [record, {**record, "number": 2}], "count": 5}),
            Reply(500, json={"success": False, "errors": {"__all__": ["Boom."]}}),
        )
        for name in ("companies", "customers"):
            server.script("GET", f"{API}{name}/", Reply(200, json={"items": [], "count": 0}))
        settings.DUALENTRY_API_URL = server.url
        response = login_as(viewer).get("/refunds/export.csv")
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    finally:
        server.close()
    assert response.status_code == 200
    lines = body.strip().splitlines()
    assert len(lines) == 4  # header, two records, the notice
    assert lines[-1].startswith("Export incomplete after 2 rows: DualEntry had a problem")


def test_not_configured_is_a_503(browse, settings):
    settings.DUALENTRY_API_URL = ""
    _assert_error_page(
        browse.get("/refunds/"), status=503, says="not connected to DualEntry", path="/refunds/"
    )


def test_htmx_request_gets_the_error_as_a_fragment_marked_for_swapping(browse, sandbox):
    browse.get("/refunds/")  # warm the names
    sandbox.set_faults(status_for_path={API: 500})
    response = browse.get("/refunds/?search=x", headers={"HX-Request": "true"})
    assert response.status_code == 502
    html = response.content.decode()
    assert "<html" not in html
    assert "DualEntry had a problem on its side" in html
    assert 'href="/refunds/?search=x"' in html
    assert response["X-Upstream-Error"] == "ServerError"
