"""Segregation of duties by authorship: nobody approves what they prepared.

Whoever created, edited, attached a file to, submitted or proposed a record through the portal
(as the audit log of that record shows), or wrote or edited the proposal a request applies, may
not give the first or the second approval, administrators included. Looking at a record is not
preparing it. The approve service refuses, the review page says why, and the queue
(`requests_awaiting_approval_by`) leaves such requests out.
"""

import re

import pytest
from django.urls import reverse

from portal.approvals import selectors, services
from portal.approvals.models import ApprovalRequest
from portal.audit import actions
from portal.audit.services import audit_record
from portal.records.kinds import CONTRACTS, REFUNDS
from portal.records.models import Proposal
from portal.records.services import proposal_save, record_save_draft
from tests.payloads import draft_refund_body

pytestmark = pytest.mark.django_db

State = ApprovalRequest.State
PREPARED = re.compile(r"You prepared .+ so someone else must approve it\.")


@pytest.fixture
def portal_draft(client_api):
    """A draft refund written through the portal by `author` (audited as created)."""

    def _draft(author, memo: str = "Drafted in the portal") -> str:
        record = record_save_draft(
            kind=REFUNDS, key=None, payload=draft_refund_body(memo=memo), user=author, request=None
        )
        return REFUNDS.key_of(record)

    return _draft


@pytest.fixture
def portal_edit(client_api):
    """Edit a draft refund through the portal as `editor` (audited as updated)."""

    def _edit(editor, key: str, memo: str) -> None:
        current = selectors.current_payload(
            kind=REFUNDS, key=key, record=client_api.customer_refunds.get(key)
        )
        record_save_draft(
            kind=REFUNDS, key=key, payload={**current, "memo": memo}, user=editor, request=None
        )

    return _edit


def _detail(approval_request: ApprovalRequest) -> str:
    return reverse("approvals:detail", kwargs={"pk": approval_request.pk})


# --- the scenario from the issue -----------------------------------------------------------


def test_preparer_who_drafted_cannot_approve_what_a_colleague_submitted(
    preparer_approver, preparer, approver, portal_draft, portal_edit, login_as, puts_to
):
    key = portal_draft(preparer_approver)
    portal_edit(preparer_approver, key, "Second thoughts")
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    puts_before = puts_to(key)  # the edit's

    with pytest.raises(services.ApprovalNotAllowed, match=PREPARED) as refusal:
        services.approval_approve(approval_request=approval_request, user=preparer_approver)
    assert "edited it on" in str(refusal.value)
    approval_request.refresh_from_db()
    assert approval_request.state == State.SUBMITTED
    assert not approval_request.decisions.exists()
    assert puts_to(key) == puts_before

    page = login_as(preparer_approver).get(_detail(approval_request)).content.decode()
    assert "Approve and post" not in page
    assert re.search(
        r"You prepared this customer refund \(created it on [^,]+, "
        r"edited it on \d{4}-\d\d-\d\d \d\d:\d\d \w+\), "
        r"so someone else must approve it\.",
        page,
    )
    assert selectors.authorship_of(approval_request=approval_request, user=preparer_approver)
    assert list(selectors.requests_awaiting_approval_by(preparer_approver)) == []

    assert list(selectors.requests_awaiting_approval_by(approver)) == [approval_request]
    approved = services.approval_approve(approval_request=approval_request, user=approver)
    assert approved.state == State.POSTED


def test_approving_through_the_page_is_refused_too(
    preparer_approver, preparer, portal_draft, login_as
):
    key = portal_draft(preparer_approver)
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    client = login_as(preparer_approver)
    url = reverse("approvals:approve", kwargs={"pk": approval_request.pk})
    # Both steps refuse: the confirmation page is not shown, and confirming does not approve.
    for data in ({}, {"confirmed": "1", "payload_hash": approval_request.payload_hash}):
        response = client.post(url, data)
        assert response.status_code == 403
        page = response.content.decode()
        assert "created it on" in page
        assert "Confirm" not in page
    approval_request.refresh_from_db()
    assert approval_request.state == State.SUBMITTED


