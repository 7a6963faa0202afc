"""Postings keep the read model true at once, and take the budget's write lane: people reading
DualEntry meanwhile cannot make a posting fail. Against the sandbox over HTTP."""

from __future__ import annotations

import threading
import time

import pytest

from dualentry_api.client import get_client
from dualentry_api.errors import RateLimited
from dualentry_api.ratelimit import Lane, use_lane
from portal.approvals import services
from portal.approvals.models import ApprovalRequest
from portal.readmodel.selectors import mirrored_records
from portal.records.kinds import REFUNDS
from portal.records.services import record_refresh

pytestmark = pytest.mark.django_db

State = ApprovalRequest.State


def test_posting_an_approval_updates_the_copys_status(make_draft_refund, preparer, approver):
    key = make_draft_refund(memo="Posted through an approval")
    record_refresh(kind=REFUNDS, key=key)  # the copy holds the draft, as after a sync
    assert mirrored_records(kind="refunds").get(key=key).status == "draft"

    approval_request = services.approval_submit(kind=REFUNDS, key=key, user=preparer)
    approval_request = services.approval_approve(approval_request=approval_request, user=approver)

    assert approval_request.state == State.POSTED
    copied = mirrored_records(kind="refunds").get(key=key)
    assert copied.status == "posted"  # from the read-back, in the same request: no sync ran
    assert copied.memo == "Posted through an approval"


@pytest.fixture
def real_limits(settings, fresh_sandbox):
    """DualEntry's documented limits on both sides: the sandbox enforces them (429s) and the
    portal's budget is set to them (the suite normally lifts the budget, pytest_plugin.py)."""
    fresh_sandbox.set_faults(
        rate_limits=True, key_rate=5.0, key_burst=50, route_rate=1.0, route_burst=10
    )
    settings.DUALENTRY_RATE_PER_SECOND = 5.0
    settings.DUALENTRY_RATE_BURST = 50
    settings.DUALENTRY_ROUTE_RATE_PER_SECOND = 1.0
    settings.DUALENTRY_ROUTE_RATE_BURST = 10
    yield fresh_sandbox
    fresh_sandbox.clear_faults()


def _browse(numbers: list[str], stop: threading.Event, outcomes: list[str]) -> None:
    """A person reloading refund pages: interactive GETs as fast as the budget lets them."""
    client = get_client()  # this thread's own client, sharing the budget (Django's cache)
    index = 0
    with use_lane(Lane.INTERACTIVE):
        while not stop.is_set():
            try:
                client.customer_refunds.get(numbers[index % len(numbers)])
                outcomes.append("read")
            except RateLimited:
                outcomes.append("refused")
                time.sleep(0.05)
            index += 1


def test_an_approval_posts_first_time_while_people_browse_at_full_speed(
    real_limits, make_draft_refund, preparer, approver, settings
):
    # Prepared before the rush (with the budget lifted, so setting up spends none of it).
    key = make_draft_refund(memo="Approved during the rush")
    approval_request = services.approval_submit(kind=REFUNDS, key=key, user=preparer)
    others = [
        str(number)
        for number in real_limits.store.collection("customer-refunds")
        if str(number) != key
    ]
    real_limits.clear_log()

    stop = threading.Event()
    outcomes: list[str] = []
    readers = [
        threading.Thread(target=_browse, args=(others, stop, outcomes), daemon=True)
        for _ in range(6)
    ]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + 10
        while outcomes.count("refused") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the interactive lane has used all it may of the route
        assert outcomes.count("refused") >= 3, "the readers never exhausted their share"
        approval_request = services.approval_approve(
            approval_request=approval_request, user=approver
        )
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=10)

    assert approval_request.state == State.POSTED, approval_request.post_error
    assert approval_request.post_attempts == 1
    statuses = [entry["status"] for entry in real_limits.requests_log]
    assert 429 not in statuses  # DualEntry never had to refuse anyone: the budget paced all
    mine = [
        (entry["method"], entry["status"])
        for entry in real_limits.requests_log
        if entry["path"].endswith(f"/customer-refunds/{key}/")
    ]
    assert mine == [("GET", 200), ("PUT", 200), ("GET", 200)]  # stale check, post, read-back
