"""The approval workflow against the sandbox: who may do what, what is sent, and how often.

Drafts are created with the API client (as the edit pages would); PUT counts come from the
sandbox's request log, so "posted once" means DualEntry received exactly one PUT.
"""

from decimal import Decimal

import pytest

from portal.approvals import selectors, services
from portal.approvals.models import ApprovalDecision, ApprovalRequest
from portal.audit import actions
from portal.audit.models import AuditEvent
from portal.records.kinds import DEPOSITS, REFUNDS, get_kind
from portal.records.services import RecordLocked, record_save_draft
from tests.records.edit_support import open_source

pytestmark = pytest.mark.django_db

State = ApprovalRequest.State


def _events(kind: str, key: str) -> list[tuple[str, str, bool]]:
    return [
        (event.action, event.actor_username, event.success)
        for event in AuditEvent.objects.filter(kind=kind, key=key).order_by("sequence")
        if event.action
        in (
            actions.SUBMITTED,
            actions.APPROVED,
            actions.REJECTED,
            actions.WITHDRAWN,
            actions.POSTED,
            actions.POST_FAILED,
            actions.CHANGE_REQUESTED,
            actions.ARCHIVE_REQUESTED,
        )
    ]


@pytest.fixture
def submit_and_approve(make_draft_refund, preparer, approver):
    """A new draft refund, submitted and then approved by each approver in turn.

    The submitter is the preparer and the one approver the approver unless the test names
    others. Arm a failure of the approval's PUT (`fail_next_put`, `lose_next_put_answer`)
    before calling: nothing before the approval sends a PUT. Returns the key and the request
    as the last approval left it.
    """

    def _submit_and_approve(*, submitter=None, approvers=()) -> tuple[str, ApprovalRequest]:
        key = make_draft_refund()
        approval_request = services.approval_submit(
            kind="refunds", key=key, user=submitter or preparer
        )
        for user in approvers or [approver]:
            approval_request = services.approval_approve(
                approval_request=approval_request, user=user
            )
        return key, approval_request

    return _submit_and_approve


# --- the happy path ------------------------------------------------------------------------


def test_approver_posts_exactly_the_submitted_draft(
    make_draft_refund, preparer, approver, puts_to, client_api, fresh_sandbox
):
    key = make_draft_refund(memo="Refund of overpayment")
    approval_request = services.approval_submit(kind=REFUNDS, key=key, user=preparer)
    assert approval_request.state == State.SUBMITTED
    assert approval_request.required_approvals == 1
    assert approval_request.amount == Decimal("1875.00")
    assert approval_request.currency == "USD"
    assert approval_request.payload["record_status"] == "posted"
    assert approval_request.payload_hash == selectors.content_hash(approval_request.payload)
    assert approval_request.snapshot["record_status"] == "draft"
    assert selectors.is_locked(kind="refunds", key=key)
    assert puts_to(key) == 0

    approval_request = services.approval_approve(
        approval_request=approval_request, user=approver, comment="Matches the ticket."
    )

    assert approval_request.state == State.POSTED
    assert approval_request.upstream_key == key
    assert approval_request.upstream_request_id
    assert puts_to(key) == 1
    put = [
        entry
        for entry in fresh_sandbox.requests_log
        if entry["method"] == "PUT" and entry["path"].endswith(f"/{key}/")
    ]
    assert put[0]["request_id"] == approval_request.upstream_request_id
    posted = client_api.customer_refunds.get(key)
    assert posted["record_status"] == "posted"
    assert posted["memo"] == "Refund of overpayment"
    assert not selectors.is_locked(kind="refunds", key=key)
    decision = ApprovalDecision.objects.get(approval_request=approval_request)
    assert decision.payload_hash == approval_request.payload_hash
    assert decision.comment == "Matches the ticket."
    assert _events("refunds", key) == [
        (actions.SUBMITTED, "preparer", True),
        (actions.APPROVED, "approver", True),
        (actions.POSTED, "approver", True),
    ]
    posted_event = AuditEvent.objects.get(kind="refunds", key=key, action=actions.POSTED)
    assert posted_event.upstream_method == "PUT"
    assert posted_event.upstream_status == 200
    assert posted_event.upstream_request_id == approval_request.upstream_request_id


