"""Reads about approval requests.

The queue functions (`open_request_for`, `is_locked`, `requests_awaiting_approval_by`, ...)
read only the portal's database (and its audit log). `read_upstream` and `approval_review`
also read DualEntry (the live record a request is compared with); they raise
`DualEntryError` or report it, as documented.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import formats, timezone

from dualentry_api.client import get_client
from dualentry_api.errors import DualEntryError
from dualentry_api.records import Record, to_jsonable
from portal.approvals.models import ApprovalDecision, ApprovalRequest
from portal.audit import actions
from portal.audit.diff import ChangeRow, change_rows, field_changes
from portal.audit.models import AuditEvent
from portal.permissions import APPROVE_RECORDS, PREPARE_RECORDS
from portal.records import money_rules
from portal.records.kinds import (
    CONTRACT_STATUS_CHOICES,
    RECORD_STATUS_CHOICES,
    RecordKind,
    get_kind,
)
from portal.records.listing import filtered_by, within_amounts
from portal.records.models import Proposal
from portal.records.payloads import as_decimal
from portal.records.references import References, references_load
from portal.records.selectors import record_as_payload

logger = logging.getLogger(__name__)

OPEN = ApprovalRequest.OPEN_STATES


# --- the queue -------------------------------------------------------------------------------


def _with_people(queryset: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    return queryset.select_related("submitted_by", "proposal").annotate(
        approvals_count=Count("decisions", filter=Q(decisions__decision="approve"))
    )


def open_request_for(*, kind: str, key: str) -> ApprovalRequest | None:
    """The open (submitted/approved/posting/post-failed) request for a record, if any."""
    return _with_people(ApprovalRequest.objects.open_for(kind, key)).first()


def open_request_for_proposal(*, proposal) -> ApprovalRequest | None:
    return _with_people(ApprovalRequest.objects.open_for_proposal(proposal)).first()


def is_locked(*, kind: str, key: str) -> bool:
    """True while a request for this record is open: edits must be refused."""
    return ApprovalRequest.objects.open_for(kind, key).exists()


def _decided_by(user) -> Exists:
    return Exists(ApprovalDecision.objects.filter(approval_request=OuterRef("pk"), approver=user))


def waiting_for(*, user) -> QuerySet[ApprovalRequest]:
    """The approvals queue of this user (`requests_awaiting_approval_by`)."""
    return requests_awaiting_approval_by(user)


def waiting_count(*, user) -> int:
    """How many requests wait for this user's decision (the navigation's badge)."""
    return waiting_for(user=user).count()


# The queue filters that take their value as it is (age and amounts are worked out below).
_QUEUE_LOOKUPS = {"kind": "kind__in", "company": "company_id", "preparer": "submitted_by_id"}
_QUEUE_ORDER = {
    "submitted": ["submitted_at", "id"],
    "amount": ["amount", "submitted_at", "id"],
    "kind": ["kind", "submitted_at", "id"],
    "title": ["title", "submitted_at", "id"],
}


def approval_queue(*, user, filters: Mapping[str, Any], sort: str = "submitted"):
    """The requests waiting for this user (`waiting_for`, whoever may approve), filtered by
    kind, company, submitter, age and amount, in the asked order (oldest waiting first)."""
    queryset = filtered_by(waiting_for(user=user), filters, _QUEUE_LOOKUPS)
    if filters.get("age"):
        cutoff = timezone.now() - dt.timedelta(days=filters["age"])
        queryset = queryset.filter(submitted_at__lt=cutoff)
    queryset = within_amounts(queryset, filters)
    descending = sort.startswith("-")
    order = _QUEUE_ORDER.get(sort.lstrip("-"), _QUEUE_ORDER["submitted"])
    if descending:
        order = [f"-{field}" for field in order]
    return queryset.order_by(*order)


def queue_preparers() -> list[tuple[str, str]]:
    """(user id, name) of everyone with a request waiting: the queue's "submitted by" choices."""
    rows = (
        ApprovalRequest.objects.filter(state=ApprovalRequest.State.SUBMITTED)
        .values_list("submitted_by_id", "submitted_by__username")
        .distinct()
        .order_by("submitted_by__username")
    )
    return [(str(pk), username) for pk, username in rows]


