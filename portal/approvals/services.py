"""The approval workflow (maker-checker): submit, approve, reject, withdraw, post, retry.

Rules enforced here, whatever page or script calls in:
- Preparers (`portal.prepare_records`) submit; approvers (`portal.approve_records`) decide.
  Nobody decides a request they submitted, administrators included.
- A request binds to the exact payload that will be sent (`payload_hash`) and to the live
  record it was prepared against (`snapshot_hash`). Approval re-reads the record: if DualEntry's
  record no longer matches the snapshot, approval is refused and the preparer must resubmit.
- Amounts at or above `APPROVAL_DUAL_THRESHOLD` (record currency) need two different approvers.
- After the final approval the request is committed as `posting`, then exactly the approved
  payload is sent, the record is read back and compared, and the outcome (`posted` or
  `post_failed`) is written in a second transaction. A retry reads upstream first and never
  sends twice what is already there.

Concurrency: every transition runs in `_transition()` and re-reads the request with
`select_for_update()`, so on PostgreSQL two approvers clicking at the same moment queue on the
row lock and the second sees the first's decision. Each state write is also a compare-and-set
on `version`, the guard where row locks do not exist (SQLite): a transition that lost a race
matches no row and is refused. SQLite has no row locks at all, so transitions of this process
are additionally queued on a process-wide lock. No HTTP call happens while a lock is held.

A rejected request stays rejected; the preparer edits the draft (or proposal) and submits
again, which creates a new request linked to the rejected one (`resubmission_of`). Each
approver's decision is one row, so a fresh request gives everybody a fresh decision.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from dualentry_api.client import get_client
from dualentry_api.errors import DualEntryError
from dualentry_api.records import Record, to_jsonable
from portal.approvals import emails
from portal.approvals.models import ApprovalComment, ApprovalDecision, ApprovalRequest
from portal.approvals.selectors import (
    Upstream,
    content_hash,
    current_payload,
    is_stale,
    read_upstream,
    read_usage,
    stale_sentence,
)
from portal.audit import actions
from portal.audit.diff import field_changes
from portal.audit.services import audit_record
from portal.permissions import APPROVE_RECORDS, PREPARE_RECORDS
from portal.records.kinds import RecordKind, get_kind
from portal.records.models import Proposal, SentPayload
from portal.records.payloads import as_decimal, deposit_line_amounts_known, payload_with_line_ids
from portal.records.selectors import last_sent_payload
from portal.records.services import StaleRecord

logger = logging.getLogger(__name__)


State = ApprovalRequest.State
Type = ApprovalRequest.Type
# Requests that PUT a whole refund, deposit or credit.
RECORD_TYPES = (Type.POST_DRAFT, Type.APPLY_CHANGE, Type.ARCHIVE)


class ApprovalError(Exception):
    """A transition was refused for a reason a person can act on; `str()` is the sentence."""


class ApprovalNotAllowed(ApprovalError, PermissionDenied):
    """The person may not do this (role, or deciding their own submission)."""


# Refusals a page shows as a sentence (`str()`); `StaleRecord` is the records layer's one class
# for "changed meanwhile", raised here when the live record moved since submission.
REFUSALS = (ApprovalError, StaleRecord)


# --- transitions -----------------------------------------------------------------------------

_sqlite_transitions = threading.RLock()


@contextmanager
def _transition() -> Iterator[None]:
    """A transaction for one state transition (see the module docstring on concurrency)."""
    if connection.vendor == "sqlite":
        with _sqlite_transitions, transaction.atomic():
            yield
    else:
        with transaction.atomic():
            yield


def _locked(pk: int) -> ApprovalRequest:
    return (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("submitted_by", "proposal")
        .get(pk=pk)
    )


def _move(approval_request: ApprovalRequest, *, to_state: str, **fields: Any) -> None:
    """Write a transition as a compare-and-set on `version`; refuse if someone got there first."""
    now = timezone.now()
    updated = ApprovalRequest.objects.filter(
        pk=approval_request.pk, version=approval_request.version
    ).update(state=to_state, version=F("version") + 1, updated_at=now, **fields)
    if updated != 1:
        raise ApprovalError(
            "Someone else acted on this request at the same moment; reload the page to see "
            "its current state."
        )
    approval_request.state = to_state
    approval_request.version += 1
    approval_request.updated_at = now
    for name, value in fields.items():
        setattr(approval_request, name, value)


def _require(user, permission: str, sentence: str) -> None:
    if not user.is_authenticated or not user.has_perm(permission):
        raise ApprovalNotAllowed(sentence)


def _refuse_own(approval_request: ApprovalRequest, user, verb: str) -> None:
    if approval_request.submitted_by_id == user.pk:
        raise ApprovalNotAllowed(
            f"You cannot {verb} a request you submitted; another approver must decide it."
        )


def _person(user) -> str:
    return user.get_full_name() or user.get_username()


def _notify(event: str, approval_request: ApprovalRequest, actor, request, **extra: Any) -> None:
    """Send the e-mails for a transition once its transaction has committed."""
    transaction.on_commit(
        partial(
            emails.notify,
            event=event,
            approval_request_id=approval_request.pk,
            actor_id=actor.pk if actor is not None else None,
            base_url=request.build_absolute_uri("/") if request is not None else "",
            **extra,
        ),
        robust=True,  # a mail problem is logged; it must not hide a committed transition
    )


def _audit(approval_request: ApprovalRequest, *, actor, action: str, request, **fields) -> None:
    """One audit event for a transition, under the record's key (a contract not created yet:
    its proposal's key, as the edit pages use; its creation: the new contract's id)."""
    key = approval_request.key
    if not key and action == actions.POSTED:
        key = approval_request.upstream_key
    if not key and approval_request.proposal is not None:
        key = approval_request.proposal.audit_key
    summary = fields.pop("summary")
    audit_record(
        actor=actor,
        action=action,
        kind=approval_request.kind,
        key=key,
        company_id=approval_request.company_id,
        summary=f"{summary} (approval request #{approval_request.pk})",
        request=request,
        **fields,
    )


# --- reading DualEntry -----------------------------------------------------------------------


def _kind(kind: RecordKind | str) -> RecordKind:
    return kind if isinstance(kind, RecordKind) else get_kind(kind)


def _resource(kind: RecordKind):
    return getattr(get_client(), kind.resource)


def _title(kind: RecordKind, key: str) -> str:
    return f"{kind.label} {key}" if key else f"new {kind.label}"


# --- amounts ---------------------------------------------------------------------------------


def _lines_total(lines: list[Mapping], rates: Mapping[str, Decimal] | None = None) -> Decimal:
    """Sum of line amounts; lines without an amount count quantity x rate (rate from the line,
    else from `rates` by obligation id)."""
    total = Decimal(0)
    for line in lines:
        amount = as_decimal(line.get("amount"))
        if amount is None:
            quantity = as_decimal(line.get("quantity")) or Decimal(0)
            rate = as_decimal(line.get("rate"))
            if rate is None and rates is not None:
                rate = rates.get(str(line.get("obligation_id")))
            amount = quantity * (rate or Decimal(0))
        total += amount
    return total


def _threshold() -> Decimal:
    return Decimal(str(settings.APPROVAL_DUAL_THRESHOLD))


def _required_approvals(amount: Decimal | None) -> int:
    """Two approvers at or above the threshold; also when the amount cannot be worked out."""
    if amount is None or abs(amount) >= _threshold():
        return 2
    return 1


# --- payloads for records --------------------------------------------------------------------


def _payload_for_record(*, kind: RecordKind, key: str, record: Record, record_status: str) -> dict:
    """The full PUT body for `record` as it is now, with `record_status` set.

    A deposit's GET has no line amounts: its body comes from the last payload the portal sent,
    and only while that still describes the live record's lines."""
    if not kind.returns_line_amounts and last_sent_payload(kind=kind.slug, key=key) is None:
        raise ApprovalError(
            f"Save this {kind.label} in the portal first: DualEntry does not return a "
            f"{kind.label}'s line amounts, so the portal can only send one whose lines it "
            "saved itself."
        )
    payload = current_payload(kind=kind, key=key, record=record)
    if not kind.returns_line_amounts and not deposit_line_amounts_known(payload):
        raise ApprovalError(
            f"{_title(kind, key).capitalize()} was changed outside the portal since the "
            "portal last saved it, so its line amounts are unknown; open it in the portal, "
            "enter the amounts and save it before submitting."
        )
    payload["record_status"] = record_status
    return payload


