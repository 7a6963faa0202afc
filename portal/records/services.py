"""Writes of the edit area: drafts to DualEntry, proposals to the portal's database.

- `record_save_draft`: create or update a refund, deposit or credit as a DualEntry draft. Every
  save sends `record_status: "draft"`; an update re-reads the record first and refuses to
  overwrite a change made since the form was loaded (`StaleRecord`), a record that is not a
  draft (`RecordNotEditable`) or one waiting for approval (`RecordLocked`).
- `proposal_save`: a contract or a contract usage batch kept in the portal until approved.
- `SentPayload.objects.remember`: the last full body sent per record (deposits' GET lacks
  amounts).
- Form tokens: a create form submitted twice creates one record; the second submission is
  sent to the first one's result (`AlreadySubmitted`).

Every save that reaches this module, successful or not, is written to the audit log.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from dualentry_api.client import get_client
from dualentry_api.errors import DualEntryError, NotFound
from dualentry_api.ratelimit import Lane, use_lane
from dualentry_api.records import Record, to_jsonable
from portal.approvals.models import ApprovalRequest
from portal.audit import actions
from portal.audit.diff import field_changes
from portal.audit.services import audit_record
from portal.permissions import PREPARE_RECORDS
from portal.readmodel.services import mirror_record, mirror_removed
from portal.records.kinds import CONTRACTS, RecordKind
from portal.records.models import FormToken, Proposal, SentPayload
from portal.records.payloads import (
    payload_with_attachments,
    payload_with_custom_fields,
    payload_with_line_ids,
)
from portal.records.selectors import (
    draft_editability,
    record_as_payload,
    record_number,
    record_version,
)

logger = logging.getLogger(__name__)

DRAFT = "draft"
# How long a second submission of a form waits for the first one to finish.
FORM_TOKEN_WAIT_SECONDS = 10.0
FORM_TOKEN_POLL_SECONDS = 0.25
FORM_TOKEN_KEEP = timedelta(days=30)
_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


# --- refusals (nothing was sent) -----------------------------------------------------------


class SaveRefused(Exception):
    """The save was refused before anything was sent; `message` says why, for people."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class RecordLocked(SaveRefused):
    """An approval request for the record is open: it cannot be edited meanwhile."""


class RecordNotEditable(SaveRefused):
    """The record is posted or archived (changes to those go through change requests)."""


class StaleRecord(SaveRefused):
    """The record (or proposal) changed since it was prepared; nothing was overwritten.

    The one class for "changed meanwhile": an edit form's save (here) and a submission or an
    approval (`portal.approvals.services`). For an edit form, `version` is the current version,
    `current_payload` the current record as a body, `changes` what changed meanwhile
    (`portal.audit.diff.field_changes` format) and `current_total` the record's total as
    DualEntry states it (None for proposals); an approval's refusal carries the sentence only.
    """

    def __init__(
        self,
        message: str,
        *,
        version: str = "",
        current_payload: dict | None = None,
        changes: dict | None = None,
        current_total: Any = None,
    ) -> None:
        super().__init__(message)
        self.version = version
        self.current_payload = current_payload if current_payload is not None else {}
        self.changes = changes if changes is not None else {}
        self.current_total = current_total


class AlreadySubmitted(SaveRefused):
    """This form was saved before: `result_url` is where the first submission's result is."""

    def __init__(self, message: str, *, result_url: str, result_key: str) -> None:
        super().__init__(message)
        self.result_url = result_url
        self.result_key = result_key


class StillSaving(SaveRefused):
    """The first submission of this form has not finished (or was interrupted)."""


# --- helpers -----------------------------------------------------------------------------------


def _require_preparer(user) -> None:
    if not user.has_perm(PREPARE_RECORDS):
        raise PermissionDenied("Only preparers can create or edit records.")


def _slug(kind: RecordKind | str) -> str:
    return getattr(kind, "slug", kind)


def _resource(kind: RecordKind):
    return getattr(get_client(), kind.resource)


def _upstream(record: Record) -> dict | None:
    info = getattr(record, "upstream", None)
    return info.as_dict() if info is not None else None


# --- the read model's copy of one record ------------------------------------------------------