def submitted_by(*, user, limit: int = 50) -> QuerySet[ApprovalRequest]:
    """The user's own requests, most recent first."""
    return _with_people(ApprovalRequest.objects.filter(submitted_by=user)).order_by(
        "-submitted_at", "-id"
    )[:limit]


def recently_decided(*, limit: int = 25) -> QuerySet[ApprovalRequest]:
    """Requests with an outcome (posted, rejected, withdrawn, post failed), latest first."""
    return (
        _with_people(ApprovalRequest.objects.filter(state__in=ApprovalRequest.DECIDED_STATES))
        .exclude(decided_at=None)
        .order_by("-updated_at", "-id")[:limit]
    )


def approval_request_get(*, pk: int) -> ApprovalRequest:
    """One request with its decisions and comments (raises DoesNotExist)."""
    return (
        _with_people(ApprovalRequest.objects.all())
        .prefetch_related("decisions__approver", "comments__author")
        .get(pk=pk)
    )


# --- segregation of duties by authorship ---------------------------------------------------
#
# Nobody approves (first or second approval) a request for a record they prepared through the
# portal: created, edited, attached a file to, submitted, proposed a change to or archiving of
# (audit events of the record with `AUTHORING_ACTIONS`), or wrote or edited the proposal the
# request applies; administrators included. `authorship_of` reads it for one request (the
# approve service and the review page), `requests_awaiting_approval_by` for the queue; they
# read the same facts, so the queue never offers what approval would refuse.

_AUTHORING_ACTS = {
    actions.RECORD_CREATED: "created it",
    actions.RECORD_UPDATED: "edited it",
    actions.ATTACHMENT_UPLOADED: "attached a file to it",
    actions.SUBMITTED: "submitted it for approval",
    actions.CHANGE_REQUESTED: "proposed a change to it",
    actions.ARCHIVE_REQUESTED: "proposed archiving it",
    actions.PROPOSAL_SAVED: "edited the proposal",
}
_WROTE_PROPOSAL = "wrote the proposal"
_SUBMITTED = _AUTHORING_ACTS[actions.SUBMITTED]


@dataclass(frozen=True)
class AuthoringAct:
    """One way a person prepared a request's record ("edited it"), the last time they did."""

    act: str
    at: Any  # datetime (aware)

    def __str__(self) -> str:
        when = formats.date_format(timezone.localtime(self.at), "Y-m-d H:i T")
        return f"{self.act} on {when}"


def _audit_keys(approval_request: ApprovalRequest) -> list[str]:
    """The audit-log keys of a request's record: the DualEntry record, and its proposal."""
    keys = [approval_request.key] if approval_request.key else []
    if approval_request.proposal_id is not None:
        keys.append(f"{Proposal.AUDIT_KEY_PREFIX}{approval_request.proposal_id}")
    return keys


def authorship_of(*, approval_request: ApprovalRequest, user) -> list[AuthoringAct]:
    """How `user` prepared this request's record, oldest first (empty: they did not).

    From the record's audit log (successful authoring events by this person under the
    record's key or its proposal's), the request's submitter and the proposal's author and
    last editor (these when the log has nothing). Each act is listed once, with the last time
    it happened."""
    if user is None or not user.is_authenticated:
        return []
    latest: dict[str, Any] = {}

    def note(act: str, at) -> None:
        if at is not None and (act not in latest or at > latest[act]):
            latest[act] = at

    proposal = approval_request.proposal
    events = (
        AuditEvent.objects.authored_by(user.pk)
        .filter(kind=approval_request.kind, key__in=_audit_keys(approval_request))
        .order_by("sequence")
        .values_list("action", "occurred_at")
    )
    wrote_proposal = proposal is not None and proposal.created_by_id == user.pk
    for action, occurred_at in events:
        if action == actions.PROPOSAL_SAVED and wrote_proposal and _WROTE_PROPOSAL not in latest:
            note(_WROTE_PROPOSAL, occurred_at)  # the proposal's first save is its creation
            continue
        note(_AUTHORING_ACTS[action], occurred_at)
    if not latest:  # the request's own facts, should the record's log say nothing of them
        if approval_request.submitted_by_id == user.pk:
            note(_SUBMITTED, approval_request.submitted_at)
        if wrote_proposal:
            note(_WROTE_PROPOSAL, proposal.created_at)
        elif proposal is not None and proposal.updated_by_id == user.pk:
            note(_AUTHORING_ACTS[actions.PROPOSAL_SAVED], proposal.updated_at)
    return sorted(
        (AuthoringAct(act=act, at=at) for act, at in latest.items()), key=lambda act: act.at
    )