def test_approving_a_posted_request_says_it_is_decided_not_stale(
    make_draft_refund, preparer, approver, approver2
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    stale_copy = ApprovalRequest.objects.get(pk=approval_request.pk)
    services.approval_approve(approval_request=approval_request, user=approver)
    # DualEntry's record now differs from the snapshot (it is posted), yet the answer is
    # about the request's state, and no refused approval is logged.
    with pytest.raises(services.ApprovalError, match="it is no longer waiting") as refused:
        services.approval_approve(approval_request=stale_copy, user=approver2)
    assert not isinstance(refused.value, services.StaleRecord)
    assert not AuditEvent.objects.filter(kind="refunds", key=key, success=False).exists()


def test_only_drafts_are_submitted_for_posting(submit_and_approve, preparer):
    key, _ = submit_and_approve()
    with pytest.raises(services.ApprovalError, match="only drafts are submitted"):
        services.approval_submit(kind="refunds", key=key, user=preparer)


def test_a_record_has_one_open_request(make_draft_refund, preparer):
    key = make_draft_refund()
    services.approval_submit(kind="refunds", key=key, user=preparer)
    with pytest.raises(services.ApprovalError, match="already waiting for approval"):
        services.approval_submit(kind="refunds", key=key, user=preparer)


def test_edits_are_refused_while_submitted(make_draft_refund, preparer, client_api):
    key = make_draft_refund()
    services.approval_submit(kind="refunds", key=key, user=preparer)
    payload = selectors.current_payload(
        kind=REFUNDS, key=key, record=client_api.customer_refunds.get(key)
    )
    with pytest.raises(RecordLocked):
        record_save_draft(
            kind=REFUNDS, key=key, payload={**payload, "memo": "sneaky"}, user=preparer,
            request=None,
        )  # fmt: skip


# --- who may decide ------------------------------------------------------------------------


def _assert_may_not_decide(approval_request, user, *, approve: str, reject: str) -> None:
    """`user` can neither approve nor reject the request: each refusal matches its pattern."""
    with pytest.raises(services.ApprovalNotAllowed, match=approve):
        services.approval_approve(approval_request=approval_request, user=user)
    with pytest.raises(services.ApprovalNotAllowed, match=reject):
        services.approval_reject(approval_request=approval_request, user=user, comment="no")


@pytest.mark.parametrize("persona", ["preparer_approver", "admin_user"])
def test_nobody_approves_or_rejects_their_own_submission(
    request, persona, make_draft_refund, puts_to
):
    user = request.getfixturevalue(persona)
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=user)
    _assert_may_not_decide(
        approval_request, user, approve="submitted it for approval on", reject="you submitted"
    )
    approval_request.refresh_from_db()
    assert approval_request.state == State.SUBMITTED
    assert not approval_request.decisions.exists()
    assert puts_to(key) == 0


@pytest.mark.parametrize("persona", ["viewer", "preparer"])
def test_only_approvers_decide(request, persona, make_draft_refund, preparer_approver):
    user = request.getfixturevalue(persona)
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer_approver)
    _assert_may_not_decide(
        approval_request, user, approve="Only approvers", reject="Only approvers"
    )


@pytest.mark.parametrize("persona", ["viewer", "approver"])
def test_only_preparers_submit(request, persona, make_draft_refund):
    user = request.getfixturevalue(persona)
    key = make_draft_refund()
    with pytest.raises(services.ApprovalNotAllowed, match="Only preparers"):
        services.approval_submit(kind="refunds", key=key, user=user)
    assert not ApprovalRequest.objects.exists()


# --- the dual-approval threshold -----------------------------------------------------------