# --- submitting ------------------------------------------------------------------------------


def _latest_rejected(
    *, type: str, kind: str, key: str, proposal: Proposal | None
) -> ApprovalRequest | None:
    """The rejected request this submission answers: the same proposal's, or for a record
    (a draft, a change, archiving) the record's latest rejected one."""
    rejected = ApprovalRequest.objects.filter(state=State.REJECTED).order_by("-decided_at", "-id")
    if proposal is not None:
        previous = rejected.filter(proposal=proposal).first()
        if previous is not None or type not in RECORD_TYPES:
            return previous
    if not key:
        return None
    return rejected.filter(kind=kind, key=key, type__in=RECORD_TYPES).first()


def _insert_request(
    *,
    type: str,
    kind: RecordKind,
    key: str,
    proposal: Proposal | None,
    payload: dict,
    upstream: Upstream | None,
    company_id: int | None,
    amount: Decimal | None,
    currency: str,
    title: str,
    note: str,
    user,
    request: HttpRequest | None,
    audit_action: str = actions.SUBMITTED,
    changes: dict | None = None,
) -> ApprovalRequest:
    """Create the request, audit and notify; runs inside the caller's `_transition()`."""
    try:
        with transaction.atomic():
            approval_request = ApprovalRequest.objects.create(
                type=type,
                kind=kind.slug,
                key=key,
                proposal=proposal,
                payload=payload,
                payload_hash=content_hash(payload),
                snapshot=upstream.snapshot if upstream is not None else None,
                snapshot_hash=upstream.hash if upstream is not None else "",
                company_id=company_id,
                amount=amount,
                currency=currency,
                required_approvals=_required_approvals(amount),
                title=title,
                note=note.strip(),
                submitted_by=user,
                resubmission_of=_latest_rejected(
                    type=type, kind=kind.slug, key=key, proposal=proposal
                ),
            )
    except IntegrityError as err:
        raise ApprovalError(
            f"{title[0].upper()}{title[1:]} is already waiting for approval; open its request "
            "instead of submitting it again."
        ) from err
    approvers = "two approvers" if approval_request.required_approvals > 1 else "one approver"
    money = f"{currency} {amount:,.2f}; " if amount is not None else ""
    _audit(
        approval_request,
        actor=user,
        action=audit_action,
        request=request,
        summary=f"{_person(user)} submitted {title} for approval ({money}needs {approvers})",
        changes=changes if changes is not None else {},
    )
    _notify("submitted", approval_request, user, request)
    return approval_request


