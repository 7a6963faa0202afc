import pytest
from django.test import RequestFactory

from portal.audit import actions
from portal.audit.models import GENESIS_HASH, AuditEvent, AuditLogImmutable
from portal.audit.selectors import chain_verify, events_for_record, recent_events
from portal.audit.services import REDACTED, audit_record, client_ip

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("action", list(actions.ACTION_LABELS))
def test_each_action_writes_exactly_one_event_with_actor_and_diff(preparer, action):
    event = audit_record(
        actor=preparer,
        action=action,
        kind="refunds",
        key="1042",
        company_id=3,
        summary="Memo changed",
        before={"memo": "Old memo", "amount": "10.00"},
        after={"memo": "New memo", "amount": "10.00"},
    )
    assert AuditEvent.objects.count() == 1
    stored = AuditEvent.objects.get()
    assert stored.pk == event.pk
    assert stored.action == action
    assert stored.actor == preparer
    assert stored.actor_username == "preparer"
    assert (stored.kind, stored.key, stored.company_id) == ("refunds", "1042", 3)
    assert stored.changes == {"memo": ["Old memo", "New memo"]}
    assert stored.success is True
    assert stored.sequence == 1 and stored.prev_hash == GENESIS_HASH


def test_failed_upstream_write_is_recorded_with_its_error_and_call(preparer):
    audit_record(
        actor=preparer,
        action=actions.SAVE_FAILED,
        kind="refunds",
        key="1042",
        summary="Saving customer refund 1042 failed",
        after={"memo": "New memo"},
        upstream={
            "method": "put",
            "path": "/public/v2/customer-refunds/1042/",
            "status": 422,
            "duration_ms": 123.6,
            "request_id": "req-abc",
        },
        success=False,
        error="Amount: must be positive.",
    )
    event = AuditEvent.objects.get()
    assert event.success is False
    assert event.error == "Amount: must be positive."
    assert (event.upstream_method, event.upstream_path) == (
        "PUT",
        "/public/v2/customer-refunds/1042/",
    )
    assert (event.upstream_status, event.upstream_duration_ms) == (422, 124)
    assert event.upstream_request_id == "req-abc"


def test_upstream_may_be_an_error_object(preparer):
    class Failure:
        method, path, status, duration_ms, request_id = "POST", "/x/", 500, 5.0, "r1"

    event = audit_record(actor=preparer, action=actions.POST_FAILED, upstream=Failure())
    assert (event.upstream_method, event.upstream_status, event.upstream_request_id) == (
        "POST",
        500,
        "r1",
    )


def test_explicit_changes_are_stored_as_given(approver):
    event = audit_record(
        actor=approver, action=actions.APPROVED, changes={"status": ["submitted", "approved"]}
    )
    assert event.changes == {"status": ["submitted", "approved"]}


def test_api_key_is_scrubbed_everywhere(settings, preparer):
    settings.DUALENTRY_API_KEY = "secret-key-123"
    event = audit_record(
        actor=preparer,
        action=actions.SAVE_FAILED,
        summary="sent with secret-key-123",
        error="header X-API-KEY: secret-key-123",
        changes={"memo": ["secret-key-123", "x"], "secret-key-123": {"nested": ["secret-key-123"]}},
        upstream={"path": "/p?key=secret-key-123", "request_id": "secret-key-123"},
        success=False,
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    text = repr(
        [
            stored.summary,
            stored.error,
            stored.changes,
            stored.upstream_path,
            stored.upstream_request_id,
        ]
    )
    assert "secret-key-123" not in text
    assert REDACTED in stored.summary and REDACTED in stored.error


def test_events_chain_each_to_the_previous(preparer):
    first = audit_record(actor=preparer, action=actions.RECORD_CREATED)
    second = audit_record(actor=preparer, action=actions.SUBMITTED)
    assert (first.sequence, second.sequence) == (1, 2)
    assert second.prev_hash == first.hash
    assert second.hash == second.compute_hash()
    assert chain_verify().ok


def test_anonymous_actor_is_stored_as_nobody(rf: RequestFactory):
    from django.contrib.auth.models import AnonymousUser

    event = audit_record(actor=AnonymousUser(), action=actions.LOGIN_FAILED, success=False)
    assert event.actor is None and event.actor_username == "" and event.actor_pk is None


def test_unknown_action_name_is_refused(preparer):
    with pytest.raises(ValueError):
        audit_record(actor=preparer, action="Record Updated!")
    assert AuditEvent.objects.count() == 0


def test_request_supplies_ip_and_one_correlation_id_per_request(rf: RequestFactory, preparer):
    request = rf.post("/refunds/1/edit/", REMOTE_ADDR="10.1.2.3")
    first = audit_record(actor=preparer, action=actions.RECORD_UPDATED, request=request)
    second = audit_record(actor=preparer, action=actions.SUBMITTED, request=request)
    other = audit_record(actor=preparer, action=actions.SUBMITTED, request=rf.get("/"))
    assert first.ip_address == "10.1.2.3"
    assert first.correlation_id and first.correlation_id == second.correlation_id
    assert other.correlation_id != first.correlation_id


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(rf: RequestFactory, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.9"  # what our proxy saw, not what the client sent
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "6.6.6.6"


def test_unparseable_address_is_stored_as_unknown(rf: RequestFactory):
    assert client_ip(rf.get("/", REMOTE_ADDR="not-an-ip")) is None


def test_events_cannot_be_changed_or_removed_through_the_orm(preparer):
    event = audit_record(actor=preparer, action=actions.RECORD_CREATED, summary="original")
    event.summary = "rewritten"
    with pytest.raises(AuditLogImmutable):
        event.save()
    with pytest.raises(AuditLogImmutable):
        event.delete()
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.filter(pk=event.pk).update(summary="rewritten")
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.bulk_update([event], ["summary"])
    assert AuditEvent.objects.get().summary == "original"


def test_events_cannot_be_written_around_the_service():
    with pytest.raises(AuditLogImmutable):
        AuditEvent(sequence=1, action="login").save()


def test_deleting_a_person_keeps_their_events_and_the_chain(preparer):
    audit_record(actor=preparer, action=actions.RECORD_CREATED)
    preparer.delete()
    event = AuditEvent.objects.get()
    assert event.actor is None
    assert event.actor_username == "preparer"
    assert chain_verify().ok


def test_record_history_and_recent_events(preparer, approver):
    audit_record(actor=preparer, action=actions.RECORD_CREATED, kind="refunds", key="7")
    audit_record(actor=preparer, action=actions.RECORD_CREATED, kind="refunds", key="8")
    approved = audit_record(actor=approver, action=actions.APPROVED, kind="refunds", key="7")
    history = events_for_record(kind="refunds", key="7")
    assert [event.action for event in history] == [actions.APPROVED, actions.RECORD_CREATED]
    assert recent_events(limit=1) == [approved]
    assert [event.key for event in recent_events(user=preparer)] == ["8", "7"]