def test_amount_at_the_threshold_needs_two_different_approvers(
    settings, make_draft_refund, preparer, approver, approver2, puts_to
):
    settings.APPROVAL_DUAL_THRESHOLD = 1875  # the refund is exactly at the threshold
    key = make_draft_refund(amount="1875.00")
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    assert approval_request.required_approvals == 2

    approval_request = services.approval_approve(approval_request=approval_request, user=approver)
    assert approval_request.state == State.SUBMITTED
    assert puts_to(key) == 0
    with pytest.raises(services.ApprovalError, match="already approved"):
        services.approval_approve(approval_request=approval_request, user=approver)
    assert list(selectors.waiting_for(user=approver)) == []
    assert list(selectors.waiting_for(user=approver2)) == [approval_request]

    approval_request = services.approval_approve(approval_request=approval_request, user=approver2)
    assert approval_request.state == State.POSTED
    assert puts_to(key) == 1
    assert set(approval_request.decisions.values_list("approver__username", flat=True)) == {
        "approver",
        "approver2",
    }


def test_amount_below_the_threshold_needs_one_approver(settings, make_draft_refund, preparer):
    settings.APPROVAL_DUAL_THRESHOLD = 1875.01
    key = make_draft_refund(amount="1875.00")
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    assert approval_request.required_approvals == 1


def test_the_submitter_is_never_one_of_the_two_approvers(
    settings, submit_and_approve, preparer_approver, puts_to
):
    settings.APPROVAL_DUAL_THRESHOLD = 100
    key, approval_request = submit_and_approve(submitter=preparer_approver)
    with pytest.raises(services.ApprovalNotAllowed):
        services.approval_approve(approval_request=approval_request, user=preparer_approver)
    approval_request.refresh_from_db()
    assert approval_request.state == State.SUBMITTED
    assert puts_to(key) == 0


# --- stale snapshots -----------------------------------------------------------------------