def test_administrator_who_edited_cannot_approve(
    admin_user, preparer, portal_draft, portal_edit, login_as, puts_to
):
    key = portal_draft(preparer)
    portal_edit(admin_user, key, "Fixed by the admin")
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    puts_before = puts_to(key)

    with pytest.raises(services.ApprovalNotAllowed, match="edited it on"):
        services.approval_approve(approval_request=approval_request, user=admin_user)
    assert puts_to(key) == puts_before
    page = login_as(admin_user).get(_detail(approval_request)).content.decode()
    assert "Approve and post" not in page
    assert "so someone else must approve it" in page
    assert list(selectors.requests_awaiting_approval_by(admin_user)) == []


def test_someone_who_only_looked_at_the_record_can_approve(
    preparer, approver, portal_draft, login_as
):
    key = portal_draft(preparer)
    viewer_client = login_as(approver)
    assert viewer_client.get(reverse("records:detail", args=["refunds", key])).status_code == 200
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    assert viewer_client.get(_detail(approval_request)).status_code == 200

    assert selectors.approval_refusal_for(user=approver, approval_request=approval_request) == ""
    assert "Approve and post" in viewer_client.get(_detail(approval_request)).content.decode()
    assert list(selectors.requests_awaiting_approval_by(approver)) == [approval_request]
    approved = services.approval_approve(approval_request=approval_request, user=approver)
    assert approved.state == State.POSTED


def test_second_approver_who_edited_cannot_give_the_second_approval(
    settings, preparer_approver, preparer, approver, approver2, portal_draft, portal_edit, puts_to
):
    settings.APPROVAL_DUAL_THRESHOLD = 100
    key = portal_draft(preparer)
    portal_edit(preparer_approver, key, "A colleague's correction")
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    assert approval_request.required_approvals == 2
    puts_before = puts_to(key)
    approval_request = services.approval_approve(approval_request=approval_request, user=approver)
    assert approval_request.state == State.SUBMITTED

    with pytest.raises(services.ApprovalNotAllowed, match="edited it on"):
        services.approval_approve(approval_request=approval_request, user=preparer_approver)
    assert list(selectors.requests_awaiting_approval_by(preparer_approver)) == []
    assert puts_to(key) == puts_before

    approval_request = services.approval_approve(approval_request=approval_request, user=approver2)
    assert approval_request.state == State.POSTED


def test_author_of_a_stale_request_is_told_both_reasons(
    preparer_approver, preparer, portal_draft, client_api, login_as
):
    key = portal_draft(preparer_approver)
    approval_request = services.approval_submit(kind="refunds", key=key, user=preparer)
    current = selectors.current_payload(
        kind=REFUNDS, key=key, record=client_api.customer_refunds.get(key)
    )
    client_api.customer_refunds.update(key, {**current, "memo": "changed in DualEntry"})

    page = login_as(preparer_approver).get(_detail(approval_request)).content.decode()
    assert "Changed since submission" in page
    assert "changed since submission; the preparer must resubmit" in page
    assert "You prepared this customer refund (created it on" in page
    assert "Approve and post" not in page


# --- proposals -----------------------------------------------------------------------------


def _contract_proposal(author) -> Proposal:
    return proposal_save(
        kind=CONTRACTS,
        action=Proposal.Action.CREATE_CONTRACT,
        payload={"status": "active", "company_id": 1, "customer_id": 110, "name": "Authored"},
        user=author,
    )


def test_proposal_author_cannot_approve_the_contract_a_colleague_submitted(
    preparer_approver, preparer, approver, login_as, fresh_sandbox
):
    proposal = _contract_proposal(preparer_approver)
    approval_request = services.approval_submit(kind="contracts", proposal=proposal, user=preparer)

    with pytest.raises(services.ApprovalNotAllowed, match="wrote the proposal on"):
        services.approval_approve(approval_request=approval_request, user=preparer_approver)
    page = login_as(preparer_approver).get(_detail(approval_request)).content.decode()
    assert "You prepared this new contract" in page
    assert "Approve and post" not in page
    assert list(selectors.requests_awaiting_approval_by(preparer_approver)) == []
    assert list(selectors.requests_awaiting_approval_by(approver)) == [approval_request]