def _refuse_if_open(*, kind: RecordKind, key: str, title: str) -> None:
    if ApprovalRequest.objects.filter(
        kind=kind.slug, key=key, state__in=ApprovalRequest.OPEN_STATES
    ).exists():
        raise ApprovalError(
            f"{title[0].upper()}{title[1:]} is already waiting for approval; open its request "
            "instead of submitting it again."
        )


def approval_submit(
    *,
    kind: RecordKind | str,
    key: str | None = None,
    proposal: Proposal | None = None,
    user,
    request: HttpRequest | None = None,
    note: str = "",
) -> ApprovalRequest:
    """Submit a DualEntry draft for posting, or a proposal (contract, usage batch, change,
    archive) for applying. Fetches the live record, stores its snapshot and the exact payload.

    Raises ApprovalNotAllowed, ApprovalError (with a sentence), or DualEntryError."""
    _require(user, PREPARE_RECORDS, "Only preparers can submit records for approval.")
    kind = _kind(kind)
    if proposal is not None:
        return _submit_proposal(proposal=proposal, user=user, request=request, note=note)
    key = str(key or "")
    if not key:
        raise ApprovalError("Choose the record to submit.")
    if kind.prepared_as_proposal:
        raise ApprovalError(
            f"A {kind.label} is prepared as a proposal in the portal; submit the proposal."
        )
    title = _title(kind, key)
    _refuse_if_open(kind=kind, key=key, title=title)
    record = _resource(kind).get(key)
    status = record.get(kind.status_field)
    if status != "draft":
        raise ApprovalError(
            f"{title.capitalize()} is {status or 'not a draft'}; only drafts are submitted for "
            "posting. To change a posted record, propose a change instead."
        )
    payload = _payload_for_record(kind=kind, key=key, record=record, record_status="posted")
    upstream = Upstream(record=record)
    live_payload = current_payload(kind=kind, key=key, record=record)
    with _transition():
        return _insert_request(
            type=Type.POST_DRAFT,
            kind=kind,
            key=key,
            proposal=None,
            payload=payload,
            upstream=upstream,
            company_id=record.get("company_id"),
            amount=as_decimal(record.get(kind.amount_field)),
            currency=record.get("currency_iso_4217_code") or "",
            title=title,
            note=note,
            user=user,
            request=request,
            changes=field_changes(live_payload, payload),
        )


_PROPOSAL_TYPES = {
    Proposal.Action.CREATE_CONTRACT: Type.CREATE_CONTRACT,
    Proposal.Action.UPSERT_USAGE: Type.UPSERT_USAGE,
    Proposal.Action.CHANGE_RECORD: Type.APPLY_CHANGE,
    Proposal.Action.ARCHIVE_RECORD: Type.ARCHIVE,
}


