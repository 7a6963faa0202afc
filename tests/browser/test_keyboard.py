"""Keyboard only: focus goes where the work is (the error summary after a failed save, the new
line after "Add a line"), the focus ring is visible (3:1 or better), and the preparer's and the
approver's journeys are done with Tab and Enter alone."""

import re

import pytest
from playwright.sync_api import expect

from dualentry_api.client import get_client
from tests.browser.htmx import form_rerendered
from tests.browser.test_every_page import _draft_refund

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("sandbox_settings")]

MAX_TABS = 120


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    sandbox.reset()
    yield
    sandbox.reset()


def tab_to(page, target, *, max_tabs: int = MAX_TABS) -> None:
    """Press Tab until `target` (a locator) has the focus, as a keyboard user would."""
    handle = target.element_handle()
    for _ in range(max_tabs):
        page.keyboard.press("Tab")
        if page.evaluate("(element) => document.activeElement === element", handle):
            return
    raise AssertionError(f"{target} was not reached with {max_tabs} presses of Tab")


def _relative_luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        value = value / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(value) for value in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _contrast(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    lighter, darker = sorted((_relative_luminance(first), _relative_luminance(second)))[::-1]
    return (lighter + 0.05) / (darker + 0.05)


def _rgb(css: str) -> tuple[int, int, int]:
    red, green, blue = (int(part) for part in re.findall(r"\d+", css)[:3])
    return red, green, blue


def test_focus_ring_is_at_least_3_to_1_against_the_page(page, log_in, preparer):
    log_in("preparer")
    page.goto("/refunds/")
    link = page.locator("main a").first
    tab_to(page, link)
    outline = link.evaluate(
        "(element) => { const style = getComputedStyle(element);"
        " return [style.outlineStyle, style.outlineWidth, style.outlineColor]; }"
    )
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert outline[0] == "solid"
    assert float(outline[1].removesuffix("px")) >= 2
    assert _contrast(_rgb(outline[2]), _rgb(background)) >= 3
    assert _contrast(_rgb(outline[2]), (255, 255, 255)) >= 3  # on cards too


def test_failed_save_moves_focus_to_the_error_summary(page, log_in, preparer):
    log_in("preparer")
    page.goto("/refunds/new/")
    with form_rerendered(page):
        page.get_by_label("Company", exact=True).select_option("1")
    page.get_by_label("Line 1: Amount").fill("10.505")  # three decimals: refused
    page.get_by_label("Line 1: Amount").press("Enter")
    summary = page.locator("#form-problem")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("The form has errors")


def test_add_a_line_moves_focus_to_the_new_lines_first_field(page, log_in, preparer):
    log_in("preparer")
    page.goto("/refunds/new/")
    rows = page.locator("tr.item-row")
    before = rows.count()
    button = page.get_by_role("button", name="Add a line")
    tab_to(page, button)
    page.keyboard.press("Enter")
    expect(rows).to_have_count(before + 1)
    first_field = rows.nth(before).locator("input:not([type=hidden]), select").first
    expect(first_field).to_be_focused()


def test_preparer_and_approver_journeys_with_the_keyboard_alone(page, log_in, preparer, approver):
    key = _draft_refund()
    log_in("preparer")
    page.goto(f"/refunds/{key}/")
    tab_to(page, page.get_by_role("link", name="Edit draft"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/refunds/{key}/edit/$"))
    memo = page.get_by_label("Memo", exact=True)
    tab_to(page, memo)
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Edited with the keyboard alone")
    tab_to(page, page.get_by_role("button", name="Save draft").last)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/refunds/{key}/$"))
    tab_to(page, page.get_by_role("button", name="Submit for approval"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/approvals/\d+/$"))
    request_url = page.url
    page.get_by_role("button", name="Log out").click()

    log_in("approver")
    page.goto(request_url)
    tab_to(page, page.get_by_role("button", name="Approve and post"))
    page.keyboard.press("Enter")
    # The confirmation step restates what will be posted; only its button approves.
    tab_to(page, page.get_by_role("button", name="Yes, approve and post"))
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text("now applied in DualEntry")
    refund = get_client().customer_refunds.get(key)
    assert refund["record_status"] == "posted"
    assert refund["memo"] == "Edited with the keyboard alone"