def test_approval_is_blocked_when_the_record_changed_since_submission(
    make_draft_refund, preparer, approver, client_api, puts_to
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    # Someone changes the draft in DualEntry directly, behind the portal's back.
    payload = selectors.current_payload(
        kind=REFUNDS, key=key, record=client_api.customer_refunds.get(key)
    )
    client_api.customer_refunds.update(key, {**payload, "memo": "changed in DualEntry"})
    assert puts_to(key) == 1

    with pytest.raises(
        services.StaleRecord, match="changed since submission; the preparer must resubmit"
    ):
        services.approval_approve(approval_request=approval_request, user=approver)

    approval_request.refresh_from_db()
    assert approval_request.state == State.SUBMITTED
    assert not approval_request.decisions.exists()
    assert puts_to(key) == 1
    assert client_api.customer_refunds.get(key)["record_status"] == "draft"
    blocked = AuditEvent.objects.get(kind="refunds", key=key, action=actions.APPROVED)
    assert blocked.success is False
    assert "memo" in blocked.changes

    review = selectors.approval_review(approval_request=approval_request, user=approver)
    assert review.stale is True
    assert not review.can_approve
    assert "memo" in [row.field for row in review.stale_changes]


# --- posting failures and retries ----------------------------------------------------------


def test_post_failure_then_retry_posts_once(
    submit_and_approve, approver, puts_to, fail_next_put, client_api
):
    fail_next_put(503)
    key, approval_request = submit_and_approve()

    assert approval_request.state == State.POST_FAILED
    assert approval_request.post_error
    assert puts_to(key) == 1  # it reached the sandbox and was refused
    assert client_api.customer_refunds.get(key)["record_status"] == "draft"
    assert selectors.is_locked(kind="refunds", key=key)  # still open: no edits meanwhile

    approval_request = services.approval_retry(approval_request=approval_request, user=approver)

    assert approval_request.state == State.POSTED
    assert approval_request.post_attempts == 2
    assert puts_to(key) == 2  # exactly one more
    assert client_api.customer_refunds.get(key)["record_status"] == "posted"
    assert _events("refunds", key) == [
        (actions.SUBMITTED, "preparer", True),
        (actions.APPROVED, "approver", True),
        (actions.POST_FAILED, "approver", False),
        (actions.POSTED, "approver", True),
    ]
    with pytest.raises(services.ApprovalError, match="nothing to retry"):
        services.approval_retry(approval_request=approval_request, user=approver)


def test_retry_does_not_post_again_when_dualentry_already_has_it(
    submit_and_approve, preparer, puts_to, lose_next_put_answer, client_api
):
    key, approval_request = submit_and_approve()
    assert approval_request.state == State.POST_FAILED
    assert "may have been saved" in approval_request.post_error
    assert client_api.customer_refunds.get(key)["record_status"] == "posted"

    approval_request = services.approval_retry(approval_request=approval_request, user=preparer)

    assert approval_request.state == State.POSTED
    assert puts_to(key) == 1
    posted = AuditEvent.objects.filter(kind="refunds", key=key, action=actions.POSTED).get()
    assert "nothing was sent again" in posted.summary
    assert posted.actor_username == "preparer"


def test_retry_sends_nothing_when_the_record_changed_meanwhile(
    submit_and_approve, preparer, approver, puts_to, fail_next_put, client_api
):
    fail_next_put(500)
    key, approval_request = submit_and_approve()
    payload = selectors.current_payload(
        kind=REFUNDS, key=key, record=client_api.customer_refunds.get(key)
    )
    client_api.customer_refunds.update(key, {**payload, "memo": "edited in DualEntry"})

    approval_request = services.approval_retry(approval_request=approval_request, user=approver)

    assert approval_request.state == State.POST_FAILED
    assert "no longer matches" in approval_request.post_error
    assert puts_to(key) == 2  # the failed one and the direct edit; nothing from the retry
    approval_request = services.approval_withdraw(approval_request=approval_request, user=preparer)
    assert approval_request.state == State.WITHDRAWN
    assert not selectors.is_locked(kind="refunds", key=key)


def test_withdrawing_is_refused_when_dualentry_already_has_the_content(
    submit_and_approve, preparer, lose_next_put_answer
):
    _, approval_request = submit_and_approve()
    assert approval_request.state == State.POST_FAILED
    with pytest.raises(services.ApprovalError, match="retry posting"):
        services.approval_withdraw(approval_request=approval_request, user=preparer)


# --- reject, edit, resubmit ----------------------------------------------------------------


def test_reject_edit_resubmit_approve(make_draft_refund, preparer, approver, client_api, puts_to):
    key = make_draft_refund(memo="First try")
    first = services.approval_submit(kind="refunds", key=key, user=preparer)
    with pytest.raises(services.ApprovalError, match="comment is required"):
        services.approval_reject(approval_request=first, user=approver, comment="  ")

    first = services.approval_reject(
        approval_request=first, user=approver, comment="Memo must cite the ticket."
    )
    assert first.state == State.REJECTED
    assert not selectors.is_locked(kind="refunds", key=key)
    with pytest.raises(services.ApprovalError, match="no longer waiting"):
        services.approval_approve(approval_request=first, user=approver)

    # The preparer edits the draft through the edit service, then submits again.
    record = client_api.customer_refunds.get(key)
    payload = selectors.current_payload(kind=REFUNDS, key=key, record=record)
    record_save_draft(
        kind=REFUNDS, key=key, payload={**payload, "memo": "Ticket FIN-42"}, user=preparer,
        request=None,
    )  # fmt: skip
    second = services.approval_submit(kind="refunds", key=key, user=preparer)
    assert second.pk != first.pk
    assert second.resubmission_of == first
    assert second.payload["memo"] == "Ticket FIN-42"

    # The approver who rejected the first request decides the new one afresh.
    second = services.approval_approve(approval_request=second, user=approver)
    assert second.state == State.POSTED
    assert client_api.customer_refunds.get(key)["memo"] == "Ticket FIN-42"
    assert [event[0] for event in _events("refunds", key)] == [
        actions.SUBMITTED,
        actions.REJECTED,
        actions.SUBMITTED,
        actions.APPROVED,
        actions.POSTED,
    ]


def test_only_the_submitter_withdraws(make_draft_refund, preparer, preparer_approver, approver):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    for other in (preparer_approver, approver):
        with pytest.raises(services.ApprovalNotAllowed, match="Only the person who submitted"):
            services.approval_withdraw(approval_request=approval_request, user=other)
    approval_request = services.approval_withdraw(
        approval_request=approval_request, user=preparer, comment="Wrong customer."
    )
    assert approval_request.state == State.WITHDRAWN
    assert approval_request.comments.get().text == "Wrong customer."
    assert not selectors.is_locked(kind="refunds", key=key)
    assert _events("refunds", key)[-1] == (actions.WITHDRAWN, "preparer", True)
    with pytest.raises(services.ApprovalError, match="no longer waiting"):
        services.approval_approve(approval_request=approval_request, user=approver)


# --- deposits ------------------------------------------------------------------------------


def _deposit_payload(client_api, key: str, amounts: list[str]) -> dict:
    record = client_api.customer_deposits.get(key)
    payload = selectors.current_payload(kind=DEPOSITS, key=key, record=record)
    for line, amount in zip(payload["items"], amounts, strict=True):
        line["amount"] = amount
    return payload


def test_deposit_must_be_saved_in_the_portal_before_submission(preparer, client_api):
    key = "1006"  # a seeded draft deposit the portal never saved
    assert client_api.customer_deposits.get(key)["record_status"] == "draft"
    with pytest.raises(services.ApprovalError, match="Save this customer deposit in the portal"):
        services.approval_submit(kind="deposits", key=key, user=preparer)
    assert not ApprovalRequest.objects.exists()


def test_deposit_posts_the_line_amounts_the_portal_saved(
    settings, preparer, approver, approver2, client_api, fresh_sandbox
):
    settings.APPROVAL_DUAL_THRESHOLD = 1000
    key = "1006"
    record_save_draft(
        kind=DEPOSITS,
        key=key,
        payload=_deposit_payload(client_api, key, ["1000.00", "250.50"]),
        user=preparer,
        request=None,
    )
    approval_request = services.approval_submit(kind="deposits", key=key, user=preparer)
    assert [line["amount"] for line in approval_request.payload["items"]] == ["1000.00", "250.50"]
    assert approval_request.amount == Decimal("1250.50")
    assert approval_request.required_approvals == 2
    services.approval_approve(approval_request=approval_request, user=approver)
    approval_request = services.approval_approve(approval_request=approval_request, user=approver2)
    assert approval_request.state == State.POSTED, approval_request.post_error
    stored = fresh_sandbox.store.get("customer-deposits", int(key))
    assert [line["amount"] for line in stored["items"]] == ["1000.00", "250.50"]
    assert stored["record_status"] == "posted"


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("credits", "1002"),  # item lines: quantity x rate, amounts computed by DualEntry
        ("refunds", "1016"),  # has an attachment, whose signed download link changes per read
    ],
)
def test_seeded_drafts_post_and_read_back_the_same(
    kind, key, preparer, approver, client_api, fresh_sandbox
):
    resource = getattr(client_api, get_kind(kind).resource)
    if kind == "refunds":
        # The seeded refund applies a draft credit (the money rules would refuse it): point
        # its line at a posted credit of its customer first, as a preparer would.
        refund = fresh_sandbox.store.get("customer-refunds", int(key))
        credit = open_source(
            fresh_sandbox,
            "customer-credits",
            company_id=refund["company_id"],
            customer_id=refund["customer_id"],
        )
        amount = min(Decimal(refund["amount"]), Decimal(credit["remaining_amount"]))
        line = {"customer_credit_number": credit["number"], "amount": f"{amount:f}", "position": 0}
        fresh_sandbox.outside.edit(
            "customer-refunds", key, items=[line], bank_or_credit_card_amount="0.00"
        )
    approval_request = services.approval_submit(kind=kind, key=key, user=preparer)
    review = selectors.approval_review(approval_request=approval_request, user=approver)
    assert not review.stale
    assert [row.field for row in review.changes] == ["record_status"]
    approval_request = services.approval_approve(approval_request=approval_request, user=approver)
    assert approval_request.state == State.POSTED, approval_request.post_error
    posted = resource.get(key)
    assert posted["record_status"] == "posted"
    assert len(posted.get("attachments") or []) == len(approval_request.snapshot["attachments"])