def _submit_proposal(
    *,
    proposal: Proposal,
    user,
    request: HttpRequest | None,
    note: str,
    upstream: Upstream | None = None,
) -> ApprovalRequest:
    kind = get_kind(proposal.kind)
    request_type = _PROPOSAL_TYPES[proposal.action]
    if proposal.is_applied:
        raise ApprovalError("This proposal has already been applied in DualEntry.")
    payload = to_jsonable(proposal.payload)
    key = proposal.target_key
    if request_type == Type.CREATE_CONTRACT:
        title = f"new contract “{payload.get('name') or 'unnamed'}”"
        amount = _lines_total(payload.get("obligations") or [])
        currency = payload.get("currency_iso_4217_code") or ""
        company_id = payload.get("company_id")
        changes = field_changes(None, payload)
        upstream = None
    elif request_type == Type.UPSERT_USAGE:
        title = f"usage batch for contract {key}"
        contract = _resource(kind).get(key)
        rates = {
            str(obligation.get("id")): as_decimal(obligation.get("rate"))
            for obligation in contract.get("obligations") or []
        }
        amount = _lines_total(payload.get("items") or [], rates)
        currency = contract.get("currency_iso_4217_code") or ""
        company_id = contract.get("company_id")
        upstream = upstream or Upstream(usage=read_usage(contract_id=key))
        changes = {"items": field_changes({"items": []}, payload).get("items", {})}
    else:
        verb = "change to" if request_type == Type.APPLY_CHANGE else "archiving of"
        title = f"{verb} {kind.label} {key}"
        upstream = upstream or Upstream(record=_resource(kind).get(key))
        record = upstream.record
        if proposal.base_snapshot is not None and content_hash(proposal.base_snapshot) != (
            upstream.hash
        ):
            raise StaleRecord(
                f"{kind.label.capitalize()} {key} changed in DualEntry since this change was "
                "prepared; prepare the change again from the current record."
            )
        # A change is checked against the larger of the posted and the proposed total.
        items = payload.get("items") or []
        amounts = [
            value
            for value in (
                as_decimal(record.get(kind.amount_field)),
                _lines_total(items) if items else None,
            )
            if value is not None
        ]
        amount = max(amounts) if amounts else None
        currency = record.get("currency_iso_4217_code") or ""
        company_id = record.get("company_id")
        changes = field_changes(current_payload(kind=kind, key=key, record=record), payload)
    with _transition():
        return _insert_request(
            type=request_type,
            kind=kind,
            key=key,
            proposal=proposal,
            payload=payload,
            upstream=upstream,
            company_id=company_id,
            amount=amount,
            currency=currency,
            title=title,
            note=note,
            user=user,
            request=request,
            audit_action={
                Type.APPLY_CHANGE: actions.CHANGE_REQUESTED,
                Type.ARCHIVE: actions.ARCHIVE_REQUESTED,
            }.get(request_type, actions.SUBMITTED),
            changes=changes,
        )


def _record_for_change(*, kind: RecordKind, key: str, title: str) -> Upstream:
    _refuse_if_open(kind=kind, key=key, title=title)
    if not kind.can_update:
        raise ApprovalError(f"DualEntry does not allow {kind.label_plural} to be changed.")
    return Upstream(record=_resource(kind).get(key))


def change_request_submit(
    *,
    kind: RecordKind | str,
    key: str,
    payload: Mapping[str, Any],
    user,
    request: HttpRequest | None = None,
    note: str = "",
    base_payload: Mapping[str, Any] | None = None,
) -> ApprovalRequest:
    """Propose a change to a posted record: the proposed body is kept in a `records.Proposal`
    (not sent) until approved, then applied after the same stale check.

    `base_payload` is the body the change was prepared from (the form's starting point): if
    DualEntry's record no longer matches it, the change is refused as stale."""
    _require(user, PREPARE_RECORDS, "Only preparers can propose changes.")
    kind = _kind(kind)
    key = str(key)
    title = f"change to {kind.label} {key}"
    upstream = _record_for_change(kind=kind, key=key, title=title)
    status = upstream.record.get(kind.status_field)
    if status != "posted":
        raise ApprovalError(
            f"{kind.label.capitalize()} {key} is {status}; only posted records take change "
            "requests (edit a draft directly)."
        )
    payload = to_jsonable({**payload, "record_status": "posted"})
    current = current_payload(kind=kind, key=key, record=upstream.record)
    if base_payload is not None:
        moved = field_changes(to_jsonable(dict(base_payload)), current)
        if moved:
            raise StaleRecord(
                f"{kind.label.capitalize()} {key} changed in DualEntry since you opened the "
                f"form ({', '.join(sorted(moved))}); reload it and make your change again."
            )
    if not field_changes(current, payload):
        raise ApprovalError(
            "The proposed record is the same as the posted one; change at least one field."
        )
    return _propose(
        kind=kind,
        key=key,
        action=Proposal.Action.CHANGE_RECORD,
        payload=payload,
        upstream=upstream,
        user=user,
        request=request,
        note=note,
    )


