"""Browsing refunds in Chromium: filter by status and customer, open one, read its lines."""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

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


def test_viewer_filters_refunds_live_sorts_them_and_exports_exactly_the_rows_shown(
    page, log_in, viewer, filled
):
    refund = _draft_refund_with_lines(filled)
    log_in("viewer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Refunds").click()
    expect(page.get_by_role("heading", name="Customer refunds")).to_be_visible()

    page.get_by_role("checkbox", name="Draft").check()
    page.wait_for_url("**status=draft**")
    # The customer picker: type part of the name, tick the match.
    page.get_by_role("searchbox", name="Customer").fill(refund["customer_name"][:6])
    match = page.locator(".picker-options").get_by_role("checkbox", name=refund["customer_name"])
    match.check()
    page.wait_for_url(f"**customer={refund['customer_id']}**")
    rows = page.locator("#records-table table.records-table tbody tr")
    expect(rows.first).to_be_visible()
    for index in range(rows.count()):
        expect(rows.nth(index)).to_contain_text(refund["customer_name"])
        expect(rows.nth(index)).to_contain_text("Draft")

    # Sort by amount (largest first), then reverse it: the header says which.
    header = page.locator("#records-table th", has=page.get_by_role("link", name="Amount"))
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    page.wait_for_url("**sort=amount**")

    # The export link followed the live changes: the file holds exactly the rows shown.
    shown = [text.strip() for text in rows.locator("th[scope=row]").all_inner_texts()]
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert "status-draft" in download.value.suggested_filename
    body = Path(download.value.path()).read_text(encoding="utf-8-sig")
    exported = [row[0] for row in list(csv.reader(io.StringIO(body)))[1:]]
    assert exported == shown
    assert len(shown) >= 1

    page.reload()  # the pushed URL renders the same view without htmx
    expect(page.get_by_role("checkbox", name=refund["customer_name"])).to_be_checked()
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


def test_lists_keep_answering_from_the_copy_while_dualentry_fails(page, log_in, viewer, filled):
    log_in("viewer")
    page.goto("/refunds/")
    expect(page.locator("#records-table table.records-table tbody tr").first).to_be_visible()
    filled.set_faults(status_for_path={"/public/v2/": 500})
    page.get_by_role("checkbox", name="Posted").check()
    page.wait_for_url("**status=posted**")
    rows = page.locator("#records-table table.records-table tbody tr")
    expect(rows.first).to_contain_text("Posted")
    assert filled.requests_log == []


def test_slash_focuses_the_global_search_and_arrows_walk_the_results(page, log_in, viewer, filled):
    refund = _draft_refund_with_lines(filled)
    log_in("viewer")
    page.goto("/refunds/")
    page.keyboard.press("/")
    box = page.get_by_role("searchbox", name="Search all records")
    expect(box).to_be_focused()
    box.fill(str(refund["number"]))
    results = page.locator("#global-search-results")
    expect(results.get_by_role("link", name=str(refund["number"])).first).to_be_visible()
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.closest('#global-search-results') !== null")
    assert focused
    page.keyboard.press("Enter")
    expect(
        page.get_by_role("heading", name=re.compile(r"Customer refunds|Customer refund"))
    ).to_be_visible()
