"""Submitting for approval: a draft, a proposal, a change to a posted record, archiving."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from dualentry_api.records import Record, to_jsonable
from portal.approvals.models import ApprovalRequest
from portal.approvals.selectors import (
    Upstream,
    content_hash,
    current_payload,
    read_usage,
)
from portal.approvals.services.transitions import (
    RECORD_TYPES,
    ApprovalError,
    State,
    Type,
    audit_transition,
    kind_of,
    lines_total,
    notify,
    person_name,
    refuse_broken_money_rules,
    require_permission,
    resource_of,
    title_of,
    transition,
)
from portal.audit import actions
from portal.audit.diff import field_changes
from portal.permissions import PREPARE_RECORDS
from portal.records.kinds import RecordKind, get_kind
from portal.records.models import Proposal
from portal.records.payloads import as_decimal, deposit_line_amounts_known
from portal.records.selectors import last_sent_payload
from portal.records.services import StaleRecord

logger = logging.getLogger(__name__)


# --- amounts ---------------------------------------------------------------------------------


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
            f"{title_of(kind, key).capitalize()} was changed outside the portal since the "
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


# The audit action of submitting each type of request (others: `actions.SUBMITTED`).
_SUBMIT_ACTIONS = {
    Type.APPLY_CHANGE: actions.CHANGE_REQUESTED,
    Type.ARCHIVE: actions.ARCHIVE_REQUESTED,
}


def _insert_request(
    *,
    type: str,
    kind: RecordKind,
    key: str,
    proposal: Proposal | None = None,
    payload: dict,
    upstream: Upstream | None,
    header: Mapping[str, Any] | Record,
    amount: Decimal | None,
    title: str,
    note: str,
    user,
    request: HttpRequest | None,
    changes: dict,
) -> ApprovalRequest:
    """Create the request, audit and notify; runs inside the caller's `transition()`.

    `header` is what the request is about (the record, the contract, or a new contract's body):
    it gives the request's company and currency."""
    currency = header.get("currency_iso_4217_code") or ""
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
                company_id=header.get("company_id"),
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
    audit_transition(
        approval_request,
        _SUBMIT_ACTIONS.get(type, actions.SUBMITTED),
        f"{person_name(user)} submitted {title} for approval ({money}needs {approvers})",
        actor=user,
        request=request,
        changes=changes,
    )
    notify("submitted", approval_request, user, request)
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
    require_permission(user, PREPARE_RECORDS, "Only preparers can submit records for approval.")
    kind = kind_of(kind)
    if proposal is not None:
        return _submit_proposal(proposal=proposal, user=user, request=request, note=note)
    key = str(key or "")
    if not key:
        raise ApprovalError("Choose the record to submit.")
    if kind.prepared_as_proposal:
        raise ApprovalError(
            f"A {kind.label} is prepared as a proposal in the portal; submit the proposal."
        )
    title = title_of(kind, key)
    _refuse_if_open(kind=kind, key=key, title=title)
    record = resource_of(kind).get(key)
    status = record.get(kind.status_field)
    if status != "draft":
        raise ApprovalError(
            f"{title.capitalize()} is {status or 'not a draft'}; only drafts are submitted for "
            "posting. To change a posted record, propose a change instead."
        )
    payload = _payload_for_record(kind=kind, key=key, record=record, record_status="posted")
    refuse_broken_money_rules(kind=kind, key=key, payload=payload, verb="submitted")
    live_payload = current_payload(kind=kind, key=key, record=record)
    with transition():
        return _insert_request(
            type=Type.POST_DRAFT,
            kind=kind,
            key=key,
            payload=payload,
            upstream=Upstream(record=record),
            header=record,
            amount=as_decimal(record.get(kind.amount_field)),
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
        amount = lines_total(payload.get("obligations") or [])
        header = payload
        changes = field_changes(None, payload)
        upstream = None
    elif request_type == Type.UPSERT_USAGE:
        contract = resource_of(kind).get(key)
        title = f"usage batch for contract {contract.get('number') or key}"
        rates = {
            str(obligation.get("id")): as_decimal(obligation.get("rate"))
            for obligation in contract.get("obligations") or []
        }
        amount = lines_total(payload.get("items") or [], rates)
        header = contract
        upstream = upstream or Upstream(usage=read_usage(contract_id=key))
        changes = {"items": field_changes({"items": []}, payload).get("items", {})}
    else:
        verb = "change to" if request_type == Type.APPLY_CHANGE else "archiving of"
        title = f"{verb} {kind.label} {key}"
        upstream = upstream or Upstream(record=resource_of(kind).get(key))
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
                lines_total(items) if items else None,
            )
            if value is not None
        ]
        amount = max(amounts) if amounts else None
        header = record
        changes = field_changes(current_payload(kind=kind, key=key, record=record), payload)
    with transition():
        return _insert_request(
            type=request_type,
            kind=kind,
            key=key,
            proposal=proposal,
            payload=payload,
            upstream=upstream,
            header=header,
            amount=amount,
            title=title,
            note=note,
            user=user,
            request=request,
            changes=changes,
        )


def _record_for_change(*, kind: RecordKind, key: str, title: str) -> Upstream:
    _refuse_if_open(kind=kind, key=key, title=title)
    if not kind.can_update:
        raise ApprovalError(f"DualEntry does not allow {kind.label_plural} to be changed.")
    return Upstream(record=resource_of(kind).get(key))


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
    require_permission(user, PREPARE_RECORDS, "Only preparers can propose changes.")
    kind = kind_of(kind)
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
    refuse_broken_money_rules(
        kind=kind,
        key=key,
        payload=payload,
        verb="changed so",
        live_record=upstream.record.raw if isinstance(upstream.record, Record) else None,
    )
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
    proposal = Proposal(
        kind=kind.slug, action=Proposal.Action.CHANGE_RECORD, target_key=key, payload=payload
    )
    return _propose(proposal, upstream=upstream, user=user, request=request, note=note)


def archive_request_submit(
    *,
    kind: RecordKind | str,
    key: str,
    user,
    request: HttpRequest | None = None,
    note: str = "",
) -> ApprovalRequest:
    """Propose archiving a record: its current full body with record_status "archived"."""
    require_permission(user, PREPARE_RECORDS, "Only preparers can propose archiving a record.")
    kind = kind_of(kind)
    key = str(key)
    title = f"archiving of {kind.label} {key}"
    upstream = _record_for_change(kind=kind, key=key, title=title)
    if upstream.record.get(kind.status_field) == "archived":
        raise ApprovalError(f"{kind.label.capitalize()} {key} is already archived.")
    payload = _payload_for_record(
        kind=kind, key=key, record=upstream.record, record_status="archived"
    )
    proposal = Proposal(
        kind=kind.slug, action=Proposal.Action.ARCHIVE_RECORD, target_key=key, payload=payload
    )
    return _propose(proposal, upstream=upstream, user=user, request=request, note=note)


def _propose(
    proposal: Proposal, *, upstream: Upstream, user, request: HttpRequest | None, note: str
) -> ApprovalRequest:
    """Save `proposal`, a change to `upstream`'s record, and submit it in one transaction: a
    refused submission leaves no proposal behind."""
    with transition():
        proposal.company_id = upstream.record.get("company_id")
        proposal.base_snapshot = upstream.snapshot
        proposal.created_by = proposal.updated_by = user
        proposal.save(force_insert=True)
        return _submit_proposal(
            proposal=proposal, user=user, request=request, note=note, upstream=upstream
        )
