"""Every call is logged with method, path, status, duration and request id; never the key."""

from __future__ import annotations

import io
import logging

import pytest

from dualentry_api.errors import DualEntryError

from .conftest import API_KEY, Reply
from .samples import refund_payload

REFUNDS = "/public/v2/customer-refunds/"


def test_each_call_is_logged_at_info_with_its_details(api_server, make_client, caplog):
    api_server.script(
        "GET", REFUNDS, Reply(json={"items": [], "count": 0}, headers={"X-Request-ID": "r-1"})
    )
    with caplog.at_level(logging.INFO, logger="dualentry_api"):
        make_client().customer_refunds.list()
    (record,) = [r for r in caplog.records if r.name == "dualentry_api"]
    assert record.levelno == logging.INFO
    assert (
        record.upstream_method,
        record.upstream_path,
        record.upstream_status,
        record.upstream_request_id,
    ) == (
        "GET",
        REFUNDS,
        200,
        "r-1",
    )
    assert record.upstream_duration_ms >= 0
    assert "GET /public/v2/customer-refunds/ -> 200" in record.getMessage()
    assert "request id r-1" in record.getMessage()


def test_the_api_key_appears_in_no_log_record_exception_or_repr(api_server, make_client, caplog):
    api_server.script("GET", REFUNDS, Reply(503), Reply(json={"items": [], "count": 0}))
    api_server.script("POST", REFUNDS, Reply(422, json={"errors": {"__all__": ["No."]}}))
    api_server.script("GET", REFUNDS + "1/", Reply(reset=True))
    api_server.script("GET", REFUNDS + "2/", Reply(401, json={"errors": {"__all__": ["Key?"]}}))
    api_server.script("GET", REFUNDS + "3/", Reply(body=b"not json"))
    client = make_client()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(__dict__)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(n) for n in ("urllib3", "requests", "dualentry_api")]
    old_levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    errors: list[DualEntryError] = []
    try:
        with caplog.at_level(logging.DEBUG):
            client.customer_refunds.list()
            for call in (
                lambda: client.customer_refunds.create(refund_payload()),
                lambda: client.customer_refunds.get(1),
                lambda: client.customer_refunds.get(2),
                lambda: client.customer_refunds.get(3),
            ):
                with pytest.raises(DualEntryError) as caught:
                    call()
                errors.append(caught.value)
                logging.getLogger("dualentry_api").exception("call failed: %s", caught.value)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for logger, level in zip(loggers, old_levels, strict=True):
            logger.setLevel(level)
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # DEBUG really captured
    assert len(caplog.records) >= 8
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in repr(record.args)
        assert API_KEY not in repr(vars(record))
    assert API_KEY not in stream.getvalue()
    assert API_KEY not in caplog.text
    for error in errors:
        assert API_KEY not in str(error)
        assert API_KEY not in repr(error)
        assert API_KEY not in error.user_message
        assert API_KEY not in str(error.__cause__ or "")
    assert API_KEY not in repr(client)