def record_refresh(*, kind: RecordKind, key: str | int, lane: Lane = Lane.INTERACTIVE) -> Record:
    """Read one record live from DualEntry (charged to `lane`) and copy the answer into the
    read model. NotFound marks the copy removed and propagates; RateLimited (the budget
    refused the lane) and other DualEntry errors propagate with the copy unchanged."""
    try:
        with use_lane(lane):
            record = _resource(kind).get(str(key))
    except NotFound:
        mirror_removed(kind=kind.slug, key=key)
        raise
    mirror_record(kind=kind.slug, record=record)
    return record


# --- form tokens -------------------------------------------------------------------------------


def form_token_new() -> str:
    """A token for a new create form (recorded only when the form is submitted)."""
    return secrets.token_urlsafe(24)


def _token_claim(*, token: str, kind_slug: str, user) -> FormToken:
    """Record the token, or raise if this form was submitted before."""
    if not _TOKEN_PATTERN.match(token or ""):
        raise SaveRefused(
            "This form is missing its one-time token (perhaps it was opened from an old page). "
            "Your input is kept below: save again to continue."
        )
    FormToken.objects.filter(created_at__lt=timezone.now() - FORM_TOKEN_KEEP).delete()
    try:
        with transaction.atomic():
            return FormToken.objects.create(token=token, kind=kind_slug, user=user)
    except IntegrityError:
        pass
    existing = FormToken.objects.get(token=token)
    if existing.user_id != user.pk or existing.kind != kind_slug:
        raise SaveRefused("This form belongs to another session; open a new form to continue.")
    waited = 0.0
    while existing.state == FormToken.State.PENDING and waited < FORM_TOKEN_WAIT_SECONDS:
        time.sleep(FORM_TOKEN_POLL_SECONDS)
        waited += FORM_TOKEN_POLL_SECONDS
        existing.refresh_from_db()
    if existing.state == FormToken.State.DONE:
        raise AlreadySubmitted(
            "This form was already saved; here is the result of the first submission.",
            result_url=existing.result_url,
            result_key=existing.result_key,
        )
    raise StillSaving(
        "This form is still being saved from an earlier click, or that attempt was "
        "interrupted. Check the drafts list before saving it again."
    )


def _token_done(token: FormToken | None, *, result_key: str, result_url: str) -> None:
    if token is None:
        return
    token.state = FormToken.State.DONE
    token.result_key = result_key
    token.result_url = result_url
    token.save(update_fields=["state", "result_key", "result_url", "updated_at"])


def _token_release(token: FormToken | None) -> None:
    """The save failed: the same form may be submitted again."""
    if token is not None:
        FormToken.objects.filter(pk=token.pk, state=FormToken.State.PENDING).delete()


# --- drafts in DualEntry -----------------------------------------------------------------------


def record_save_draft(
    *,
    kind: RecordKind,
    key: str | None,
    payload: Mapping[str, Any],
    user,
    request: HttpRequest | None,
    expected_version: str | None = None,
    form_token: str | None = None,
    base_payload: Mapping[str, Any] | None = None,
) -> Record:
    """Create (`key` None) or update a DualEntry draft and return the saved record.

    Always sends `record_status: "draft"`. An update re-reads the record and refuses to save
    if it is locked by an open approval request, no longer a draft, or changed since
    `expected_version` (the version the form was loaded from; `base_payload` is the body it
    was loaded with, so the refusal can list what changed meanwhile). DualEntry errors
    propagate (`dualentry_api.errors`) after being audited.
    """
    _require_preparer(user)
    if kind.prepared_as_proposal:
        raise ValueError(f"{kind.label_plural} are prepared as proposals (proposal_save).")
    payload = {**payload, "record_status": DRAFT}
    if key is None:
        return _draft_create(
            kind=kind, payload=payload, user=user, request=request, token=form_token
        )
    return _draft_update(
        kind=kind,
        key=str(key),
        payload=payload,
        user=user,
        request=request,
        expected_version=expected_version,
        base_payload=base_payload,
    )


def _audit_failure(
    *,
    kind: RecordKind,
    key: str,
    user,
    request: HttpRequest | None,
    payload: Mapping[str, Any],
    error: Exception,
    before: Mapping[str, Any] | None = None,
    summary: str,
) -> None:
    upstream = error.upstream if isinstance(error, DualEntryError) else None
    message = error.message if isinstance(error, SaveRefused) else str(error)
    audit_record(
        actor=user,
        action=actions.SAVE_FAILED,
        kind=kind.slug,
        key=key,
        company_id=payload.get("company_id"),
        summary=summary,
        before=dict(before) if before is not None else None,
        after=dict(payload),
        upstream=upstream,
        request=request,
        success=False,
        error=message,
    )