def _what_was_prepared(approval_request: ApprovalRequest) -> str:
    kind = get_kind(approval_request.kind)
    key = approval_request.key
    return {
        ApprovalRequest.Type.APPLY_CHANGE: f"this change to {kind.label} {key}",
        ApprovalRequest.Type.ARCHIVE: f"this archiving of {kind.label} {key}",
        ApprovalRequest.Type.CREATE_CONTRACT: f"this new {kind.label}",
        ApprovalRequest.Type.UPSERT_USAGE: "this usage batch",
    }.get(approval_request.type, f"this {kind.label}")


def approval_refusal_for(*, user, approval_request: ApprovalRequest) -> str:
    """Why `user` may not approve this request because they prepared it ("" if they did not):
    the sentence the approve service refuses with and the review page shows."""
    acts = authorship_of(approval_request=approval_request, user=user)
    if not acts:
        return ""
    return (
        f"You prepared {_what_was_prepared(approval_request)} "
        f"({', '.join(str(act) for act in acts)}), so someone else must approve it."
    )


def requests_awaiting_approval_by(user) -> QuerySet[ApprovalRequest]:
    """Submitted requests this user may approve, oldest first (first come, first served): they
    approve, did not prepare the record (`authorship_of`, as far as the database expresses it:
    the same audit events, submitter and proposal authors) and have not decided it yet."""
    if user is None or not user.is_authenticated or not user.has_perm(APPROVE_RECORDS):
        return ApprovalRequest.objects.none()
    authored = AuditEvent.objects.authored_by(user.pk).filter(kind=OuterRef("kind"))
    proposal_key = Concat(
        Value(Proposal.AUDIT_KEY_PREFIX),
        Cast(OuterRef("proposal_id"), output_field=CharField()),
        output_field=CharField(),
    )
    return (
        _with_people(ApprovalRequest.objects.filter(state=ApprovalRequest.State.SUBMITTED))
        .exclude(submitted_by=user)
        .exclude(Q(proposal__created_by=user) | Q(proposal__updated_by=user))
        .exclude(Exists(authored.filter(key=OuterRef("key")).exclude(key="")))
        .exclude(Exists(authored.filter(key=proposal_key)))
        .exclude(_decided_by(user))
        .order_by("submitted_at", "id")
    )


# --- hashing and the live record -------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces, Decimal/date as text) for hashing."""
    return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


# Values that change on every read without the record changing (signed download links).
VOLATILE_FIELDS = frozenset({"download_url", "upload_url"})


def stable(value: Any) -> Any:
    """A JSON value without the volatile fields, for snapshots and their hashes."""
    if isinstance(value, Mapping):
        return {name: stable(item) for name, item in value.items() if name not in VOLATILE_FIELDS}
    if isinstance(value, list):
        return [stable(item) for item in value]
    return value


@dataclass
class Upstream:
    """What DualEntry holds now for a request's target, and the hash it is compared by."""

    record: Record | None = None
    usage: list[Record] = field(default_factory=list)

    @property
    def snapshot(self) -> dict:
        """The live state as stored with a request (JSON as DualEntry sent it, without signed
        links, which change on every read)."""
        if self.record is not None:
            return stable(self.record.raw)
        rows = sorted((row.raw for row in self.usage), key=lambda row: str(row.get("id")))
        return {"usage": stable(rows)}

    @property
    def hash(self) -> str:
        return content_hash(self.snapshot)


def read_usage(*, contract_id: str) -> list[Record]:
    return list(get_client().contracts.iterate_usage(contract_id))


def read_upstream(approval_request: ApprovalRequest) -> Upstream | None:
    """The live state a request is compared with: the record, or for a usage batch the
    contract's usage rows; None for a contract not created yet. Raises DualEntryError."""
    kind = get_kind(approval_request.kind)
    if approval_request.type == ApprovalRequest.Type.CREATE_CONTRACT:
        return None
    if approval_request.type == ApprovalRequest.Type.UPSERT_USAGE:
        return Upstream(usage=read_usage(contract_id=approval_request.key))
    return Upstream(record=getattr(get_client(), kind.resource).get(approval_request.key))