def archive_request_submit(
    *,
    kind: RecordKind | str,
    key: str,
    user,
    request: HttpRequest | None = None,
    note: str = "",
) -> ApprovalRequest:
    """Propose archiving a record: its current full body with record_status "archived"."""
    _require(user, PREPARE_RECORDS, "Only preparers can propose archiving a record.")
    kind = _kind(kind)
    key = str(key)
    title = f"archiving of {kind.label} {key}"
    upstream = _record_for_change(kind=kind, key=key, title=title)
    if upstream.record.get(kind.status_field) == "archived":
        raise ApprovalError(f"{kind.label.capitalize()} {key} is already archived.")
    payload = _payload_for_record(
        kind=kind, key=key, record=upstream.record, record_status="archived"
    )
    return _propose(
        kind=kind,
        key=key,
        action=Proposal.Action.ARCHIVE_RECORD,
        payload=payload,
        upstream=upstream,
        user=user,
        request=request,
        note=note,
    )


def _propose(
    *,
    kind: RecordKind,
    key: str,
    action: str,
    payload: dict,
    upstream: Upstream,
    user,
    request: HttpRequest | None,
    note: str,
) -> ApprovalRequest:
    with _transition():
        proposal = Proposal.objects.create(
            kind=kind.slug,
            action=action,
            target_key=key,
            company_id=upstream.record.get("company_id"),
            payload=payload,
            base_snapshot=upstream.snapshot,
            created_by=user,
            updated_by=user,
        )
        return _submit_proposal(
            proposal=proposal, user=user, request=request, note=note, upstream=upstream
        )


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
    _require(user, APPROVE_RECORDS, "Only approvers can approve requests.")
    _refuse_own(approval_request, user, "approve")
    # Read before taking the lock (no HTTP under a lock); the snapshot hash never changes.
    upstream = read_upstream(approval_request)
    stale = is_stale(approval_request, upstream)
    final = False
    with _transition():
        locked = _locked(approval_request.pk)
        _check_approvable(locked, user=user, payload_hash=payload_hash)
        if stale:
            # The refused approval is recorded (committed), then refused.
            _audit(
                locked,
                actor=user,
                action=actions.APPROVED,
                request=request,
                summary=f"Approval by {_person(user)} blocked: the record changed since submission",
                changes=field_changes(locked.snapshot, upstream.snapshot),
                success=False,
                error=stale_sentence(locked),
            )
        else:
            final = _record_approval(locked, user=user, comment=comment, request=request)
    if stale:
        raise StaleRecord(stale_sentence(locked))
    if final:
        return _post(approval_request=locked, actor=user, request=request)
    return locked


def _check_approvable(locked: ApprovalRequest, *, user, payload_hash: str) -> None:
    _refuse_own(locked, user, "approve")
    if locked.state != State.SUBMITTED:
        raise ApprovalError(
            f"This request is {locked.get_state_display().lower()}; it is no longer waiting "
            "for approval."
        )
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
    ApprovalDecision.objects.create(
        approval_request=locked,
        approver=user,
        decision=ApprovalDecision.Decision.APPROVE,
        comment=comment.strip(),
        payload_hash=locked.payload_hash,
    )
    approvals = locked.decisions.filter(decision=ApprovalDecision.Decision.APPROVE).count()
    final = approvals >= locked.required_approvals
    if final:
        # Committed as `posting` before anything is sent (see the module docstring).
        _move(locked, to_state=State.POSTING, decided_at=timezone.now(), post_attempts=1)
    else:
        _move(locked, to_state=State.SUBMITTED)  # bumps version for a concurrent approver
    progress = f"{approvals} of {locked.required_approvals}"
    _audit(
        locked,
        actor=user,
        action=actions.APPROVED,
        request=request,
        summary=(
            f"{_person(user)} approved {locked.title} ({progress})"
            + ("; posting to DualEntry" if final else "; waiting for a second approver")
        ),
    )
    if not final:
        _notify("approved", locked, user, request)
    return final


