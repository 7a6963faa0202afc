"""Two approvers clicking at the same moment: one approval counts, one PUT reaches DualEntry.

Real threads with their own database connections (transactional tests), on SQLite and on
PostgreSQL (DATABASE_URL=postgres://...).
"""

import threading

import pytest
from django.db import connection

from portal.approvals import services
from portal.approvals.models import ApprovalRequest

pytestmark = pytest.mark.django_db(transaction=True)

State = ApprovalRequest.State


def _race(approval_request: ApprovalRequest, users: list) -> list:
    """Call approval_approve for each user in its own thread, released together."""
    barrier = threading.Barrier(len(users))
    outcomes: list = [None] * len(users)

    def approve(index: int, user) -> None:
        try:
            request_copy = ApprovalRequest.objects.get(pk=approval_request.pk)
            barrier.wait(timeout=10)
            outcomes[index] = services.approval_approve(approval_request=request_copy, user=user)
        except Exception as err:  # the test inspects what each thread met
            outcomes[index] = err
        finally:
            connection.close()

    threads = [
        threading.Thread(target=approve, args=(index, user)) for index, user in enumerate(users)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_two_approvers_at_the_same_moment_post_once(
    make_draft_refund, preparer, approver, approver2, puts_to, client_api
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)

    outcomes = _race(approval_request, [approver, approver2])

    posted = [outcome for outcome in outcomes if isinstance(outcome, ApprovalRequest)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, services.ApprovalError)]
    assert len(posted) == 1, outcomes
    assert len(refused) == 1, outcomes
    assert posted[0].state == State.POSTED
    assert "no longer waiting" in str(refused[0]) or "same moment" in str(refused[0])
    approval_request.refresh_from_db()
    assert approval_request.state == State.POSTED
    assert approval_request.decisions.count() == 1
    assert puts_to(key) == 1
    assert client_api.customer_refunds.get(key)["record_status"] == "posted"


def test_a_double_click_counts_once(make_draft_refund, preparer, approver, puts_to):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)

    outcomes = _race(approval_request, [approver, approver])

    assert sum(isinstance(outcome, ApprovalRequest) for outcome in outcomes) == 1, outcomes
    assert approval_request.decisions.count() == 1
    assert puts_to(key) == 1


def test_two_of_two_approvals_at_the_same_moment_both_count_and_post_once(
    settings, make_draft_refund, preparer, approver, approver2, puts_to
):
    settings.APPROVAL_DUAL_THRESHOLD = 100
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    assert approval_request.required_approvals == 2

    outcomes = _race(approval_request, [approver, approver2])

    assert all(isinstance(outcome, ApprovalRequest) for outcome in outcomes), outcomes
    assert sorted(outcome.state for outcome in outcomes) == [State.POSTED, State.SUBMITTED]
    approval_request.refresh_from_db()
    assert approval_request.state == State.POSTED
    assert approval_request.decisions.count() == 2
    assert puts_to(key) == 1