def _draft_saved(*, kind: RecordKind, key: str, sent: dict, record: Record, user) -> None:
    """After DualEntry took a draft: the copy shows it at once, and the body sent is kept (with
    the line ids DualEntry gave) for the reads that omit line amounts."""
    mirror_record(kind=kind.slug, record=record)
    remembered = payload_with_line_ids(kind=kind, payload=sent, record=record)
    SentPayload.objects.remember(kind=kind.slug, key=key, payload=remembered, user=user)


def _draft_create(
    *, kind: RecordKind, payload: dict, user, request: HttpRequest | None, token: str | None
) -> Record:
    claimed = _token_claim(token=token, kind_slug=kind.slug, user=user) if token else None
    try:
        with use_lane(Lane.WRITE):
            record = _resource(kind).create(payload)
    except DualEntryError as error:
        _token_release(claimed)
        _audit_failure(
            kind=kind,
            key="",
            user=user,
            request=request,
            payload=payload,
            error=error,
            summary=f"New {kind.label} draft not saved",
        )
        raise
    key = kind.key_of(record)
    _draft_saved(kind=kind, key=key, sent=payload, record=record, user=user)
    _token_done(
        claimed,
        result_key=key,
        result_url=reverse("records:detail", kwargs={"kind": kind.slug, "key": key}),
    )
    audit_record(
        actor=user,
        action=actions.RECORD_CREATED,
        kind=kind.slug,
        key=key,
        company_id=payload.get("company_id"),
        summary=f"Draft {kind.label} {key} created",
        before=None,
        after=payload,
        upstream=_upstream(record),
        request=request,
    )
    return record


def _draft_update(
    *,
    kind: RecordKind,
    key: str,
    payload: dict,
    user,
    request: HttpRequest | None,
    expected_version: str | None,
    base_payload: Mapping[str, Any] | None,
) -> Record:
    resource = _resource(kind)
    label = f"{kind.label} {key}"
    before: dict | None = None
    try:
        with use_lane(Lane.WRITE):
            current = resource.get(key)
        mirror_record(kind=kind.slug, record=current)
        editability = draft_editability(kind=kind, key=key, record=current)
        if editability.locked:
            raise RecordLocked(editability.refusal)
        if not editability.editable:
            raise RecordNotEditable(editability.refusal)
        before = record_as_payload(kind=kind, key=key, record=current)
        version = record_version(current)
        if expected_version is not None and version != expected_version:
            changes = field_changes(
                to_jsonable(dict(base_payload if base_payload is not None else payload)),
                to_jsonable(before),
            )
            if base_payload is None:  # the form does not edit attachments
                changes.pop("attachments", None)
            raise StaleRecord(
                f"Someone changed the {label} in DualEntry after you opened this form, so "
                "your changes were not saved. What changed meanwhile is listed below; your "
                "input is kept: check it and save again to apply it to the current version.",
                version=version,
                current_payload=before,
                changes=changes,
                current_total=current.get(kind.amount_field),
            )
        # What the form does not edit is carried over from the current record.
        body = payload_with_custom_fields(
            payload=payload_with_attachments(payload=payload, record=current), record=current
        )
        with use_lane(Lane.WRITE):
            updated = resource.update(key, body)
    except (SaveRefused, DualEntryError) as error:
        if isinstance(error, NotFound) and before is None:
            mirror_removed(kind=kind.slug, key=key)
        _audit_failure(
            kind=kind,
            key=key,
            user=user,
            request=request,
            payload=payload,
            error=error,
            before=before,
            summary=f"Draft {label} not saved",
        )
        raise
    _draft_saved(kind=kind, key=key, sent=body, record=updated, user=user)
    audit_record(
        actor=user,
        action=actions.RECORD_UPDATED,
        kind=kind.slug,
        key=key,
        company_id=body.get("company_id"),
        summary=f"Draft {label} updated",
        before=to_jsonable(before),
        after=to_jsonable(body),
        upstream=_upstream(updated),
        request=request,
    )
    return updated


# --- proposals in the portal -------------------------------------------------------------------


