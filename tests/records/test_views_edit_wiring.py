"""The edit page shows the record's attachments; the usage page offers the usage batch form."""

from __future__ import annotations

import pytest

from tests.records.edit_support import first_number

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_settings")]


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    sandbox.reset()


def _attach(sandbox, collection: str, key: int) -> None:
    attachment = {"id": 9901, "file_name": "receipt.pdf", "file_size": 1234}
    sandbox.store.save("attachments", {**attachment, "content_type": "application/pdf"})
    record = sandbox.store.get(collection, key)
    record["attachments"] = [sandbox.store.attachment_summary(attachment)]
    sandbox.store.save(collection, record)


def test_edit_page_shows_the_records_attachments_outside_the_form(login_as, preparer, sandbox):
    key = first_number(sandbox, "customer-refunds", record_status="draft")
    _attach(sandbox, "customer-refunds", key)
    client = login_as(preparer)
    before = sandbox.request_count(f"/public/v2/customer-refunds/{key}")
    response = client.get(f"/refunds/{key}/edit/")
    assert response.status_code == 200
    html = response.content.decode()
    form_end = html.index("</form>", html.index('id="record-form"'))
    section = html.index('id="attachments"')
    assert section > form_end  # its own upload form is not nested in the record's form
    assert "receipt.pdf" in html[section:]
    assert f'action="/refunds/{key}/attachments/"' in html[section:]
    # The record fetched for the form serves the section too: one GET of the record.
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}", method="GET") - before == 1


def test_edit_page_of_a_kind_without_attachments_has_no_attachments_section(
    login_as, preparer, sandbox
):
    key = first_number(sandbox, "customer-credits", record_status="draft")
    response = login_as(preparer).get(f"/credits/{key}/edit/")
    assert response.status_code == 200
    assert 'id="attachments"' not in response.content.decode()


def _a_contract_id(sandbox) -> int:
    return next(iter(sandbox.store.collection("contracts").values()))["id"]


def test_usage_page_links_preparers_to_the_usage_batch_form(login_as, preparer, sandbox):
    contract_id = _a_contract_id(sandbox)
    html = login_as(preparer).get(f"/contracts/{contract_id}/usage/").content.decode()
    assert f'href="/contracts/{contract_id}/usage/new/"' in html


def test_usage_page_offers_viewers_no_usage_batch_link(login_as, viewer, sandbox):
    contract_id = _a_contract_id(sandbox)
    html = login_as(viewer).get(f"/contracts/{contract_id}/usage/").content.decode()
    assert "/usage/new/" not in html
