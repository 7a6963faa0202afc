"""The redaction oracle is closed: text holding the portal's API key is refused with a neutral
message at the input, so nothing a person typed ever comes back "[redacted]", and the key
reaches neither DualEntry, the audit log nor a log line."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from portal.audit.models import AuditEvent
from portal.audit.services import REDACTED
from portal.secret_input import REFUSAL
from tests.records import attachment_samples as samples
from tests.records.edit_support import first_number, form_values, open_source, refund_form_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_settings")]


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    yield
    sandbox.reset()


def _token(client) -> str:
    return form_values(client.get("/refunds/new/").content.decode())["form_token"]


def _refund(sandbox, token: str, memo: str) -> dict:
    # A posted credit of this customer with money left (the money rules refuse any other).
    credit = open_source(sandbox, "customer-credits", company_id=1, customer_id=101, at_least="5")
    line = {"customer_credit_number": credit["number"], "amount": "5"}
    return refund_form_data(token, customer_id=101, memo=memo, lines=[line])


def _audit_text() -> str:
    return json.dumps(
        [
            [event.summary, event.error, event.changes, event.upstream_path]
            for event in AuditEvent.objects.all()
        ],
        ensure_ascii=False,
    )


def test_memo_with_the_key_is_refused_neutrally_and_never_redacted(
    login_as, preparer, sandbox, caplog
):
    key = settings.DUALENTRY_API_KEY
    client = login_as(preparer)
    memo = f"note {key} here"
    with caplog.at_level(logging.DEBUG):
        response = client.post("/refunds/new/", _refund(sandbox, _token(client), memo))
    page = response.content.decode()
    assert response.status_code == 422
    assert REFUSAL in page and "key" not in REFUSAL.lower()
    assert form_values(page)["memo"] == memo  # the typed input is kept
    assert REDACTED not in page
    assert sandbox.request_count("/public/v2/customer-refunds/", "POST") == 0
    assert key not in _audit_text() and REDACTED not in _audit_text()
    assert key not in caplog.text


def test_a_memo_that_only_resembles_the_key_is_saved_as_typed(login_as, preparer, sandbox):
    client = login_as(preparer)
    memo = f"note {settings.DUALENTRY_API_KEY[:-1]}X here"
    response = client.post("/refunds/new/", _refund(sandbox, _token(client), memo))
    assert response.status_code == 302
    detail = client.get(response["Location"]).content.decode()
    assert memo in detail and REDACTED not in detail


def test_attachment_named_with_the_key_is_refused_without_redaction(login_as, preparer, sandbox):
    key = settings.DUALENTRY_API_KEY
    client = login_as(preparer)
    number = str(first_number(sandbox, "customer-refunds", record_status="draft"))
    upload = SimpleUploadedFile(f"{key}.pdf", samples.pdf(), content_type="application/pdf")
    response = client.post(
        reverse("records:upload", args=["refunds", number]),
        {"files": [upload], "confirm": "yes"},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert "its name contains a sequence of characters the portal does not accept" in page
    assert REDACTED not in page
    assert sandbox.request_count(f"/public/v2/customer-refunds/{number}/attachments/", "POST") == 0
    assert key not in _audit_text() and REDACTED not in _audit_text()
    history = client.get(f"/refunds/{number}/").content.decode()
    assert REDACTED not in history
