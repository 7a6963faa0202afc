"""The Content-Security-Policy is on (tests run with DEBUG off, as production) and the main
pages, with their htmx interactions, run without a single violation."""

import pytest
from playwright.sync_api import expect

from tests.browser.htmx import form_rerendered

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _draft_refund_key(sandbox) -> int:
    refunds = sandbox.store.collection("customer-refunds").values()
    return min(
        refund["number"]
        for refund in refunds
        if refund["record_status"] == "draft" and refund["items"]
    )


def test_main_pages_run_under_the_policy_without_violations(
    page, log_in, preparer, filled, csp_violations
):
    key = _draft_refund_key(filled)
    response = page.goto("/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    log_in("preparer")

    pages = {
        "dashboard": "/",
        "list": "/refunds/",
        "detail": f"/refunds/{key}/",
        "edit form": f"/refunds/{key}/edit/",
        "new form": "/refunds/new/",
        "drafts": "/drafts/",
        "search": "/search/?q=a",
        "approvals": "/approvals/",
        "audit": "/audit/",
    }
    for name, url in pages.items():
        answer = page.goto(url)
        assert answer.status == 200, name
        assert "content-security-policy" in answer.headers, name
        page.wait_for_load_state("networkidle")
        assert csp_violations() == [], name

    # htmx at work: filtering the list swaps the table, the form adds a line.
    page.goto("/refunds/")
    with page.expect_response(lambda answer: "status=draft" in answer.url):
        page.get_by_role("checkbox", name="Draft").check()
    page.goto("/refunds/new/")
    with form_rerendered(page):
        page.get_by_label("Company", exact=True).select_option("1")
    page.get_by_role("button", name="Add a line").click()
    expect(page.get_by_label("Line 3: Amount")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert csp_violations() == []
