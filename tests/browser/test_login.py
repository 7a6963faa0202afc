import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_preparer_logs_in_and_sees_the_dashboard(page, log_in, preparer):
    log_in("preparer")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".who-role")).to_have_text("Preparer")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard")
    ).to_be_visible()


def test_wrong_password_keeps_the_user_on_the_login_page(page, preparer):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("preparer")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