def is_stale(approval_request: ApprovalRequest, upstream: Upstream | None) -> bool:
    """The live state differs from the snapshot taken at submission."""
    if upstream is None or not approval_request.snapshot_hash:
        return False
    return upstream.hash != approval_request.snapshot_hash


def stale_sentence(approval_request: ApprovalRequest) -> str:
    what = approval_request.title or "the record"
    return (
        f"{what[0].upper()}{what[1:]} changed since submission; the preparer must resubmit "
        "(withdraw this request and submit the record again)."
    )


def current_payload(*, kind: RecordKind, key: str, record: Record) -> dict:
    """The record as a full PUT body (JSON-ready), as the edit form would send it unchanged.

    For a deposit, line amounts come from the last body the portal sent (if it still
    describes the record's lines; `deposit_line_amounts_known` tells)."""
    return to_jsonable(record_as_payload(kind=kind, key=key, record=record))


# --- the review page -------------------------------------------------------------------------


@dataclass
class Review:
    """Everything the review page shows and may offer for one request and one person."""

    approval_request: ApprovalRequest
    upstream: Upstream | None = None
    upstream_error: str = ""
    stale: bool = False
    stale_changes: list[ChangeRow] = field(default_factory=list)
    stale_message: str = ""  # what the "Changed since submission" card says
    changes: list[ChangeRow] = field(default_factory=list)  # live -> what will be sent
    compared_with: str = ""  # what `changes` compares against, in words
    header: list[tuple[str, Any]] = field(default_factory=list)
    lines: list[list] = field(default_factory=list)  # one row of shown values per line
    line_columns: list[str] = field(default_factory=list)  # their labels
    amount_column: int | None = None
    lines_total: Decimal | None = None
    attachments: list = field(default_factory=list)
    decisions: list = field(default_factory=list)
    comments: list = field(default_factory=list)
    can_approve: bool = False
    can_reject: bool = False
    can_withdraw: bool = False
    can_retry: bool = False
    can_comment: bool = False
    # "What approval changes" in people's words (`changes` and `stale_changes` stay as the
    # raw rows, shown under a fold): what approval does, then field labels and names.
    change_sentence: str = ""
    readable_changes: list[ReadableChange] = field(default_factory=list)
    readable_stale_changes: list[ReadableChange] = field(default_factory=list)
    approve_blocked: str = ""  # why the approve button is not offered
    approve_is_final: bool = False  # this approval posts (no second approver needed after it)
    # The money rules, live (refunds and deposits waiting for a decision): what each line
    # applies, its balance before and after, and any rule that fails now.
    money: money_rules.MoneyCheck | None = None
    money_error: str = ""  # DualEntry could not be read for them
    totals_by_currency: list[tuple[str, Decimal]] = field(default_factory=list)
    customer_name: str = ""


# Body fields naming another record, and the reference list that has its name.
_REFERENCE_LISTS = {
    "company_id": "companies",
    "customer_id": "customers",
    "vendor_id": "vendors",
    "item_id": "items",
    "account_number": "account_numbers",
    "payment_method_id": "payment_methods",
}
_HIDDEN_LINE_FIELDS = ("id", "position")


def _forms_of(approval_request: ApprovalRequest):
    """The edit forms of what is approved (their labels name the body's fields)."""
    kind = get_kind(approval_request.kind)
    if approval_request.type == ApprovalRequest.Type.UPSERT_USAGE:
        return kind.usage_forms
    return kind.forms


def _labels(form_class: type) -> dict[str, str]:
    return {name: str(field.label) for name, field in form_class.base_fields.items() if field.label}


def _reference_names(payload: Mapping[str, Any], lines: list[Mapping]) -> References | None:
    """Names for the ids in a body, from the cached reference lists (None if unavailable:
    the page then shows the ids alone)."""
    names = {
        _REFERENCE_LISTS[name]
        for row in (payload, *lines)
        for name in row
        if name in _REFERENCE_LISTS and row[name] is not None
    }
    try:
        return references_load(names=sorted(names))
    except DualEntryError as err:
        logger.info("approval review without reference names: %s", err.user_message)
        return None


def _shown(name: str, value: Any, references: References | None) -> Any:
    """A value for people: an id with the name it stands for, when known."""
    list_name = _REFERENCE_LISTS.get(name)
    if references is None or list_name is None or value is None:
        return value
    label = references.name(list_name, value)
    if not label:
        return value
    return label if str(value) in label else f"{label} ({value})"


