"""Transitions of an approval request: the refusals, the transaction and row lock every
transition runs in, the compare-and-set state write, its audit event and notification.

See `portal.approvals.services` for the rules and the concurrency design."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from functools import partial
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from dualentry_api.client import get_client
from portal.approvals import emails
from portal.approvals.models import ApprovalRequest
from portal.audit import actions
from portal.audit.services import audit_record
from portal.records import money_rules
from portal.records.kinds import RecordKind, get_kind
from portal.records.payloads import as_decimal
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


class MoneyRulesBroken(ApprovalError):
    """The record breaks a money rule now (`portal.records.money_rules`, checked live)."""

    def __init__(self, sentence: str, problems: list[str]) -> None:
        super().__init__(sentence)
        self.problems = problems


def refuse_broken_money_rules(
    *, kind: RecordKind, key: str, payload: Mapping, verb: str, live_record: Mapping | None = None
) -> None:
    """The money rules against DualEntry as it is now (sources re-read in the write lane):
    raise `MoneyRulesBroken` naming every broken rule, so nothing is submitted or posted.
    `live_record`: the posted record a change replaces (what it applies counts as free).
    Raises DualEntryError when DualEntry cannot be read."""
    check = money_rules.check_payload_live(
        kind_slug=kind.slug, payload=payload, exclude_key=key, own_posted=live_record
    )
    if check.ok:
        return
    sentences = check.sentences()
    raise MoneyRulesBroken(
        f"{title_of(kind, key).capitalize()} cannot be {verb}: " + " ".join(sentences),
        sentences,
    )


# Refusals a page shows as a sentence (`str()`); `StaleRecord` is the records layer's one class
# for "changed meanwhile", raised here when the live record moved since submission.
REFUSALS = (ApprovalError, StaleRecord)


# --- transitions -----------------------------------------------------------------------------

_sqlite_transitions = threading.RLock()


@contextmanager
def transition() -> Iterator[None]:
    """A transaction for one state transition (see the module docstring on concurrency)."""
    if connection.vendor == "sqlite":
        with _sqlite_transitions, transaction.atomic():
            yield
    else:
        with transaction.atomic():
            yield


def lock_request(pk: int) -> ApprovalRequest:
    return (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("submitted_by", "proposal")
        .get(pk=pk)
    )


def move(approval_request: ApprovalRequest, *, to_state: str, **fields: Any) -> None:
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


def wrong_state(approval_request: ApprovalRequest, consequence: str) -> ApprovalError:
    """The refusal for a request whose state does not allow the transition, worded the same for
    every transition: "This request is posted; it can no longer be rejected."."""
    state = approval_request.get_state_display().lower()
    return ApprovalError(f"This request is {state}; {consequence}")


def require_permission(user, permission: str, sentence: str) -> None:
    if not user.is_authenticated or not user.has_perm(permission):
        raise ApprovalNotAllowed(sentence)


def refuse_own(approval_request: ApprovalRequest, user, verb: str) -> None:
    if approval_request.submitted_by_id == user.pk:
        raise ApprovalNotAllowed(
            f"You cannot {verb} a request you submitted; another approver must decide it."
        )


def person_name(user) -> str:
    return user.get_full_name() or user.get_username()


def notify(event: str, approval_request: ApprovalRequest, actor, request, **extra: Any) -> None:
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


def audit_transition(
    approval_request: ApprovalRequest, action: str, summary: str, *, actor, request, **fields
) -> None:
    """One audit event for a transition (`summary` gets the request's number), under the
    record's key (a contract not created yet: its proposal's key, as the edit pages use; its
    creation: the new contract's id)."""
    key = approval_request.key
    if not key and action == actions.POSTED:
        key = approval_request.upstream_key
    if not key and approval_request.proposal is not None:
        key = approval_request.proposal.audit_key
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


def kind_of(kind: RecordKind | str) -> RecordKind:
    return kind if isinstance(kind, RecordKind) else get_kind(kind)


def resource_of(kind: RecordKind):
    return getattr(get_client(), kind.resource)


def title_of(kind: RecordKind, key: str) -> str:
    return f"{kind.label} {key}" if key else f"new {kind.label}"


# --- amounts ---------------------------------------------------------------------------------


def lines_total(lines: list[Mapping], rates: Mapping[str, Decimal] | None = None) -> Decimal:
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
