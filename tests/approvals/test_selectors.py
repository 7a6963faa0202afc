"""The reads other areas rely on: the open request of a record, the lock, the queue."""

import pytest
from django.db import IntegrityError, transaction

from portal.approvals import selectors
from portal.approvals.models import ApprovalDecision, ApprovalRequest


def _request(user, *, key="CR-1", state=ApprovalRequest.State.SUBMITTED, **fields):
    return ApprovalRequest.objects.create(
        type=ApprovalRequest.Type.POST_DRAFT,
        kind="refunds",
        key=key,
        state=state,
        payload={"memo": "x"},
        payload_hash="0" * 64,
        submitted_by=user,
        **fields,
    )


@pytest.mark.django_db
def test_open_request_locks_the_record_until_it_is_decided(preparer):
    assert selectors.is_locked(kind="refunds", key="CR-1") is False
    assert selectors.open_request_for(kind="refunds", key="CR-1") is None
    approval_request = _request(preparer)
    assert selectors.is_locked(kind="refunds", key="CR-1") is True
    assert selectors.open_request_for(kind="refunds", key="CR-1") == approval_request
    assert selectors.is_locked(kind="deposits", key="CR-1") is False
    for state in ("post_failed", "posting", "approved"):
        ApprovalRequest.objects.filter(pk=approval_request.pk).update(state=state)
        assert selectors.is_locked(kind="refunds", key="CR-1") is True
    for state in ("posted", "rejected", "withdrawn"):
        ApprovalRequest.objects.filter(pk=approval_request.pk).update(state=state)
        assert selectors.is_locked(kind="refunds", key="CR-1") is False
        assert selectors.open_request_for(kind="refunds", key="CR-1") is None


@pytest.mark.django_db
def test_database_refuses_a_second_open_request_for_one_record(preparer):
    _request(preparer)
    with pytest.raises(IntegrityError), transaction.atomic():
        _request(preparer)
    _request(preparer, state=ApprovalRequest.State.REJECTED)  # closed ones may pile up
    _request(preparer, key="CR-2")


@pytest.mark.django_db
def test_waiting_for_excludes_own_and_already_decided_requests(
    preparer, approver, approver2, admin_user, viewer
):
    own = _request(admin_user, key="CR-1")
    other = _request(preparer, key="CR-2", required_approvals=2)
    _request(preparer, key="CR-3", state=ApprovalRequest.State.POSTED)
    assert list(selectors.waiting_for(user=approver)) == [own, other]
    assert list(selectors.waiting_for(user=admin_user)) == [other]
    assert list(selectors.waiting_for(user=preparer)) == []
    assert list(selectors.waiting_for(user=viewer)) == []
    ApprovalDecision.objects.create(
        approval_request=other, approver=approver, decision="approve", payload_hash="0" * 64
    )
    assert list(selectors.waiting_for(user=approver)) == [own]
    assert list(selectors.waiting_for(user=approver2)) == [own, other]