def approval_reject(
    *,
    approval_request: ApprovalRequest,
    user,
    comment: str,
    request: HttpRequest | None = None,
) -> ApprovalRequest:
    """Reject with a required comment; the preparer edits and submits again."""
    _require(user, APPROVE_RECORDS, "Only approvers can reject requests.")
    _refuse_own(approval_request, user, "reject")
    comment = (comment or "").strip()
    if not comment:
        raise ApprovalError("Say why you reject it: a comment is required.")
    with _transition():
        locked = _locked(approval_request.pk)
        if locked.state != State.SUBMITTED:
            raise ApprovalError(
                f"This request is {locked.get_state_display().lower()}; it can no longer be "
                "rejected."
            )
        if locked.decisions.filter(approver=user).exists():
            raise ApprovalError("You have already decided this request.")
        ApprovalDecision.objects.create(
            approval_request=locked,
            approver=user,
            decision=ApprovalDecision.Decision.REJECT,
            comment=comment,
            payload_hash=locked.payload_hash,
        )
        _move(locked, to_state=State.REJECTED, decided_at=timezone.now())
        _audit(
            locked,
            actor=user,
            action=actions.REJECTED,
            request=request,
            summary=f"{_person(user)} rejected {locked.title}: {comment}",
        )
        _notify("rejected", locked, user, request)
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
    _require(user, PREPARE_RECORDS, "Only preparers can withdraw requests.")
    if approval_request.state == State.POST_FAILED and _already_applied(approval_request):
        raise ApprovalError(
            "DualEntry already shows the approved content; retry posting to record that "
            "instead of withdrawing."
        )
    with _transition():
        locked = _locked(approval_request.pk)
        if locked.state not in (State.SUBMITTED, State.POST_FAILED):
            raise ApprovalError(
                f"This request is {locked.get_state_display().lower()}; it can no longer be "
                "withdrawn."
            )
        _move(locked, to_state=State.WITHDRAWN, decided_at=timezone.now())
        comment = (comment or "").strip()
        if comment:
            ApprovalComment.objects.create(approval_request=locked, author=user, text=comment)
        _audit(
            locked,
            actor=user,
            action=actions.WITHDRAWN,
            request=request,
            summary=f"{_person(user)} withdrew {locked.title}"
            + (f": {comment}" if comment else ""),
        )
        _notify("withdrawn", locked, user, request)
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


# --- posting ---------------------------------------------------------------------------------


def _same_scalar(expected: Any, actual: Any) -> bool:
    if expected in (None, "", []) and actual in (None, "", []):
        return True
    if isinstance(actual, Decimal):
        return as_decimal(expected) == actual
    if hasattr(actual, "isoformat"):
        return str(expected) == actual.isoformat()
    if isinstance(actual, bool) or isinstance(expected, bool):
        return expected == actual
    return str(expected) == str(actual)


def _differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Fields of the sent payload whose value DualEntry's record does not show.

    Only fields both sides have are compared (outputs rename some, e.g. a deposit's
    `account_id`, and compute others); line items are paired by `position` when both sides
    have one, else by order; a value left empty (None) in the payload is DualEntry's to fill."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping | Record):
        found = []
        for name, value in expected.items():
            if name in ("custom_fields", "classifications"):
                continue  # loose shapes that differ between input and output
            if value is None:
                continue  # left to DualEntry (a new line's id, a default it fills in)
            if name not in actual:
                continue
            if name == "attachments":
                wanted = sorted(str(item.get("id")) for item in value or [])
                shown = sorted(str(item.get("id")) for item in actual[name] or [])
                if wanted != shown:
                    found.append(f"{path}{name}")
                continue
            found.extend(_differences(value, actual[name], f"{path}{name}."))
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [path.rstrip(".") or "items"]
        positions = all(
            isinstance(line, Mapping) and line.get("position") is not None
            for line in [*expected, *actual]
        )
        if positions:
            expected = sorted(expected, key=lambda line: int(line["position"]))
            actual = sorted(actual, key=lambda line: int(line["position"]))
        found = []
        for index, (wanted, shown) in enumerate(zip(expected, actual, strict=True)):
            found.extend(_differences(wanted, shown, f"{path.rstrip('.')}[{index}]."))
        return found
    return [] if _same_scalar(expected, actual) else [path.rstrip(".")]


def _record_differences(kind: RecordKind, payload: Mapping, record: Record) -> list[str]:
    found = _differences(payload, record)
    if not kind.returns_line_amounts:
        # The GET has no line amounts; the header total must equal what the lines sent add to.
        sent_total = _lines_total(payload.get("items") or [])
        if as_decimal(record.get(kind.amount_field)) != sent_total:
            found.append(kind.amount_field)
    return found


def _usage_differences(
    payload: Mapping, usage: list[Record], known_ids: set[str]
) -> tuple[list[str], list[str]]:
    """(differences, ids of the usage rows that carry the batch)."""
    by_id = {str(row.get("id")): row for row in usage}
    found: list[str] = []
    ids: list[str] = []
    claimed: set[str] = set()
    for index, line in enumerate(payload.get("items") or []):
        if line.get("id") is not None:
            candidates = [by_id[str(line["id"])]] if str(line["id"]) in by_id else []
        else:
            candidates = [
                row
                for row_id, row in by_id.items()
                if row_id not in known_ids and row_id not in claimed
            ]
        match = next((row for row in candidates if not _differences(line, row)), None)
        if match is None:
            found.append(f"items[{index}]")
            continue
        claimed.add(str(match.get("id")))
        ids.append(str(match.get("id")))
    return found, ids


def _known_usage_ids(approval_request: ApprovalRequest) -> set[str]:
    rows = (approval_request.snapshot or {}).get("usage") or []
    return {str(row.get("id")) for row in rows}


