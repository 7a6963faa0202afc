"""Deciding: approve (the final approval posts), reject, withdraw, comment."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from dualentry_api.ratelimit import Lane, use_lane
from portal.approvals.models import ApprovalComment, ApprovalDecision, ApprovalRequest
from portal.approvals.selectors import (
    approval_refusal_for,
    content_hash,
    is_stale,
    read_upstream,
    stale_sentence,
)
from portal.approvals.services.post import (
    already_applied,
    post_request,
)
from portal.approvals.services.transitions import (
    ApprovalError,
    ApprovalNotAllowed,
    MoneyRulesBroken,
    State,
    Type,
    audit_transition,
    kind_of,
    lock_request,
    move,
    notify,
    person_name,
    refuse_broken_money_rules,
    refuse_own,
    require_permission,
    transition,
    wrong_state,
)
from portal.audit import actions
from portal.audit.diff import field_changes
from portal.permissions import APPROVE_RECORDS, PREPARE_RECORDS
from portal.records.services import StaleRecord

logger = logging.getLogger(__name__)


# --- deciding --------------------------------------------------------------------------------


def _check_payload_intact(approval_request: ApprovalRequest) -> None:
    """What is approved is what was submitted: the stored payload and, for proposals, the
    proposal's payload still hash to `payload_hash`."""
    intact = content_hash(approval_request.payload) == approval_request.payload_hash
    proposal = approval_request.proposal
    if intact and proposal is not None:
        intact = content_hash(proposal.payload) == approval_request.payload_hash
    if not intact:
        raise ApprovalError(
            "The proposal was edited after it was submitted; the preparer must submit it again."
        )


def refuse_preparer(approval_request: ApprovalRequest, user) -> None:
    """Nobody approves what they prepared (segregation of duties by authorship)."""
    refusal = approval_refusal_for(user=user, approval_request=approval_request)
    if refusal:
        raise ApprovalNotAllowed(refusal)


def approval_approve(
    *,
    approval_request: ApprovalRequest,
    user,
    comment: str = "",
    request: HttpRequest | None = None,
    payload_hash: str = "",
) -> ApprovalRequest:
    """Approve; the final approval posts exactly the approved payload to DualEntry.

    `payload_hash` is the hash of the content the approver was shown (the review page sends
    it back): if given, it must still be the request's.

    Returns the request in its new state (submitted with one more approval, posted, or
    post_failed). Raises ApprovalNotAllowed, StaleRecord, ApprovalError or DualEntryError (when
    the live record cannot be read to compare)."""
    require_permission(user, APPROVE_RECORDS, "Only approvers can approve requests.")
    refuse_preparer(approval_request, user)
    # Read before taking the lock (no HTTP under a lock); the snapshot hash never changes.
    with use_lane(Lane.WRITE):  # the stale check belongs to the write: never starved by pages
        upstream = read_upstream(approval_request)
    stale = is_stale(approval_request, upstream)
    money = None if stale else money_rules_now(approval_request)
    final = False
    with transition():
        locked = lock_request(approval_request.pk)
        _check_approvable(locked, user=user, payload_hash=payload_hash)
        # A refused approval is recorded (committed), then refused.
        if money is not None:
            _audit_blocked(locked, user, request, "a money rule fails now", error=str(money))
        elif stale:
            _audit_blocked(
                locked,
                user,
                request,
                "the record changed since submission",
                error=stale_sentence(locked),
                changes=field_changes(locked.snapshot, upstream.snapshot),
            )
        else:
            final = _record_approval(locked, user=user, comment=comment, request=request)
    if money is not None:
        raise money
    if stale:
        raise StaleRecord(stale_sentence(locked))
    if final:
        return post_request(approval_request=locked, actor=user, request=request)
    return locked


def _audit_blocked(locked: ApprovalRequest, user, request, because: str, **fields: Any) -> None:
    """The audit event of an approval refused for `because` (the failure in `error=`)."""
    audit_transition(
        locked,
        actions.APPROVED,
        f"Approval by {person_name(user)} blocked: {because}",
        actor=user,
        request=request,
        success=False,
        **fields,
    )


def money_rules_now(approval_request: ApprovalRequest) -> MoneyRulesBroken | None:
    """The money rules, live, for a draft about to be posted (None when they all hold)."""
    if approval_request.type != Type.POST_DRAFT:
        return None
    try:
        refuse_broken_money_rules(
            kind=kind_of(approval_request.kind),
            key=approval_request.key,
            payload=approval_request.payload,
            verb="approved",
        )
    except MoneyRulesBroken as broken:
        return broken
    return None


def _check_approvable(locked: ApprovalRequest, *, user, payload_hash: str) -> None:
    refuse_preparer(locked, user)
    if locked.state != State.SUBMITTED:
        raise wrong_state(locked, "it is no longer waiting for approval.")
    if locked.decisions.filter(approver=user).exists():
        raise ApprovalError(
            "You have already approved this request; the second approval must come from "
            "someone else."
        )
    _check_payload_intact(locked)
    if payload_hash and payload_hash != locked.payload_hash:
        raise ApprovalError(
            "The content of this request is not the one you reviewed; reload the page and "
            "review it again."
        )