def test_who_edited_a_colleagues_proposal_cannot_approve_it(
    preparer_approver, preparer, approver, fresh_sandbox
):
    proposal = _contract_proposal(preparer)
    proposal = proposal_save(
        kind=CONTRACTS,
        action=Proposal.Action.CREATE_CONTRACT,
        payload={**proposal.payload, "name": "Renamed by Alice"},
        proposal=proposal,
        user=preparer_approver,
    )
    approval_request = services.approval_submit(kind="contracts", proposal=proposal, user=preparer)
    assert selectors.approval_refusal_for(
        user=preparer_approver, approval_request=approval_request
    ).startswith("You prepared this new contract")
    assert list(selectors.requests_awaiting_approval_by(preparer_approver)) == []


def test_author_of_a_change_cannot_approve_it_after_a_colleague_resubmits(
    make_draft_refund, preparer_approver, preparer, approver, approver2, client_api
):
    key = make_draft_refund(memo="Posted before the change")
    posting = services.approval_submit(kind="refunds", key=key, user=preparer)
    assert services.approval_approve(approval_request=posting, user=approver).state == (
        State.POSTED
    )
    current = selectors.current_payload(
        kind=REFUNDS, key=key, record=client_api.customer_refunds.get(key)
    )
    change = services.change_request_submit(
        kind="refunds", key=key, payload={**current, "memo": "Alice's change"},
        user=preparer_approver,
    )  # fmt: skip
    services.approval_reject(approval_request=change, user=approver, comment="Add a ticket")
    resubmitted = services.approval_submit(
        kind="refunds", proposal=change.proposal, user=preparer, note="FIN-12"
    )

    with pytest.raises(services.ApprovalNotAllowed, match="You prepared this change"):
        services.approval_approve(approval_request=resubmitted, user=preparer_approver)
    assert list(selectors.requests_awaiting_approval_by(preparer_approver)) == []
    assert services.approval_approve(approval_request=resubmitted, user=approver2).state == (
        State.POSTED
    )


# --- the queue -----------------------------------------------------------------------------


def test_queue_leaves_out_only_what_this_person_prepared(
    preparer_approver, preparer, approver, portal_draft
):
    theirs = services.approval_submit(
        kind="refunds", key=portal_draft(preparer_approver), user=preparer
    )
    others = services.approval_submit(kind="refunds", key=portal_draft(preparer), user=preparer)
    assert list(selectors.requests_awaiting_approval_by(preparer_approver)) == [others]
    assert list(selectors.requests_awaiting_approval_by(approver)) == [theirs, others]
    assert list(selectors.requests_awaiting_approval_by(preparer)) == []
    # The queue and the refusal agree on every request.
    for approval_request in (theirs, others):
        queued = approval_request in selectors.requests_awaiting_approval_by(preparer_approver)
        refusal = selectors.approval_refusal_for(
            user=preparer_approver, approval_request=approval_request
        )
        assert queued == (refusal == "")


def test_who_prepared_it_is_not_mailed_that_it_waits_for_them(
    preparer_approver, preparer, approver, portal_draft, mailoutbox,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    key = portal_draft(preparer_approver)
    with django_capture_on_commit_callbacks(execute=True):
        services.approval_submit(kind="refunds", key=key, user=preparer)
    recipients = {message.to[0] for message in mailoutbox}
    assert "approver@example.com" in recipients
    assert "alice@example.com" not in recipients


def test_an_attachment_counts_a_failed_save_or_another_record_does_not(
    preparer_approver, preparer, approver, make_draft_refund
):
    attached, failed = make_draft_refund(), make_draft_refund()
    audit_record(
        actor=preparer_approver, action=actions.ATTACHMENT_UPLOADED, kind="refunds", key=attached
    )
    audit_record(
        actor=preparer_approver, action=actions.SAVE_FAILED, kind="refunds", key=failed,
        success=False, error="DualEntry refused it",
    )  # fmt: skip
    audit_record(
        actor=preparer_approver, action=actions.RECORD_UPDATED, kind="deposits", key=failed
    )
    with_attachment = services.approval_submit(kind="refunds", key=attached, user=preparer)
    after_failure = services.approval_submit(kind="refunds", key=failed, user=preparer)

    assert "attached a file to it on" in selectors.approval_refusal_for(
        user=preparer_approver, approval_request=with_attachment
    )
    assert selectors.approval_refusal_for(
        user=preparer_approver, approval_request=after_failure
    ) == ("")
    assert list(selectors.requests_awaiting_approval_by(preparer_approver)) == [after_failure]