@dataclass
class _Outcome:
    upstream_key: str = ""
    upstream: dict | None = None  # the write call (method, path, status, request id)
    after: dict | None = None  # DualEntry's record as read back
    differences: list[str] = field(default_factory=list)
    sent: bool = True


def _send(approval_request: ApprovalRequest) -> _Outcome:
    """Send exactly the approved payload, read the result back and compare."""
    kind = get_kind(approval_request.kind)
    payload = approval_request.payload
    if approval_request.type == Type.CREATE_CONTRACT:
        created = get_client().contracts.create(payload)
        contract_id = str(created["id"])
        _remember_upstream_key(approval_request, contract_id)
        read_back = get_client().contracts.get(contract_id)
        return _Outcome(
            upstream_key=contract_id,
            upstream=created.upstream.as_dict() if created.upstream else None,
            after=read_back.raw,
            differences=_differences(payload, read_back),
        )
    if approval_request.type == Type.UPSERT_USAGE:
        rows = get_client().contracts.bulk_upsert_usage(approval_request.key, payload)
        usage = read_usage(contract_id=approval_request.key)
        differences, ids = _usage_differences(payload, usage, _known_usage_ids(approval_request))
        return _Outcome(
            upstream_key=approval_request.key,
            upstream=rows[0].upstream.as_dict() if rows and rows[0].upstream else None,
            after={"usage_ids": ids},
            differences=differences,
        )
    written = _resource(kind).update(approval_request.key, payload)
    read_back = _resource(kind).get(approval_request.key)
    return _Outcome(
        upstream_key=approval_request.key,
        upstream=written.upstream.as_dict() if written.upstream else None,
        after=read_back.raw,
        differences=_record_differences(kind, payload, read_back),
    )


def _remember_upstream_key(approval_request: ApprovalRequest, upstream_key: str) -> None:
    """Store a created contract's id at once: a retry must find it, never create another."""
    with _transition():
        ApprovalRequest.objects.filter(pk=approval_request.pk, state=State.POSTING).update(
            upstream_key=upstream_key
        )
    approval_request.upstream_key = upstream_key


def _find_created_contract(approval_request: ApprovalRequest) -> Record | None:
    """A contract matching the approved payload that no other request has claimed (a create
    whose answer was lost)."""
    payload = approval_request.payload
    filters = {
        name: [payload[name]]
        for name in ("company_id", "customer_id")
        if payload.get(name) is not None
    }
    claimed = set(
        ApprovalRequest.objects.filter(type=Type.CREATE_CONTRACT)
        .exclude(pk=approval_request.pk)
        .exclude(upstream_key="")
        .values_list("upstream_key", flat=True)
    )
    for summary in get_client().contracts.iterate(filters=filters):
        if str(summary.get("id")) in claimed or summary.get("name") != payload.get("name"):
            continue
        contract = get_client().contracts.get(summary["id"])
        if not _differences(payload, contract):
            return contract
    return None


def _already_applied(approval_request: ApprovalRequest) -> _Outcome | None:
    """Read DualEntry: if it already holds the approved content, say so (nothing to send)."""
    kind = get_kind(approval_request.kind)
    payload = approval_request.payload
    if approval_request.type == Type.CREATE_CONTRACT:
        if approval_request.upstream_key:
            contract = get_client().contracts.get(approval_request.upstream_key)
        else:
            contract = _find_created_contract(approval_request)
        if contract is None or _differences(payload, contract):
            return None
        return _Outcome(upstream_key=str(contract["id"]), after=contract.raw, sent=False)
    if approval_request.type == Type.UPSERT_USAGE:
        usage = read_usage(contract_id=approval_request.key)
        differences, ids = _usage_differences(payload, usage, _known_usage_ids(approval_request))
        if differences:
            return None
        return _Outcome(upstream_key=approval_request.key, after={"usage_ids": ids}, sent=False)
    record = _resource(kind).get(approval_request.key)
    if _record_differences(kind, payload, record):
        return None
    return _Outcome(upstream_key=approval_request.key, after=record.raw, sent=False)


