import pytest
from django.test import Client

from portal.audit import actions
from portal.audit.models import AuditEvent

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