def _proposal_summary(proposal: Proposal, verb: str) -> str:
    number = record_number(kind=CONTRACTS, key=proposal.target_key) if proposal.target_key else ""
    target = f" for contract {number}" if number else ""
    return f"{proposal.get_action_display()} proposal #{proposal.pk}{target} {verb}"


def proposal_save(
    *,
    kind: RecordKind,
    action: str,
    payload: Mapping[str, Any],
    user,
    proposal: Proposal | None = None,
    target_key: str = "",
    request: HttpRequest | None = None,
    expected_version: str | None = None,
    form_token: str | None = None,
    base_payload: Mapping[str, Any] | None = None,
) -> Proposal:
    """Create or update a proposal (a contract or usage batch kept here until approved).

    An update refuses a proposal that was already applied, one with an open approval request,
    or one changed since `expected_version` (`StaleRecord` lists what changed).
    """
    _require_preparer(user)
    body = to_jsonable(dict(payload))
    company_id = body.get("company_id")
    if proposal is None:
        claimed = (
            _token_claim(token=form_token, kind_slug=kind.slug, user=user) if form_token else None
        )
        try:
            with transaction.atomic():
                proposal = Proposal.objects.create(
                    kind=kind.slug,
                    action=action,
                    target_key=str(target_key or ""),
                    company_id=company_id,
                    payload=body,
                    created_by=user,
                    updated_by=user,
                )
                _proposal_audit(
                    kind=kind,
                    proposal=proposal,
                    outcome="created",
                    after=body,
                    user=user,
                    request=request,
                )
        except Exception:
            _token_release(claimed)
            raise
        _token_done(
            claimed,
            result_key=str(proposal.pk),
            result_url=reverse("records:proposal_detail", kwargs={"pk": proposal.pk}),
        )
        return proposal
    return _proposal_update(
        kind=kind,
        proposal=proposal,
        body=body,
        user=user,
        request=request,
        expected_version=expected_version,
        base_payload=base_payload,
    )


def _proposal_audit(
    *,
    kind: RecordKind,
    proposal: Proposal,
    outcome: str,
    after: dict,
    user,
    request: HttpRequest | None,
    before: dict | None = None,
    error: str = "",
) -> None:
    """Audit a proposal save: `outcome` is "created", "updated" or (with `error`) "not saved"."""
    audit_record(
        actor=user,
        action=actions.SAVE_FAILED if error else actions.PROPOSAL_SAVED,
        kind=kind.slug,
        key=proposal.audit_key,
        company_id=proposal.company_id,
        summary=_proposal_summary(proposal, outcome),
        before=before,
        after=after,
        request=request,
        success=not error,
        error=error,
    )


def _proposal_update(
    *,
    kind: RecordKind,
    proposal: Proposal,
    body: dict,
    user,
    request: HttpRequest | None,
    expected_version: str | None,
    base_payload: Mapping[str, Any] | None,
) -> Proposal:
    try:
        with transaction.atomic():
            current = Proposal.objects.select_for_update().get(pk=proposal.pk)
            if current.is_applied:
                raise RecordNotEditable(
                    f"Proposal #{current.pk} was already applied in DualEntry; it cannot be "
                    "edited any more."
                )
            if ApprovalRequest.objects.open_for_proposal(current).exists():
                raise RecordLocked(
                    f"Proposal #{current.pk} is waiting for approval, so it cannot be edited "
                    "now. Ask for the request to be withdrawn or rejected first."
                )
            version = current.version
            if expected_version is not None and version != expected_version:
                raise StaleRecord(
                    f"Someone saved proposal #{current.pk} after you opened this form, so "
                    "your changes were not saved. What changed meanwhile is listed below; "
                    "your input is kept: check it and save again to apply it.",
                    version=version,
                    current_payload=current.payload,
                    changes=field_changes(
                        to_jsonable(dict(base_payload)) if base_payload is not None else body,
                        current.payload,
                    ),
                )
            before = current.payload
            current.payload = body
            current.company_id = body.get("company_id", current.company_id)
            current.updated_by = user
            current.save(update_fields=["payload", "company_id", "updated_by", "updated_at"])
            _proposal_audit(
                kind=kind,
                proposal=current,
                outcome="updated",
                before=before,
                after=body,
                user=user,
                request=request,
            )
            return current
    except SaveRefused as refusal:
        _proposal_audit(
            kind=kind,
            proposal=proposal,
            outcome="not saved",
            after=body,
            user=user,
            request=request,
            error=refusal.message,
        )
        raise
