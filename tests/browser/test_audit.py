import re

import pytest
from playwright.sync_api import expect

from portal.audit import actions
from portal.audit.services import audit_record

pytestmark = pytest.mark.browser


def test_viewer_filters_the_audit_log_and_the_url_follows(page, log_in, viewer, preparer):
    audit_record(
        actor=preparer,
        action=actions.RECORD_UPDATED,
        kind="refunds",
        key="1042",
        before={"memo": "Old memo"},
        after={"memo": "New memo"},
    )
    log_in("viewer")
    page.goto("/audit/")
    table = page.locator("#audit-table")
    expect(table).to_contain_text("Record updated")
    expect(table).to_contain_text("Logged in")  # the viewer's own log-in

    page.get_by_label("Action").select_option(actions.RECORD_UPDATED)
    expect(table).not_to_contain_text("Logged in")
    expect(page).to_have_url(re.compile(r"/audit/\?.*action=record_updated"))
    expect(page.get_by_role("heading", name="Audit log")).to_have_count(1)  # table swapped only

    table.get_by_text("1 change").click()
    readable = table.locator("table.diff").first  # the raw values follow under their own fold
    expect(readable.locator("th")).to_contain_text(["Memo"])
    expect(readable.locator("del.diff-old")).to_have_text("Old memo")
    expect(readable.locator("ins.diff-new")).to_have_text("New memo")

    page.go_back()
    expect(table).to_contain_text("Logged in")


def test_reversed_dates_are_explained_next_to_the_field_and_cleared_once_fixed(
    page, log_in, viewer
):
    log_in("viewer")
    page.goto("/audit/")
    page.get_by_label("From").fill("2025-02-01")
    page.get_by_label("To").fill("2025-01-01")
    page.get_by_role("button", name="Filter").click()
    error = page.locator("#id_date_to_error")
    expect(error).to_have_text("The “From” date is after the “To” date.")
    expect(page.get_by_label("To")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("To").fill("2025-03-01")
    page.get_by_role("button", name="Filter").click()
    expect(error).to_have_count(0)
    expect(page.locator("#audit-table")).to_contain_text("No events match these filters.")
