"""Maker-checker in Chromium: a preparer drafts a refund and submits it; an approver reviews
the diff and approves; DualEntry has it posted; the audit log names both people."""

import re

import pytest
from playwright.sync_api import expect

from dualentry_api.client import get_client
from portal.readmodel.sync import sync_all_now
from tests.browser.htmx import form_rerendered

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("sandbox_settings")]


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    sandbox.reset()
    yield
    sandbox.reset()


def test_preparer_submits_a_refund_and_another_person_approves_it(
    page, log_in, preparer, approver, sandbox
):
    sync_all_now()  # the pickers read the customer's open credits from the read model
    # The preparer drafts a refund through the edit form.
    log_in("preparer")
    page.goto("/refunds/new/")
    # Choosing the company re-renders the form (htmx) with that company's choices.
    with form_rerendered(page):
        page.get_by_label("Company").select_option("1")
    # Choosing the customer re-renders the lines with the customer's open credits.
    with form_rerendered(page):
        page.get_by_label("Customer", exact=True).select_option("110")
    page.get_by_label("Bank account").select_option("11010")
    page.get_by_label("Memo").fill("Refund of credit 1018 (browser test)")
    # The credit picker: type to search, choose, and the amount is filled with what is left.
    row = page.locator("#items-0-row")
    with page.expect_response(re.compile(r"/refunds/new/pick/")):
        row.get_by_role("searchbox").first.fill("13,500")
    picker = page.locator("[name='items-0-customer_credit_number']")
    expect(picker.locator("option", has_text="Credit 1018")).to_have_count(1)
    expect(picker.locator("option", has_text="Credit 1026")).to_have_count(0)
    picker.select_option("1018")
    expect(page.locator("[name='items-0-amount']")).to_have_value("13500.40")
    page.locator("[name='items-0-amount']").fill("1,875.00")
    page.get_by_role("button", name="Save draft").last.click()
    expect(page).to_have_url(re.compile(r"/refunds/\d+/$"))
    key = re.search(r"/refunds/(\d+)/$", page.url).group(1)
    assert get_client().customer_refunds.get(key)["record_status"] == "draft"

    # ... and submits it for approval from the record's page.
    page.get_by_role("button", name="Submit for approval").click()
    expect(page).to_have_url(re.compile(r"/approvals/\d+/$"))
    expect(page.locator("#messages")).to_contain_text(f"Submitted customer refund {key}")
    expect(page.get_by_role("button", name="Approve and post…")).to_have_count(0)
    page.get_by_role("button", name="Log out").click()

    # The approver finds it waiting, sees what approval changes, and approves.
    log_in("approver")
    page.goto("/approvals/")
    waiting = page.locator("section", has=page.get_by_role("heading", name=re.compile("Waiting")))
    waiting.get_by_role("link", name=f"Customer refund {key}").click()
    diff = page.locator("section", has=page.get_by_role("heading", name="What approval changes"))
    expect(diff.get_by_text("Posts the customer refund in DualEntry.")).to_be_visible()
    expect(diff.locator("del.diff-old")).to_be_hidden()  # the raw values are folded away
    diff.get_by_text("Raw values (API field names and values)").click()
    expect(diff.locator("del.diff-old")).to_have_text("draft")
    expect(diff.locator("ins.diff-new")).to_have_text("posted")
    expect(page.get_by_text("Refund of credit 1018 (browser test)")).to_be_visible()
    page.get_by_role("textbox", name="Comment (required to reject)").fill("Checked the credit.")
    page.get_by_role("button", name="Approve and post…").click()
    # A confirmation restates what will be posted; only its button posts.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Approve and post")
    expect(page.get_by_text("This is the only approval needed")).to_be_visible()
    expect(page.locator("main")).to_contain_text("1,875.00")
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/", "PUT") == 0
    page.get_by_role("button", name="Yes, approve and post").click()
    expect(page.locator("#messages")).to_contain_text("now applied in DualEntry")
    expect(page.locator("h1 .badge")).to_have_text("Posted")

    refund = get_client().customer_refunds.get(key)
    assert refund["record_status"] == "posted"
    assert refund["memo"] == "Refund of credit 1018 (browser test)"
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/", "PUT") == 1

    # The audit log shows both people.
    page.goto(f"/audit/?kind=refunds&key={key}")
    table = page.locator("#audit-table")
    expect(table).to_contain_text("Submitted for approval")
    expect(table).to_contain_text("Approved")
    expect(table).to_contain_text("Posted")
    expect(table.get_by_text("preparer", exact=True).first).to_be_visible()
    expect(table.get_by_text("approver", exact=True).first).to_be_visible()
