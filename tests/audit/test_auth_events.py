import datetime
import threading

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.test import Client

from portal.audit import actions
from portal.audit.models import AuditEvent, LoginFailureBurst

pytestmark = pytest.mark.django_db


def test_successful_login_writes_one_event_for_the_person(preparer):
    client = Client(REMOTE_ADDR="192.0.2.10")
    response = client.post("/accounts/login/", {"username": "preparer", "password": "demo"})
    assert response.status_code == 302
    event = AuditEvent.objects.get()
    assert event.action == actions.LOGIN
    assert event.actor == preparer
    assert event.success is True
    assert event.ip_address == "192.0.2.10"
    assert event.correlation_id == response["X-Request-ID"]


def test_failed_login_writes_a_failure_event_without_an_actor(preparer):
    response = Client().post("/accounts/login/", {"username": "preparer", "password": "wrong"})
    assert response.status_code == 200
    event = AuditEvent.objects.get()
    assert event.action == actions.LOGIN_FAILED
    assert event.actor is None
    assert event.success is False
    assert "preparer" in event.summary
    assert "wrong" not in event.summary + event.error  # the password typed is never kept


def test_logout_writes_one_event(login_as, preparer):
    client = login_as(preparer)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    event = AuditEvent.objects.get()
    assert event.action == actions.LOGOUT
    assert event.actor == preparer


def test_permission_denied_writes_a_failure_event(login_as, plain_user):
    response = login_as(plain_user).get("/audit/?kind=refunds")
    assert response.status_code == 403
    event = AuditEvent.objects.get()
    assert event.action == actions.PERMISSION_DENIED
    assert event.actor == plain_user
    assert event.success is False
    assert event.summary == "Refused GET /audit/?kind=refunds"


def test_incoming_request_id_becomes_the_correlation_id(preparer):
    response = Client().post(
        "/accounts/login/",
        {"username": "preparer", "password": "demo"},
        headers={"X-Request-ID": "lb-1234abcd"},
    )
    assert response["X-Request-ID"] == "lb-1234abcd"
    assert AuditEvent.objects.get().correlation_id == "lb-1234abcd"


def test_malformed_request_id_is_replaced(preparer):
    response = Client().get("/accounts/login/", headers={"X-Request-ID": "<script>"})
    assert response["X-Request-ID"] != "<script>"
    assert len(response["X-Request-ID"]) == 32


@pytest.fixture
def without_lockout(settings):
    """The audit side of failed log-ins, without django-axes answering 429 after five.

    Lock-out has its own tests (tests/core/test_security.py); here the point is what reaches
    the audit log when many failures arrive, so every attempt must get as far as the form.
    """
    settings.AXES_ENABLED = False


def _fail(client: Client, username: str = "preparer", times: int = 1) -> None:
    for _ in range(times):
        response = client.post("/accounts/login/", {"username": username, "password": "wrong"})
        assert response.status_code == 200


def test_a_locked_out_burst_still_writes_a_bounded_number_of_events(preparer):
    client = Client(REMOTE_ADDR="192.0.2.10")
    statuses = [
        client.post("/accounts/login/", {"username": "preparer", "password": "wrong"}).status_code
        for _ in range(40)
    ]
    assert statuses[0] == 200
    assert statuses[-1] == 429  # django-axes locked the account and the address
    assert AuditEvent.objects.filter(action=actions.LOGIN_FAILED).count() == 1
    assert AuditEvent.objects.count() <= 2


def _end_the_burst() -> None:
    """Move the open bursts back past the window, as if its minutes had passed."""
    window = datetime.timedelta(seconds=settings.AUDIT_LOGIN_FAILURE_WINDOW + 1)
    LoginFailureBurst.objects.update(
        opened_at=F("opened_at") - window, last_failed_at=F("last_failed_at") - window
    )


def test_forty_failed_logins_in_a_burst_are_one_event(preparer, without_lockout):
    _fail(Client(REMOTE_ADDR="192.0.2.10"), times=40)
    event = AuditEvent.objects.get()
    assert event.action == actions.LOGIN_FAILED
    assert event.ip_address == "192.0.2.10"
    assert "further failures in the next 15 minutes are counted" in event.summary
    assert LoginFailureBurst.objects.get().count == 40


