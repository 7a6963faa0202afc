"""The idle-timeout warning in Chromium (static/js/session.js), with the limits shortened."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def short_sessions(settings):
    settings.SESSION_IDLE_TIMEOUT = 10
    settings.SESSION_WARNING_BEFORE = 6


def test_the_warning_lets_the_person_stay_signed_in_and_otherwise_signs_them_out(
    page, log_in, preparer, short_sessions
):
    log_in("preparer")
    warning = page.get_by_role("alertdialog", name="Session ending")
    expect(warning).to_be_visible(timeout=10_000)
    expect(warning).to_contain_text("You will be signed out in")

    page.get_by_role("button", name="Stay signed in").click()
    expect(warning).to_be_hidden()
    status = page.request.get("/session/").json()
    assert status["authenticated"] is True
    assert status["remaining"] >= 8

    # Nobody answers the next warning: the page goes to the log-in page, saying why.
    expect(warning).to_be_visible(timeout=10_000)
    page.wait_for_url("**/accounts/login/**", timeout=15_000)
    expect(page.locator("#messages")).to_contain_text("signed out after")
    expect(page.locator("#messages")).to_contain_text("without activity")