def _lines_of(payload: Mapping[str, Any]) -> tuple[str, list[dict]]:
    for name in ("items", "obligations"):
        if isinstance(payload.get(name), list):
            return name, [line for line in payload[name] if isinstance(line, Mapping)]
    return "", []


def _approve_blocked(approval_request: ApprovalRequest, user, *, stale: bool) -> str:
    if approval_request.state != ApprovalRequest.State.SUBMITTED:
        return ""
    if not user.has_perm(APPROVE_RECORDS):
        return ""  # nothing to explain: the decision section is for approvers
    refusal = approval_refusal_for(user=user, approval_request=approval_request)
    if refusal:
        return refusal
    if any(decision.approver_id == user.pk for decision in approval_request.decisions.all()):
        return "You have approved this request; the second approval must come from someone else."
    if stale:
        return stale_sentence(approval_request)
    return ""


# --- "What approval changes" in people's words ----------------------------------------------


@dataclass(frozen=True)
class ReadableChange:
    """One change as people read it: "Customer" from "Acme Logistics (110)" to "Globex (111)"."""

    label: str
    before: Any = None
    after: Any = None
    status: str = "changed"  # changed | added | removed


# What approval does, as a sentence, and the status it sets (its status row says no more).
_APPROVAL_DOES = {
    ApprovalRequest.Type.POST_DRAFT: ("Posts the {kind} in DualEntry.", "posted"),
    ApprovalRequest.Type.APPLY_CHANGE: ("Changes the posted {kind} in DualEntry.", "posted"),
    ApprovalRequest.Type.ARCHIVE: ("Archives the {kind} in DualEntry.", "archived"),
    ApprovalRequest.Type.CREATE_CONTRACT: ("Creates the {kind} in DualEntry.", ""),
    ApprovalRequest.Type.UPSERT_USAGE: (
        "Records the usage below on {kind} {key} in DualEntry.",
        "",
    ),
}
_STATUS_NAMES = dict(RECORD_STATUS_CHOICES) | dict(CONTRACT_STATUS_CHOICES)


def approval_sentence(approval_request: ApprovalRequest) -> str:
    """What approving this request does, for people ("Posts the customer refund in DualEntry.")."""
    template, _status = _APPROVAL_DOES[approval_request.type]
    return template.format(kind=get_kind(approval_request.kind).label, key=approval_request.key)


def _humanise(name: str) -> str:
    return str(name).replace("_", " ").capitalize()


def _detail_labels(kind: RecordKind) -> dict[str, str]:
    return {column.field: column.label for column in kind.detail_fields}


def _section_labels(kind: RecordKind) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Line tables' labels: {"items": "Items"} and {"items": {"amount": "Amount", ...}}."""
    groups = {section.field: section.label for section in kind.detail_sections}
    columns = {
        section.field: {column.field: column.label for column in section.columns}
        for section in kind.detail_sections
    }
    return groups, columns


