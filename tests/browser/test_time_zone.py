"""First log-in: the browser tells the portal its time zone once, and times show in it."""

import pytest
from playwright.sync_api import expect

from portal.models import UserProfile

pytestmark = pytest.mark.browser


def test_first_log_in_takes_the_browsers_time_zone(browser, live_server, preparer):
    context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Tokyo")
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("preparer")
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        assert UserProfile.objects.get(user=preparer).time_zone == "Asia/Tokyo"
        page.goto("/profile/")
        expect(page.get_by_label("Time zone")).to_have_value("Asia/Tokyo")
        expect(page.locator("footer")).to_contain_text("Times in Asia/Tokyo")
    finally:
        context.close()