def _record_approval(locked: ApprovalRequest, *, user, comment: str, request) -> bool:
    """One approver's approval (inside the transition); True if it was the final one, in
    which case the request is now `posting`."""
    _add_decision(locked, user=user, decision=ApprovalDecision.Decision.APPROVE, comment=comment)
    approvals = locked.decisions.filter(decision=ApprovalDecision.Decision.APPROVE).count()
    final = approvals >= locked.required_approvals
    if final:
        # Committed as `posting` before anything is sent (see the module docstring).
        move(locked, to_state=State.POSTING, decided_at=timezone.now(), post_attempts=1)
    else:
        move(locked, to_state=State.SUBMITTED)  # bumps version for a concurrent approver
    progress = f"{approvals} of {locked.required_approvals}"
    audit_transition(
        locked,
        actions.APPROVED,
        (
            f"{person_name(user)} approved {locked.title} ({progress})"
            + ("; posting to DualEntry" if final else "; waiting for a second approver")
        ),
        actor=user,
        request=request,
    )
    if not final:
        notify("approved", locked, user, request)
    return final


def _add_decision(locked: ApprovalRequest, *, user, decision: str, comment: str) -> None:
    """One approver's decision, bound to the payload they decided on."""
    ApprovalDecision.objects.create(
        approval_request=locked,
        approver=user,
        decision=decision,
        comment=comment.strip(),
        payload_hash=locked.payload_hash,
    )


# How a request ends without being posted: the audit action and e-mail event of each end state.
_ENDINGS: dict[str, tuple[str, str]] = {
    State.REJECTED: (actions.REJECTED, "rejected"),
    State.WITHDRAWN: (actions.WITHDRAWN, "withdrawn"),
}


def _end(locked: ApprovalRequest, *, to_state: str, user, request, summary: str) -> None:
    """Move the request to an end state in `_ENDINGS`, audit it and tell the people concerned."""
    action, event = _ENDINGS[to_state]
    move(locked, to_state=to_state, decided_at=timezone.now())
    audit_transition(locked, action, summary, actor=user, request=request)
    notify(event, locked, user, request)


def approval_reject(
    *,
    approval_request: ApprovalRequest,
    user,
    comment: str,
    request: HttpRequest | None = None,
) -> ApprovalRequest:
    """Reject with a required comment; the preparer edits and submits again."""
    require_permission(user, APPROVE_RECORDS, "Only approvers can reject requests.")
    refuse_own(approval_request, user, "reject")
    comment = (comment or "").strip()
    if not comment:
        raise ApprovalError("Say why you reject it: a comment is required.")
    with transition():
        locked = lock_request(approval_request.pk)
        if locked.state != State.SUBMITTED:
            raise wrong_state(locked, "it can no longer be rejected.")
        if locked.decisions.filter(approver=user).exists():
            raise ApprovalError("You have already decided this request.")
        _add_decision(locked, user=user, decision=ApprovalDecision.Decision.REJECT, comment=comment)
        summary = f"{person_name(user)} rejected {locked.title}: {comment}"
        _end(locked, to_state=State.REJECTED, user=user, request=request, summary=summary)
    return locked


def approval_withdraw(
    *,
    approval_request: ApprovalRequest,
    user,
    request: HttpRequest | None = None,
    comment: str = "",
) -> ApprovalRequest:
    """The submitter takes the request back (while submitted, or after posting failed and
    DualEntry shows nothing was applied). The record is unlocked for edits."""
    if approval_request.submitted_by_id != user.pk:
        raise ApprovalNotAllowed("Only the person who submitted a request can withdraw it.")
    require_permission(user, PREPARE_RECORDS, "Only preparers can withdraw requests.")
    if approval_request.state == State.POST_FAILED and already_applied(approval_request):
        raise ApprovalError(
            "DualEntry already shows the approved content; retry posting to record that "
            "instead of withdrawing."
        )
    with transition():
        locked = lock_request(approval_request.pk)
        if locked.state not in (State.SUBMITTED, State.POST_FAILED):
            raise wrong_state(locked, "it can no longer be withdrawn.")
        comment = (comment or "").strip()
        if comment:
            ApprovalComment.objects.create(approval_request=locked, author=user, text=comment)
        summary = f"{person_name(user)} withdrew {locked.title}" + (
            f": {comment}" if comment else ""
        )
        _end(locked, to_state=State.WITHDRAWN, user=user, request=request, summary=summary)
    return locked


def approval_comment_add(
    *,
    approval_request: ApprovalRequest,
    user,
    text: str,
) -> ApprovalComment:
    """A note on a request from its submitter or an approver (not a decision)."""
    if approval_request.submitted_by_id != user.pk and not user.has_perm(APPROVE_RECORDS):
        raise ApprovalNotAllowed("Only the submitter and approvers can comment on a request.")
    text = (text or "").strip()
    if not text:
        raise ApprovalError("Write a comment first.")
    return ApprovalComment.objects.create(approval_request=approval_request, author=user, text=text)
