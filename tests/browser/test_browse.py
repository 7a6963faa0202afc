"""Browsing refunds in Chromium: filter by status and customer, open one, read its lines."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from portal.records.templatetags.records import money

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _draft_refund_with_lines(sandbox) -> dict:
    """A seeded draft refund with line items (the seed is deterministic)."""
    refunds = sandbox.store.collection("customer-refunds").values()
    return next(
        refund
        for refund in sorted(refunds, key=lambda refund: refund["number"])
        if refund["record_status"] == "draft" and refund["items"]
    )


def test_viewer_filters_refunds_by_status_and_customer_then_reads_one(
    page, log_in, viewer, sandbox_settings, sandbox
):
    sandbox.reset()
    refund = _draft_refund_with_lines(sandbox)
    log_in("viewer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Refunds").click()
    expect(page.get_by_role("heading", name="Customer refunds")).to_be_visible()

    page.get_by_role("checkbox", name="Draft").check()
    page.wait_for_url("**record_status=draft**")
    page.get_by_label("Customer", exact=True).select_option(label=refund["customer_name"])
    page.wait_for_url(f"**customer_id={refund['customer_id']}**")
    # The table was swapped by htmx and the URL holds the whole view.
    expect(page.locator("#records-table tbody tr").first).to_be_visible()
    rows = page.locator("#records-table tbody tr")
    for index in range(rows.count()):
        expect(rows.nth(index)).to_contain_text(refund["customer_name"])
        expect(rows.nth(index)).to_contain_text("Draft")

    page.reload()  # the pushed URL renders the same view without htmx
    expect(page.get_by_label("Customer", exact=True)).to_have_value(str(refund["customer_id"]))
    expect(page.get_by_role("checkbox", name="Draft")).to_be_checked()

    page.get_by_role("link", name=str(refund["number"]), exact=True).click()
    expect(page.get_by_role("heading", name=f"Customer refund {refund['number']}")).to_be_visible()
    lines = page.locator("#section-items").locator("xpath=..").locator("table")
    expect(lines.locator("tbody tr")).to_have_count(len(refund["items"]))
    total = sum(Decimal(item["amount"]) for item in refund["items"])
    footer = lines.locator("tfoot")
    expect(footer).to_contain_text(money(total, refund["currency_iso_4217_code"]))
    posting_date = page.locator(
        "dl.record-fields > div", has=page.get_by_text("Posting date", exact=True)
    )
    expect(posting_date).to_contain_text(refund["date"])
    # What the field means is said once, folded, not under the value.
    expect(posting_date).not_to_contain_text("general ledger")
    page.get_by_text("What these fields mean").click()
    expect(page.locator("details.field-help")).to_contain_text("general ledger")
    page.screenshot(path="/tmp/browse-refund-detail.png", full_page=True)


def test_a_dualentry_failure_while_filtering_shows_what_happened_in_place(
    page, log_in, viewer, sandbox_settings, sandbox
):
    log_in("viewer")
    page.goto("/refunds/")
    expect(page.locator("#records-table tbody tr").first).to_be_visible()
    sandbox.set_faults(status_for_path={"/public/v2/customer-refunds": 500})
    page.get_by_role("checkbox", name="Posted").check()
    error = page.locator("#records-table").get_by_role("alert")
    expect(error).to_contain_text("DualEntry had a problem on its side")
    expect(page.locator("#records-table tbody tr")).to_have_count(0)
    sandbox.clear_faults()
    error.get_by_role("link", name="Try again").click()
    page.wait_for_url("**record_status=posted**")
    expect(page.locator("#records-table tbody tr").first).to_contain_text("Posted")
