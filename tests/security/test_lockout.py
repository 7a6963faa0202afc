"""Log-in throttling (django-axes): per username and per client address."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

LIMIT = 3
LOCKED = "Too many failed log-ins"


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def _log_in(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def _fail(times: int, *, username: str = "preparer", address: str = "192.0.2.10") -> None:
    client = Client(REMOTE_ADDR=address)
    for _ in range(times):
        _log_in(client, username, "wrong")


def test_wrong_passwords_lock_the_account_even_for_the_right_password(preparer):
    client = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(LIMIT - 1):
        assert _log_in(client, "preparer", "wrong").status_code == 200

    last_wrong = _log_in(client, "preparer", "wrong")
    assert last_wrong.status_code == 429
    assert LOCKED in last_wrong.content.decode()

    right = _log_in(client, "preparer", "demo")
    assert right.status_code == 429
    page = right.content.decode()
    assert LOCKED in page
    assert "Try again in 15 minutes" in page
    assert 'role="alert"' in page
    assert "_auth_user_id" not in client.session


def test_a_locked_username_is_locked_from_every_address(preparer):
    _fail(LIMIT, address="192.0.2.10")
    response = _log_in(Client(REMOTE_ADDR="198.51.100.7"), "preparer", "demo")
    assert response.status_code == 429


def test_an_address_that_guessed_many_usernames_is_locked_for_all(preparer):
    for name in ("alice", "bob", "carol"):
        _fail(1, username=name, address="192.0.2.66")
    assert _log_in(Client(REMOTE_ADDR="192.0.2.66"), "preparer", "demo").status_code == 429
    # Someone else, elsewhere, logs in as usual.
    assert _log_in(Client(REMOTE_ADDR="198.51.100.7"), "preparer", "demo").status_code == 302


def test_the_lock_ends_after_the_cool_off(preparer):
    _fail(LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = _log_in(Client(REMOTE_ADDR="192.0.2.10"), "preparer", "demo")
    assert response.status_code == 302


def test_an_administrator_unlocks_a_username_with_the_documented_command(preparer):
    _fail(LIMIT)
    assert _log_in(Client(REMOTE_ADDR="192.0.2.10"), "preparer", "demo").status_code == 429
    call_command("axes_reset_username", "preparer")
    assert _log_in(Client(REMOTE_ADDR="192.0.2.10"), "preparer", "demo").status_code == 302


def test_failures_below_the_limit_are_forgotten_after_a_successful_log_in(preparer):
    _fail(LIMIT - 1)
    assert _log_in(Client(REMOTE_ADDR="192.0.2.10"), "preparer", "demo").status_code == 302
    _fail(LIMIT - 1)
    assert _log_in(Client(REMOTE_ADDR="192.0.2.10"), "preparer", "demo").status_code == 302


def test_the_lock_follows_the_audit_logs_client_address_behind_a_proxy(settings, preparer):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for guess in range(LIMIT):
        Client(**proxy, HTTP_X_FORWARDED_FOR="192.0.2.66").post(
            "/accounts/login/", {"username": f"guess{guess}", "password": "x"}
        )
    locked = Client(**proxy, HTTP_X_FORWARDED_FOR="192.0.2.66")
    assert _log_in(locked, "preparer", "demo").status_code == 429
    # Everyone else behind the same proxy is not locked out with the guesser.
    other = Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert _log_in(other, "preparer", "demo").status_code == 302