def _person_value(name: str, value: Any, references: References | None, kind: RecordKind) -> Any:
    if name == kind.status_field and isinstance(value, str):
        return _STATUS_NAMES.get(value, value)
    if name in ("amount", kind.amount_field):
        amount = as_decimal(value)
        # Any number the API allows renders: an extreme one stays as DualEntry wrote it.
        if amount is not None and amount.is_finite() and amount.adjusted() < 30:
            return f"{amount:,.2f}"
    return _shown(name, value, references)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def readable_changes(
    *,
    approval_request: ApprovalRequest,
    changes: Mapping[str, Any],
    header_labels: Mapping[str, str],
    line_labels: Mapping[str, str],
    references: References | None,
    lines: Sequence[Mapping] = (),
    sets_status: bool = True,
) -> list[ReadableChange]:
    """A stored change set (`field_changes`) in people's words: the forms' and the registry's
    labels, names for ids, lines numbered as the content below numbers them; empty-to-empty
    rows go. With `sets_status` (the changes approval makes) the status row that approval
    itself sets is left to `approval_sentence`."""
    kind = get_kind(approval_request.kind)
    _sentence, status_set = _APPROVAL_DOES[approval_request.type]
    labels = {**_detail_labels(kind), **header_labels}
    group_labels, column_labels = _section_labels(kind)
    positions = {str(line.get("id")): number for number, line in enumerate(lines, 1)}
    rows: list[ReadableChange] = []

    def value(name: str, raw: Any) -> Any:
        return _person_value(name, raw, references, kind)

    def describe(group: str, line: Any) -> str:
        if not isinstance(line, Mapping):
            return str(line)
        names = {**column_labels.get(group, {}), **line_labels}
        return ", ".join(
            f"{names.get(name, _humanise(name))}: {value(name, item)}"
            for name, item in line.items()
            if name not in _HIDDEN_LINE_FIELDS and not _is_empty(item)
        )

    for name, change in changes.items():
        if isinstance(change, list) and len(change) == 2:
            before, after = (value(name, item) for item in change)
            if sets_status and name == kind.status_field and change[1] == status_set:
                continue  # said by the sentence
            if (_is_empty(before) and _is_empty(after)) or before == after:
                continue
            rows.append(ReadableChange(labels.get(name, _humanise(name)), before, after))
            continue
        if not isinstance(change, Mapping):
            continue
        group = group_labels.get(name, _humanise(name))
        names = {**column_labels.get(name, {}), **line_labels}
        for row, fields in (change.get("changed") or {}).items():
            number = row[1:] if row.startswith("#") else positions.get(row, row)
            for field_name, pair in fields.items():
                before, after = (value(field_name, item) for item in pair)
                if _is_empty(before) and _is_empty(after):
                    continue
                label = f"{group}, line {number}: {names.get(field_name, _humanise(field_name))}"
                rows.append(ReadableChange(label, before, after))
        for line in change.get("added") or []:
            rows.append(ReadableChange(f"{group}: line added", None, describe(name, line), "added"))
        for line in change.get("removed") or []:
            rows.append(
                ReadableChange(f"{group}: line removed", describe(name, line), None, "removed")
            )
    return rows


def approval_review(*, approval_request: ApprovalRequest, user) -> Review:
    """The review page's data. Reads the live record from DualEntry; if that fails the page
    still shows the request, with `upstream_error` and approval not offered."""
    kind = get_kind(approval_request.kind)
    payload = approval_request.payload
    review = Review(
        approval_request=approval_request,
        decisions=list(approval_request.decisions.all()),
        comments=list(approval_request.comments.all()),
    )
    lines_field, lines = _lines_of(payload)
    forms = _forms_of(approval_request)
    form_class, line_form_class = forms.header, forms.line
    header_labels, line_labels = _labels(form_class), _labels(line_form_class)
    references = _reference_names(payload, lines)
    review.header = [
        (header_labels.get(name, name.replace("_", " ")), _shown(name, value, references))
        for name, value in payload.items()
        if name != lines_field and name not in ("attachments", "custom_fields")
    ]
    columns = list(
        dict.fromkeys(name for line in lines for name in line if name not in _HIDDEN_LINE_FIELDS)
    )
    review.line_columns = [line_labels.get(name, name.replace("_", " ")) for name in columns]
    review.lines = [
        [_shown(name, line.get(name), references) for name in columns] for line in lines
    ]
    review.amount_column = columns.index("amount") if "amount" in columns else None
    amounts = [as_decimal(line.get("amount")) for line in lines]
    if lines and all(amount is not None for amount in amounts):
        review.lines_total = sum(amounts, Decimal(0))
    review.attachments = list(payload.get("attachments") or [])
    _money_review(review, kind=kind, payload=payload, references=references)

    state = approval_request.state
    live_state_matters = state in (
        ApprovalRequest.State.SUBMITTED,
        ApprovalRequest.State.POST_FAILED,
    )
    if live_state_matters:
        try:
            review.upstream = read_upstream(approval_request)
        except DualEntryError as err:
            review.upstream_error = (
                f"The live record could not be read from DualEntry, so it cannot be compared "
                f"or approved now: {err.user_message}"
            )
    upstream = review.upstream
    # Both change sets (the live record's since submission, and the approval's) in one wording.
    readable = functools.partial(
        readable_changes,
        approval_request=approval_request,
        header_labels=header_labels,
        line_labels=line_labels,
        references=references,
    )
    if upstream is not None:
        review.stale = is_stale(approval_request, upstream)
        if review.stale:
            review.stale_message = stale_sentence(approval_request)
            stale_changes = field_changes(approval_request.snapshot, upstream.snapshot)
            review.stale_changes = change_rows(stale_changes)
            review.readable_stale_changes = readable(changes=stale_changes, sets_status=False)
        if upstream.record is not None:
            live = current_payload(kind=kind, key=approval_request.key, record=upstream.record)
            approval_changes = field_changes(live, payload)
            review.changes = change_rows(approval_changes)
            review.compared_with = (
                "the posted record in DualEntry"
                if approval_request.type == ApprovalRequest.Type.APPLY_CHANGE
                else f"the {kind.label} as it is in DualEntry now"
            )
        else:
            approval_changes = field_changes({"items": []}, {"items": payload.get("items") or []})
            review.changes = change_rows(approval_changes)
            review.compared_with = "the contract's usage in DualEntry now (new and changed lines)"
        review.readable_changes = readable(changes=approval_changes, lines=lines)
    elif approval_request.type == ApprovalRequest.Type.CREATE_CONTRACT:
        review.compared_with = "nothing: the contract does not exist yet"
    review.change_sentence = approval_sentence(approval_request)

    is_submitter = approval_request.submitted_by_id == user.pk
    is_approver = user.has_perm(APPROVE_RECORDS)
    submitted = state == ApprovalRequest.State.SUBMITTED
    decided = any(decision.approver_id == user.pk for decision in review.decisions)
    review.approve_blocked = _approve_blocked(approval_request, user, stale=review.stale)
    if submitted and is_approver and review.upstream_error and not review.approve_blocked:
        review.approve_blocked = review.upstream_error
    review.can_approve = submitted and is_approver and not review.approve_blocked
    approvals = sum(decision.decision == "approve" for decision in review.decisions)
    review.approve_is_final = approvals + 1 >= approval_request.required_approvals
    review.can_reject = submitted and is_approver and not is_submitter and not decided
    review.can_withdraw = (
        is_submitter
        and user.has_perm(PREPARE_RECORDS)
        and state
        in (
            ApprovalRequest.State.SUBMITTED,
            ApprovalRequest.State.POST_FAILED,
        )
    )
    review.can_retry = approval_request.can_be_retried and (is_submitter or is_approver)
    review.can_comment = is_submitter or is_approver
    return review