def _post(
    *, approval_request: ApprovalRequest, actor, request: HttpRequest | None, retry: bool = False
) -> ApprovalRequest:
    """Runs after the request was committed as `posting`; writes the outcome."""
    try:
        outcome = _already_applied(approval_request) if retry else None
        if outcome is None and retry:
            refusal = _retry_refusal(approval_request)
            if refusal:
                return _finish_failed(
                    approval_request, actor=actor, request=request, error=refusal, upstream=None
                )
        if outcome is None:
            outcome = _send(approval_request)
    except DualEntryError as err:
        logger.warning(
            "approval request %s: posting failed: %s", approval_request.pk, err, exc_info=False
        )
        return _finish_failed(
            approval_request,
            actor=actor,
            request=request,
            error=err.user_message,
            upstream=err.upstream,
            request_id=err.request_id or "",
        )
    if outcome.differences:
        return _finish_failed(
            approval_request,
            actor=actor,
            request=request,
            error=(
                "DualEntry accepted the request, but reading the record back shows different "
                f"values for: {', '.join(outcome.differences)}. Check the record in DualEntry "
                "before retrying."
            ),
            upstream=outcome.upstream,
            upstream_key=outcome.upstream_key,
        )
    return _finish_posted(approval_request, actor=actor, request=request, outcome=outcome)


def _retry_refusal(approval_request: ApprovalRequest) -> str:
    """Why sending again would be unsafe, or "" (DualEntry still shows the state the request
    was approved against, so nothing of it was applied)."""
    if approval_request.type == Type.CREATE_CONTRACT:
        if approval_request.upstream_key:
            return (
                f"DualEntry created contract {approval_request.upstream_key} for this request, "
                "but it differs from what was approved; check it in DualEntry."
            )
        return ""
    if is_stale(approval_request, read_upstream(approval_request)):
        return (
            "The record in DualEntry no longer matches what was approved or what it was "
            "prepared against, so nothing was sent again; withdraw this request and submit "
            "again."
        )
    return ""


def _finish_posted(
    approval_request: ApprovalRequest, *, actor, request: HttpRequest | None, outcome: _Outcome
) -> ApprovalRequest:
    with _transition():
        locked = _locked(approval_request.pk)
        if locked.state != State.POSTING:
            raise ApprovalError("This request was finished by someone else in the meantime.")
        _move(
            locked,
            to_state=State.POSTED,
            posted_at=timezone.now(),
            upstream_key=outcome.upstream_key,
            upstream_request_id=(outcome.upstream or {}).get("request_id") or "",
            post_error="",
        )
        if locked.proposal is not None:
            Proposal.objects.filter(pk=locked.proposal_id).update(result_key=outcome.upstream_key)
        if locked.type in RECORD_TYPES and outcome.after is not None:
            # What the portal sent is what a later edit or change request starts from (a
            # deposit's line amounts exist nowhere else).
            kind = get_kind(locked.kind)
            SentPayload.objects.remember(
                kind=kind.slug,
                key=locked.key,
                payload=payload_with_line_ids(
                    kind=kind, payload=locked.payload, record=outcome.after
                ),
                user=actor,
            )
        how = (
            "posted to DualEntry"
            if outcome.sent
            else "found already applied in DualEntry; nothing was sent again"
        )
        _audit(
            locked,
            actor=actor,
            action=actions.POSTED,
            request=request,
            summary=f"{locked.title[0].upper()}{locked.title[1:]} {how}",
            before=locked.snapshot,
            after=outcome.after,
            upstream=outcome.upstream,
        )
        _notify("posted", locked, actor, request)
    return locked


def _finish_failed(
    approval_request: ApprovalRequest,
    *,
    actor,
    request: HttpRequest | None,
    error: str,
    upstream: dict | None,
    request_id: str = "",
    upstream_key: str = "",
) -> ApprovalRequest:
    with _transition():
        locked = _locked(approval_request.pk)
        if locked.state != State.POSTING:
            raise ApprovalError("This request was finished by someone else in the meantime.")
        fields: dict[str, Any] = {"post_error": error, "upstream_request_id": request_id}
        if upstream_key:
            fields["upstream_key"] = upstream_key
        _move(locked, to_state=State.POST_FAILED, **fields)
        _audit(
            locked,
            actor=actor,
            action=actions.POST_FAILED,
            request=request,
            summary=f"Posting {locked.title} to DualEntry failed",
            upstream=upstream,
            success=False,
            error=error,
        )
        _notify("post_failed", locked, actor, request)
    return locked


def approval_retry(
    *, approval_request: ApprovalRequest, user, request: HttpRequest | None = None
) -> ApprovalRequest:
    """Post again after a failure. Reads DualEntry first: if the approved content is already
    there, the request is marked posted without sending anything."""
    if approval_request.submitted_by_id != user.pk:
        _require(user, APPROVE_RECORDS, "Only approvers and the submitter can retry posting.")
    with _transition():
        locked = _locked(approval_request.pk)
        if not locked.can_be_retried:
            if locked.state == State.POSTING:
                raise ApprovalError("This request is being posted right now; wait for the outcome.")
            raise ApprovalError(
                f"This request is {locked.get_state_display().lower()}; there is nothing to retry."
            )
        _move(locked, to_state=State.POSTING, post_attempts=locked.post_attempts + 1)
    return _post(approval_request=locked, actor=user, request=request, retry=True)