def test_a_burst_after_the_window_writes_the_count_and_opens_a_new_event(preparer, without_lockout):
    client = Client(REMOTE_ADDR="192.0.2.10")
    _fail(client, times=40)
    _end_the_burst()
    _fail(client, times=3)
    opened, summary, reopened = AuditEvent.objects.order_by("sequence")
    assert summary.action == actions.LOGIN_FAILED_BURST
    assert summary.summary.startswith("40 failed log-ins for “preparer” from 192.0.2.10 between ")
    assert summary.ip_address == "192.0.2.10"
    assert summary.actor is None and summary.success is False
    assert (opened.action, reopened.action) == (actions.LOGIN_FAILED, actions.LOGIN_FAILED)
    assert LoginFailureBurst.objects.get().count == 3


def test_any_failed_login_closes_other_bursts_that_ended(preparer, approver, without_lockout):
    _fail(Client(REMOTE_ADDR="192.0.2.10"), times=5)
    _end_the_burst()
    _fail(Client(REMOTE_ADDR="198.51.100.7"), username="approver")
    written = list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))
    assert written == [actions.LOGIN_FAILED, actions.LOGIN_FAILED_BURST, actions.LOGIN_FAILED]


def test_each_username_and_address_is_its_own_burst(preparer, without_lockout):
    _fail(Client(REMOTE_ADDR="192.0.2.10"), times=3)
    _fail(Client(REMOTE_ADDR="192.0.2.11"), times=3)
    _fail(Client(REMOTE_ADDR="192.0.2.10"), username="someone-else", times=3)
    assert AuditEvent.objects.count() == 3
    assert sorted(LoginFailureBurst.objects.values_list("count", flat=True)) == [3, 3, 3]


def test_log_in_after_failures_writes_the_count_before_the_login(preparer, without_lockout):
    client = Client(REMOTE_ADDR="192.0.2.10")
    _fail(client, times=40)
    response = client.post("/accounts/login/", {"username": "preparer", "password": "demo"})
    assert response.status_code == 302
    _opened, summary, login = AuditEvent.objects.order_by("sequence")
    assert summary.action == actions.LOGIN_FAILED_BURST
    assert summary.summary.startswith("40 failed log-ins for “preparer” from 192.0.2.10")
    assert login.action == actions.LOGIN
    assert not LoginFailureBurst.objects.exists()


def test_a_single_failure_needs_no_summary(preparer, without_lockout):
    _fail(Client(REMOTE_ADDR="192.0.2.10"))
    _end_the_burst()
    _fail(Client(REMOTE_ADDR="192.0.2.10"))
    assert list(AuditEvent.objects.values_list("action", flat=True)) == [actions.LOGIN_FAILED] * 2


def test_someone_elses_log_in_closes_bursts_that_ended(preparer, approver):
    _fail(Client(REMOTE_ADDR="192.0.2.10"), times=4)
    _end_the_burst()
    Client(REMOTE_ADDR="198.51.100.7").post(
        "/accounts/login/", {"username": "approver", "password": "demo"}
    )
    written = list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))
    assert written == [actions.LOGIN_FAILED, actions.LOGIN_FAILED_BURST, actions.LOGIN]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's shared-cache test database refuses concurrent open write transactions",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_open_one_burst_and_count_every_attempt(preparer, without_lockout):
    threads, each = 8, 5
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def fail() -> None:
        try:
            start.wait()
            _fail(Client(REMOTE_ADDR="192.0.2.10"), times=each)
        except BaseException as err:
            errors.append(err)
        finally:
            connection.close()

    workers = [threading.Thread(target=fail) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert AuditEvent.objects.count() == 1
    assert LoginFailureBurst.objects.get().count == threads * each


def test_a_username_with_no_account_is_not_written_down(preparer, settings, without_lockout):
    """A password typed into the username field, or a guess of a secret, never lands in the
    append-only log, and nothing comes back "[redacted]" for someone to test guesses with."""
    settings.DUALENTRY_API_KEY = "key-under-test-5f2c"
    client = Client(REMOTE_ADDR="192.0.2.10")
    for typed in ("hunter2-typed-too-early", settings.DUALENTRY_API_KEY, "another-guess"):
        client.post("/accounts/login/", {"username": typed, "password": "wrong"})
    event = AuditEvent.objects.get()
    assert "(a username with no account)" in event.summary
    everything = " ".join(f"{e.summary} {e.error}" for e in AuditEvent.objects.all()) + " ".join(
        LoginFailureBurst.objects.values_list("username", flat=True)
    )
    assert "hunter2" not in everything
    assert settings.DUALENTRY_API_KEY not in everything
    assert "redacted" not in everything
    assert LoginFailureBurst.objects.get().count == 3  # unknown names share one burst