def _money_review(
    review: Review, *, kind: RecordKind, payload: Mapping[str, Any], references
) -> None:
    """Lines with what they apply and the rules, live, while a decision is pending; totals per
    currency (a refund's bank/card part shown next to its total)."""
    approval_request = review.approval_request
    currency = str(payload.get("currency_iso_4217_code") or approval_request.currency or "")
    if review.lines_total is not None and currency:
        review.totals_by_currency = [(currency, review.lines_total)]
    customer_id = payload.get("customer_id")
    if customer_id is not None:
        review.customer_name = (
            references.name("customers", customer_id) if references is not None else None
        ) or f"customer {customer_id}"
    pending = approval_request.state in (
        ApprovalRequest.State.SUBMITTED,
        ApprovalRequest.State.POST_FAILED,
    )
    if kind.slug not in money_rules.KIND_SOURCE_FIELDS or not pending:
        return
    review.money, review.money_error = money_rules.safe_check_payload_live(
        kind_slug=kind.slug, payload=payload, exclude_key=approval_request.key
    )


# --- actions on a record's page --------------------------------------------------------------


@dataclass(frozen=True)
class RecordApprovalActions:
    """Which approval buttons a record's detail page shows (`records/_record_actions.html`)."""

    approval_request: ApprovalRequest | None = None
    can_submit: bool = False
    can_propose_change: bool = False
    can_archive: bool = False


def record_approval_actions(
    *, user, kind: RecordKind, key: str, record: Mapping[str, Any] | None
) -> RecordApprovalActions:
    approval_request = open_request_for(kind=kind.slug, key=key)
    if record is None or approval_request is not None or not user.has_perm(PREPARE_RECORDS):
        return RecordApprovalActions(approval_request=approval_request)
    status = record.get(kind.status_field)
    updatable = kind.can_update
    return RecordApprovalActions(
        approval_request=None,
        can_submit=updatable and status == "draft",
        can_propose_change=updatable and status == "posted",
        can_archive=updatable and status in ("draft", "posted"),
    )
