"""A preparer creates a refund with two lines in Chromium: a validation error comes back onto
the line, they correct it, save, and land on the new draft."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.htmx import form_rerendered

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open_credits_of(sandbox, company_id: int, customer_id: int) -> list[int]:
    """Posted credits of the customer with enough left for the lines (the money rules)."""
    credits = sandbox.store.collection("customer-credits").values()
    return sorted(
        credit["number"]
        for credit in credits
        if credit["company_id"] == company_id
        and credit["customer_id"] == customer_id
        and credit["record_status"] == "posted"
        and float(credit["remaining_amount"]) >= 11
    )


def test_preparer_creates_a_refund_after_fixing_a_validation_error(
    page, log_in, preparer, sandbox_settings, sandbox
):
    sandbox.reset()
    # The read model is empty here: the credit fields are number boxes (the picker's fallback).
    credit_one, credit_two = _open_credits_of(sandbox, 1, 101)[:2]
    log_in("preparer")
    page.goto("/refunds/new/")
    expect(page.get_by_role("heading", name="New customer refund draft")).to_be_visible()

    # Choosing the company re-renders the dependent lists (htmx) and fills in its currency.
    with form_rerendered(page):
        page.get_by_label("Company", exact=True).select_option(label="Northwind Analytics Inc.")
    expect(page.get_by_label("Currency", exact=True)).to_have_value("USD")
    bank_accounts = page.get_by_label("Bank account", exact=True).locator("option")
    expect(bank_accounts.filter(has_text="21000")).to_have_count(0)
    # Choosing the customer re-renders the lines with the customer's credits (htmx).
    with form_rerendered(page):
        page.get_by_label("Customer", exact=True).select_option(value="101")
    page.get_by_label("Bank account", exact=True).select_option(value="11000")
    page.get_by_label("Memo", exact=True).fill("Refund of two overpaid credits")

    page.get_by_label("Line 1: Credit", exact=True).fill(str(credit_one))
    page.get_by_label("Line 1: Amount").fill("10.505")  # three decimals: refused
    page.get_by_label("Line 2: Credit", exact=True).fill(str(credit_two))
    page.get_by_label("Line 2: Amount").fill("4.25")
    page.get_by_role("button", name="Add a line").click()
    expect(page.get_by_label("Line 3: Amount")).to_be_visible()  # a third row, via htmx
    expect(page.locator("#running-total")).to_have_text("4.25")

    page.get_by_role("button", name="Save draft").last.click()
    error = page.locator("td.has-error").filter(has=page.get_by_label("Line 1: Amount"))
    expect(error).to_contain_text("Amount: use at most 2 decimal places")
    expect(page.get_by_role("alert")).to_contain_text("The form has errors")
    # Nothing typed was lost.
    expect(page.get_by_label("Memo", exact=True)).to_have_value("Refund of two overpaid credits")
    expect(page.get_by_label("Line 2: Amount")).to_have_value("4.25")

    # The input is still unsaved: leaving the page asks first.
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Refunds").click()
    expect(page.get_by_label("Line 2: Amount")).to_have_value("4.25")
    assert dialogs == ["beforeunload"]

    page.get_by_label("Line 1: Amount").fill("10.50")
    page.get_by_role("button", name="Save draft").last.click()
    page.wait_for_url(re.compile(r"/refunds/\d+/$"))
    expect(page.get_by_text(re.compile(r"Draft customer refund \d+ saved\."))).to_be_visible()
    heading = page.get_by_role("heading", name=re.compile(r"Customer refund \d+"))
    expect(heading).to_contain_text("Draft")
    number = int(re.search(r"/refunds/(\d+)/$", page.url)[1])
    stored = sandbox.store.get("customer-refunds", number)
    assert stored["record_status"] == "draft"
    assert [item["amount"] for item in stored["items"]] == ["10.50", "4.25"]
    page.screenshot(path="/tmp/edit-refund-saved.png", full_page=True)
