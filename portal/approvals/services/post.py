"""Posting an approved request: send exactly the approved payload, read it back and compare,
write the outcome; retry after a failure (reading upstream first, never sending twice)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from dualentry_api.client import get_client
from dualentry_api.errors import DualEntryError
from dualentry_api.ratelimit import Lane, use_lane
from dualentry_api.records import Record
from portal.approvals.models import ApprovalRequest
from portal.approvals.selectors import (
    is_stale,
    read_upstream,
    read_usage,
)
from portal.approvals.services import transitions
from portal.audit import actions
from portal.permissions import APPROVE_RECORDS
from portal.readmodel.services import mirror_record
from portal.records.kinds import CONTRACTS, RecordKind, get_kind
from portal.records.models import Proposal, SentPayload
from portal.records.payloads import as_decimal, payload_with_line_ids

logger = logging.getLogger(__name__)


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
        sent_total = transitions.lines_total(payload.get("items") or [])
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
    if approval_request.type == transitions.Type.CREATE_CONTRACT:
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
    if approval_request.type == transitions.Type.UPSERT_USAGE:
        rows = get_client().contracts.bulk_upsert_usage(approval_request.key, payload)
        usage = read_usage(contract_id=approval_request.key)
        differences, ids = _usage_differences(payload, usage, _known_usage_ids(approval_request))
        return _Outcome(
            upstream_key=approval_request.key,
            upstream=rows[0].upstream.as_dict() if rows and rows[0].upstream else None,
            after={"usage_ids": ids},
            differences=differences,
        )
    written = transitions.resource_of(kind).update(approval_request.key, payload)
    read_back = transitions.resource_of(kind).get(approval_request.key)
    return _Outcome(
        upstream_key=approval_request.key,
        upstream=written.upstream.as_dict() if written.upstream else None,
        after=read_back.raw,
        differences=_record_differences(kind, payload, read_back),
    )


def _remember_upstream_key(approval_request: ApprovalRequest, upstream_key: str) -> None:
    """Store a created contract's id at once: a retry must find it, never create another."""
    with transitions.transition():
        ApprovalRequest.objects.filter(
            pk=approval_request.pk, state=transitions.State.POSTING
        ).update(upstream_key=upstream_key)
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
        ApprovalRequest.objects.filter(type=transitions.Type.CREATE_CONTRACT)
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


def already_applied(approval_request: ApprovalRequest) -> _Outcome | None:
    """Read DualEntry: if it already holds the approved content, say so (nothing to send)."""
    kind = get_kind(approval_request.kind)
    payload = approval_request.payload
    if approval_request.type == transitions.Type.CREATE_CONTRACT:
        if approval_request.upstream_key:
            contract = get_client().contracts.get(approval_request.upstream_key)
        else:
            contract = _find_created_contract(approval_request)
        if contract is None or _differences(payload, contract):
            return None
        return _Outcome(upstream_key=str(contract["id"]), after=contract.raw, sent=False)
    if approval_request.type == transitions.Type.UPSERT_USAGE:
        usage = read_usage(contract_id=approval_request.key)
        differences, ids = _usage_differences(payload, usage, _known_usage_ids(approval_request))
        if differences:
            return None
        return _Outcome(upstream_key=approval_request.key, after={"usage_ids": ids}, sent=False)
    record = transitions.resource_of(kind).get(approval_request.key)
    if _record_differences(kind, payload, record):
        return None
    return _Outcome(upstream_key=approval_request.key, after=record.raw, sent=False)


def post_request(
    *, approval_request: ApprovalRequest, actor, request: HttpRequest | None, retry: bool = False
) -> ApprovalRequest:
    """Runs after the request was committed as `posting`; writes the outcome."""
    try:
        # Writes and the reads that belong to them (retry's check, the read-back) take the
        # budget's write lane, so people browsing meanwhile cannot make a posting fail.
        with use_lane(Lane.WRITE):
            outcome = already_applied(approval_request) if retry else None
            if outcome is None and retry:
                refusal = _retry_refusal(approval_request)
                if refusal:
                    return _finish_failed(
                        approval_request,
                        actor=actor,
                        request=request,
                        error=refusal,
                        upstream=None,
                    )
            if outcome is None:
                outcome = _send(approval_request)
            _mirror_outcome(approval_request, outcome)
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