# --- interrupted posting, bindings, comments -------------------------------------------------


def test_interrupted_posting_is_retried_only_once_it_is_stale(
    make_draft_refund, preparer, approver, puts_to, client_api
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    # A crash right after "posting" was committed, before anything was sent.
    ApprovalRequest.objects.filter(pk=approval_request.pk).update(state=State.POSTING)
    approval_request.refresh_from_db()
    with pytest.raises(services.ApprovalError, match="being posted right now"):
        services.approval_retry(approval_request=approval_request, user=approver)

    ApprovalRequest.objects.filter(pk=approval_request.pk).update(
        updated_at=approval_request.updated_at - ApprovalRequest.POSTING_STALE_AFTER * 2
    )
    approval_request.refresh_from_db()
    assert approval_request.is_interrupted
    approval_request = services.approval_retry(approval_request=approval_request, user=approver)

    assert approval_request.state == State.POSTED
    assert puts_to(key) == 1
    assert client_api.customer_refunds.get(key)["record_status"] == "posted"


@pytest.mark.parametrize("persona", ["viewer", "preparer_approver"])
def test_retry_is_for_approvers_and_the_submitter(
    request, persona, make_draft_refund, preparer, approver, fail_next_put
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    fail_next_put(503)
    approval_request = services.approval_approve(approval_request=approval_request, user=approver)
    user = request.getfixturevalue(persona)
    if persona == "viewer":
        with pytest.raises(services.ApprovalNotAllowed):
            services.approval_retry(approval_request=approval_request, user=user)
    else:
        assert services.approval_retry(approval_request=approval_request, user=user).state == (
            State.POSTED
        )


def test_approval_binds_to_the_content_the_approver_reviewed(
    make_draft_refund, preparer, approver, puts_to
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    with pytest.raises(services.ApprovalError, match="not the one you reviewed"):
        services.approval_approve(
            approval_request=approval_request, user=approver, payload_hash="0" * 64
        )
    assert puts_to(key) == 0
    approval_request = services.approval_approve(
        approval_request=approval_request, user=approver, payload_hash=approval_request.payload_hash
    )
    assert approval_request.state == State.POSTED


def test_every_transition_of_a_dual_approval_is_audited_once(
    settings, submit_and_approve, approver, approver2
):
    settings.APPROVAL_DUAL_THRESHOLD = 1
    key, _ = submit_and_approve(approvers=[approver, approver2])
    assert _events("refunds", key) == [
        (actions.SUBMITTED, "preparer", True),
        (actions.APPROVED, "approver", True),
        (actions.APPROVED, "approver2", True),
        (actions.POSTED, "approver2", True),
    ]
    summaries = list(
        AuditEvent.objects.filter(kind="refunds", key=key, action=actions.APPROVED)
        .order_by("sequence")
        .values_list("summary", flat=True)
    )
    assert "(1 of 2); waiting for a second approver" in summaries[0]
    assert "(2 of 2); posting to DualEntry" in summaries[1]


def test_comments_come_from_the_submitter_and_approvers(
    make_draft_refund, preparer, approver, viewer
):
    key = make_draft_refund()
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    services.approval_comment_add(approval_request=approval_request, user=approver, text="Why?")
    services.approval_comment_add(approval_request=approval_request, user=preparer, text="FIN-9")
    with pytest.raises(services.ApprovalNotAllowed):
        services.approval_comment_add(approval_request=approval_request, user=viewer, text="Hi")
    with pytest.raises(services.ApprovalError, match="Write a comment"):
        services.approval_comment_add(approval_request=approval_request, user=approver, text=" ")
    assert list(approval_request.comments.values_list("text", flat=True)) == ["Why?", "FIN-9"]
