"""Error pages in the portal's layout with a way back, also with DEBUG on for the demo, where
Django would show its technical 404 (with every URL pattern) instead."""

import pytest
from django.test import Client

from portal import selectors
from portal.errors import server_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    settings.PORTAL_FRIENDLY_404 = True
    return settings


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _portals_404(user, path: str) -> str:
    """The page at `path` for `user`, checked to be the portal's own 404: its heading and the
    way back. Returns its HTML for what else the test expects."""
    response = _client(user).get(path)
    html = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in html
    assert "Back to the dashboard" in html
    return html


def test_unknown_address_with_debug_on_shows_the_portals_404(debug, viewer):
    html = _portals_404(viewer, "/no-such-page/")
    assert 'class="site-nav"' in html
    assert "URLconf" not in html  # not Django's technical page listing the URL patterns


def test_missing_record_with_debug_on_shows_the_portals_404_with_its_sentence(debug, viewer):
    html = _portals_404(viewer, "/approvals/999999/")
    assert "Raised by" not in html


def test_real_exceptions_keep_djangos_debug_page(debug, viewer, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the dashboard broke")

    monkeypatch.setattr(selectors, "dashboard_context", broken)
    response = _client(viewer).get("/")
    assert response.status_code == 500
    assert b"the dashboard broke" in response.content  # Django's technical 500 page


def test_the_flag_off_leaves_djangos_technical_404(debug, viewer):
    debug.PORTAL_FRIENDLY_404 = False
    response = _client(viewer).get("/no-such-page/")
    assert response.status_code == 404
    assert b"URLconf" in response.content


def test_missing_slash_still_redirects_with_debug_on(debug, viewer):
    response = _client(viewer).get("/audit")
    assert response.status_code == 301
    assert response["Location"] == "/audit/"


def test_server_error_page_is_in_the_portal_layout_without_a_request(rf):
    response = server_error(rf.get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "css/portal.css" in html
    assert "Back to the dashboard" in html
    assert "style=" not in html


def test_forbidden_page_has_a_way_back(login_as, viewer):
    response = login_as(viewer).get("/refunds/new/")
    assert response.status_code == 403
    assert b"Back to the dashboard" in response.content