def _mirror_outcome(approval_request: ApprovalRequest, outcome: _Outcome) -> None:
    """Copy what DualEntry holds after the posting into the read model, in this request, so
    the record's page and lists show it at once (also when the read-back differs)."""
    if approval_request.type == transitions.Type.UPSERT_USAGE:
        # The usage endpoint answers rows, not the contract: re-read the contract (its
        # obligations' usage changed). The posting stands even if this read fails.
        try:
            contract = get_client().contracts.get(approval_request.key)
        except DualEntryError as err:
            logger.warning("contract %s not re-read after usage: %s", approval_request.key, err)
            return
        mirror_record(kind=CONTRACTS.slug, record=contract)
        return
    if outcome.after is not None:
        mirror_record(kind=approval_request.kind, record=outcome.after)


def _retry_refusal(approval_request: ApprovalRequest) -> str:
    """Why sending again would be unsafe, or "" (DualEntry still shows the state the request
    was approved against, so nothing of it was applied)."""
    if approval_request.type == transitions.Type.CREATE_CONTRACT:
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


def _lock_while_posting(approval_request: ApprovalRequest) -> ApprovalRequest:
    """The request, row-locked, still `posting` (else someone else finished it meanwhile)."""
    locked = transitions.lock_request(approval_request.pk)
    if locked.state != transitions.State.POSTING:
        raise transitions.ApprovalError(
            "This request was finished by someone else in the meantime."
        )
    return locked


def _finish_posted(
    approval_request: ApprovalRequest, *, actor, request: HttpRequest | None, outcome: _Outcome
) -> ApprovalRequest:
    with transitions.transition():
        locked = _lock_while_posting(approval_request)
        transitions.move(
            locked,
            to_state=transitions.State.POSTED,
            posted_at=timezone.now(),
            upstream_key=outcome.upstream_key,
            upstream_request_id=(outcome.upstream or {}).get("request_id") or "",
            post_error="",
        )
        if locked.proposal is not None:
            Proposal.objects.filter(pk=locked.proposal_id).update(result_key=outcome.upstream_key)
        if locked.type in transitions.RECORD_TYPES and outcome.after is not None:
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
        transitions.audit_transition(
            locked,
            actions.POSTED,
            f"{locked.title[0].upper()}{locked.title[1:]} {how}",
            actor=actor,
            request=request,
            before=locked.snapshot,
            after=outcome.after,
            upstream=outcome.upstream,
        )
        transitions.notify("posted", locked, actor, request)
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
    with transitions.transition():
        locked = _lock_while_posting(approval_request)
        fields: dict[str, Any] = {"post_error": error, "upstream_request_id": request_id}
        if upstream_key:
            fields["upstream_key"] = upstream_key
        transitions.move(locked, to_state=transitions.State.POST_FAILED, **fields)
        transitions.audit_transition(
            locked,
            actions.POST_FAILED,
            f"Posting {locked.title} to DualEntry failed",
            actor=actor,
            request=request,
            upstream=upstream,
            success=False,
            error=error,
        )
        transitions.notify("post_failed", locked, actor, request)
    return locked


def approval_retry(
    *, approval_request: ApprovalRequest, user, request: HttpRequest | None = None
) -> ApprovalRequest:
    """Post again after a failure. Reads DualEntry first: if the approved content is already
    there, the request is marked posted without sending anything."""
    if approval_request.submitted_by_id != user.pk:
        transitions.require_permission(
            user, APPROVE_RECORDS, "Only approvers and the submitter can retry posting."
        )
    with transitions.transition():
        locked = transitions.lock_request(approval_request.pk)
        if not locked.can_be_retried:
            if locked.state == transitions.State.POSTING:
                raise transitions.ApprovalError(
                    "This request is being posted right now; wait for the outcome."
                )
            raise transitions.wrong_state(locked, "there is nothing to retry.")
        transitions.move(
            locked, to_state=transitions.State.POSTING, post_attempts=locked.post_attempts + 1
        )
    return post_request(approval_request=locked, actor=user, request=request, retry=True)
