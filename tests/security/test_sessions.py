"""Session lifetime (portal/middleware.py): idle timeout, absolute lifetime, rotation at log-in."""

import pytest
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.test import Client

from portal import middleware

pytestmark = pytest.mark.django_db

MINUTE = 60
T0 = 1_800_000_000.0


@pytest.fixture
def clock(monkeypatch):
    """A fake clock for the session rules: `clock.now = ...`."""

    class Clock:
        now = T0

    fake = Clock()
    monkeypatch.setattr(middleware, "now", lambda: fake.now)
    return fake


@pytest.fixture
def signed_in(preparer, clock) -> Client:
    client = Client()
    client.post("/accounts/login/", {"username": "preparer", "password": "demo"})
    assert client.get("/").status_code == 200
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_log_in_rotates_the_session_key(preparer):
    client = Client()
    session = client.session
    session["planted"] = "before log-in"
    session.save()
    planted_key = session.session_key

    response = client.post("/accounts/login/", {"username": "preparer", "password": "demo"})

    assert response.status_code == 302
    new_key = client.cookies["sessionid"].value
    assert new_key != planted_key
    assert not Session.objects.filter(session_key=planted_key).exists()
    assert client.session["_auth_user_id"] == str(preparer.pk)


def test_activity_keeps_the_session_alive(signed_in, clock):
    for _ in range(5):
        clock.now += 25 * MINUTE
        assert signed_in.get("/").status_code == 200


def test_thirty_idle_minutes_sign_the_person_out_with_a_reason(signed_in, clock):
    clock.now += 30 * MINUTE + 1
    response = signed_in.get("/approvals/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/approvals/")
    assert "_auth_user_id" not in signed_in.session
    assert _messages(response) == [
        "You were signed out after 30 minutes without activity. Sign in again."
    ]


def test_the_session_ends_after_twelve_hours_even_when_active(signed_in, clock):
    for _ in range(12 * 60 // 20):
        clock.now += 20 * MINUTE
        signed_in.get("/")
    clock.now += 20 * MINUTE
    response = signed_in.get("/")
    assert response.status_code == 302
    assert "at most 12 hours" in _messages(response)[0]


def test_the_limits_are_configurable(settings, signed_in, clock):
    settings.SESSION_IDLE_TIMEOUT = 5 * MINUTE
    clock.now += 5 * MINUTE + 1
    assert signed_in.get("/").status_code == 302


def test_asking_how_long_is_left_does_not_count_as_activity(signed_in, clock):
    clock.now += 10 * MINUTE
    status = signed_in.get("/session/").json()
    assert status == {"authenticated": True, "remaining": 20 * MINUTE, "extendable": True}
    clock.now += 10 * MINUTE
    assert signed_in.get("/session/").json()["remaining"] == 10 * MINUTE


def test_stay_signed_in_restarts_the_idle_clock(signed_in, clock):
    clock.now += 29 * MINUTE
    extended = signed_in.post("/session/extend/").json()
    assert extended["remaining"] == 30 * MINUTE
    clock.now += 29 * MINUTE
    assert signed_in.get("/").status_code == 200


def test_near_the_absolute_limit_staying_signed_in_cannot_help(settings, signed_in, clock):
    settings.SESSION_ABSOLUTE_TIMEOUT = 40 * MINUTE
    clock.now += 15 * MINUTE
    signed_in.get("/")
    clock.now += 5 * MINUTE
    # Idle: 25 minutes left; absolute: 20, and activity cannot move that.
    assert signed_in.get("/session/").json() == {
        "authenticated": True,
        "remaining": 20 * MINUTE,
        "extendable": False,
    }


def test_an_htmx_request_after_the_timeout_is_sent_to_the_log_in_page(signed_in, clock):
    clock.now += 31 * MINUTE
    response = signed_in.get("/approvals/", headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == "/accounts/login/"


def test_pages_carry_the_warning_settings_for_the_script(signed_in, clock):
    page = signed_in.get("/").content.decode()
    assert 'data-session-idle="1800"' in page
    assert 'data-session-left="1800"' in page
    assert 'data-session-warning="60"' in page
    assert "js/session.js" in page
