"""Reads of DualEntry records: list pages, one record, drafts across kinds, contract usage.

Each function makes the upstream calls it says and no others; reference names come from
`portal.records.references` (cached). Client errors (`dualentry_api.errors`) propagate: views
turn them into pages people can act on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.utils import timezone

from dualentry_api.client import get_client
from dualentry_api.errors import DualEntryError
from dualentry_api.records import Page, Record
from portal.approvals.models import ApprovalRequest
from portal.readmodel.selectors import mirrored_records
from portal.records.kinds import Column, RecordKind, Section
from portal.records.models import Proposal, SentPayload

logger = logging.getLogger(__name__)

MAX_PAGE = 100  # DualEntry caps list pages at 100
DRAFTS_PER_KIND = 100
DRAFT_STATUS = "draft"


class Pagination:
    """What a pagination bar needs ("1-50 of 1,234"), from records/count/limit/offset."""

    records: list[Record]
    count: int
    limit: int
    offset: int

    @property
    def first(self) -> int:
        return self.offset + 1 if self.records else 0

    @property
    def last(self) -> int:
        return self.offset + len(self.records)

    @property
    def has_previous(self) -> bool:
        return self.offset > 0 and self.count > 0

    @property
    def previous_offset(self) -> int:
        if self.beyond_end:
            return self.last_page_offset
        return max(0, self.offset - self.limit)

    @property
    def has_next(self) -> bool:
        return bool(self.records) and self.last < self.count

    @property
    def next_offset(self) -> int:
        return self.last

    @property
    def beyond_end(self) -> bool:
        """The URL asks for a page after the last one (a stale bookmark, a shrunk list)."""
        return not self.records and self.offset > 0 and self.offset >= self.count

    @property
    def last_page_offset(self) -> int:
        return ((self.count - 1) // self.limit) * self.limit if self.count else 0


@dataclass(frozen=True)
class ListPage(Pagination):
    kind: RecordKind
    records: list[Record]
    count: int
    limit: int
    offset: int


def _resource(kind: RecordKind):
    return getattr(get_client(), kind.resource)


def record_list(
    *,
    kind: RecordKind,
    filters: Mapping[str, Any],
    limit: int,
    offset: int = 0,
    ordering: str | None = None,
) -> ListPage:
    """One page of a kind's records (one upstream call)."""
    page = _resource(kind).list(
        filters=dict(filters), limit=min(limit, MAX_PAGE), offset=offset, ordering=ordering
    )
    return ListPage(kind, page.items, page.count, limit, offset)


def record_get(*, kind: RecordKind, key: str | int) -> Record:
    """One record by its key (one upstream call; NotFound if DualEntry has none)."""
    return _resource(kind).get(key)


# --- one record from the read model (0 upstream calls) ---------------------------------------


@dataclass(frozen=True)
class CopiedRecord:
    """A record as the read model holds it and when the portal last saw it in DualEntry."""

    record: Record
    seen_at: dt.datetime

    def age_seconds(self, now: dt.datetime | None = None) -> float:
        return max(0.0, ((now or timezone.now()) - self.seen_at).total_seconds())


def record_from_copy(*, kind: RecordKind, key: str | int) -> CopiedRecord | None:
    """The read model's copy of one record, typed as a live GET would be; None when the copy
    does not hold it (not synced yet, gone upstream) or holds only its list part (a contract
    whose obligations have not been read yet). Database reads only."""
    row = (
        mirrored_records(kind=kind.slug)
        .filter(key=str(key), needs_detail=False)
        .only("data", "seen_at")
        .first()
    )
    if row is None:
        return None
    try:
        record = _resource(kind).from_stored(row.data)
    except (ValueError, TypeError) as err:
        logger.warning("read model: %s %s cannot be read from the copy: %s", kind.slug, key, err)
        return None
    return CopiedRecord(record, row.seen_at)


def key_for_number(*, kind: RecordKind, number: str | int) -> str | None:
    """The key (a contract's id) of the record people know by `number`, from the read model;
    None when the number is the key already or the copy knows no such number."""
    if kind.key_field == "number":
        return None
    keys = list(
        mirrored_records(kind=kind.slug)
        .filter(number=str(number))
        .exclude(key=str(number))
        .values_list("key", flat=True)[:2]
    )
    return keys[0] if len(keys) == 1 else None


def record_number(*, kind: RecordKind, key: str | int) -> str:
    """The number people know a record by (a contract's `number`, not its id), from the read
    model; the key itself when the copy does not know it."""
    if kind.key_field == "number":
        return str(key)
    number = (
        mirrored_records(kind=kind.slug).filter(key=str(key)).values_list("number", flat=True)
    ).first()
    return number or str(key)


def record_pages(
    *,
    kind: RecordKind,
    filters: Mapping[str, Any],
    ordering: str | None = None,
    page_size: int = MAX_PAGE,
) -> Iterator[list[Record]]:
    """Every matching record, a page at a time (for streaming exports in constant memory).

    Calls go through the client's rate budget, which spaces them to stay within DualEntry's
    limits; each page is requested only when the previous one has been consumed.
    """
    offset = 0
    while True:
        page: Page = _resource(kind).list(
            filters=dict(filters), limit=page_size, offset=offset, ordering=ordering
        )
        if page.items:
            yield page.items
        if page.next_offset is None:
            return
        offset = page.next_offset


# --- drafts across kinds -------------------------------------------------------------------


@dataclass(frozen=True)
class DraftRow:
    kind: RecordKind
    record: Record
    key: str
    created_at: dt.datetime | None
    saved_by: str = ""  # the person who last saved it through the portal (audit log)


@dataclass(frozen=True)
class DraftsOverview:
    rows: list[DraftRow]
    counts: dict[str, int]  # kind slug -> drafts DualEntry holds
    truncated: list[RecordKind] = field(default_factory=list)  # kinds with more than shown

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time.min, tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return _as_datetime(dt.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def record_created_at(record: Record) -> dt.datetime | None:
    """When a record was created, as far as DualEntry tells (creator's timestamp, else date)."""
    creator = record.get("created_by")
    stamp = creator.get("timestamp") if isinstance(creator, Mapping | Record) else None
    return _as_datetime(stamp) or _as_datetime(record.get("created_at"))


def _newest_first(kind: RecordKind) -> str:
    # Numbers (transactions) and ids (contracts) are assigned in creation order.
    return f"-{kind.key_field}"


def drafts_overview(
    *,
    kinds: Iterable[RecordKind],
    company_ids: list[int] | None = None,
    per_kind: int = DRAFTS_PER_KIND,
) -> DraftsOverview:
    """Drafts in DualEntry across kinds, newest first (one upstream call per kind).

    Shows at most `per_kind` drafts of each kind (the newest); `truncated` names the kinds that
    have more, whose own list page pages through all of them.
    """
    rows: list[DraftRow] = []
    counts: dict[str, int] = {}
    truncated: list[RecordKind] = []
    for kind in kinds:
        filters: dict[str, Any] = {kind.status_field: [DRAFT_STATUS]}
        if company_ids:
            filters["company_id"] = list(company_ids)
        page = _resource(kind).list(filters=filters, limit=per_kind, ordering=_newest_first(kind))
        counts[kind.slug] = page.count
        if page.count > len(page.items):
            truncated.append(kind)
        for record in page.items:
            created = record_created_at(record) or _as_datetime(record.get("date"))
            rows.append(DraftRow(kind, record, kind.key_of(record), created))
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    rows.sort(key=lambda row: row.created_at or oldest, reverse=True)
    authors = portal_authors(rows=rows)
    rows = [replace(row, saved_by=authors.get((row.kind.slug, row.key), "")) for row in rows]
    return DraftsOverview(rows, counts, truncated)


def drafts_with_keys(*, kind: RecordKind, keys: list[str]) -> list[Record]:
    """Which of these records are still drafts in DualEntry (one upstream call).

    Uses the list filter on keys (`number` for transactions, `id` for contracts), so the
    answer is current even when the drafts were edited or posted in DualEntry itself.
    """
    if not keys:
        return []
    filters = {kind.key_field: [int(key) for key in keys if str(key).isdigit()]}
    filters[kind.status_field] = [DRAFT_STATUS]
    page = _resource(kind).list(
        filters=filters, limit=min(MAX_PAGE, len(keys)), ordering=_newest_first(kind)
    )
    return page.items


# --- one record: what the detail page shows besides the header fields -----------------------


@dataclass(frozen=True)
class SectionRows:
    section: Section
    rows: list[Record]

    @property
    def columns(self) -> list[Column]:
        """The section's columns that hold a value in some row (and every totalled one)."""
        return [
            column
            for column in self.section.columns
            if column.field in self.section.totals
            or any(not _blank(_nested(row, column.field)) for row in self.rows)
        ]


def _nested(record: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(record, Mapping | Record):
            return None
        record = record.get(part)
    return record


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def detail_sections(*, kind: RecordKind, record: Record) -> list[SectionRows]:
    """The kind's tables (line items, obligations, schedule, ...) with this record's rows."""
    return [
        SectionRows(section, _in_position_order(record.get(section.field) or []))
        for section in kind.detail_sections
    ]


def _in_position_order(rows: list[Record]) -> list[Record]:
    """Lines in their `position` order (as entered); rows without one keep the API's order."""
    if all(isinstance(row, Mapping | Record) and row.get("position") is not None for row in rows):
        return sorted(rows, key=lambda row: row["position"])
    return list(rows)


def record_attachments(*, record: Record) -> list[Record]:
    """Files attached to a record (contracts keep theirs under `contract_attachments`)."""
    return list(record.get("attachments") or record.get("contract_attachments") or [])


def custom_field_values(*, record: Record) -> list[tuple[str, str]]:
    """(field name, value as text) for the record's custom fields that have a value."""
    values = []
    for pair in record.get("custom_fields") or []:
        definition, stored = pair.get("field") or {}, pair.get("value") or {}
        name = definition.get("name") or stored.get("custom_field_name") or ""
        value = stored.get("value") if isinstance(stored, Mapping | Record) else stored
        if isinstance(value, list):
            value = ", ".join(str(part) for part in value)
        elif isinstance(value, bool):
            value = "Yes" if value else "No"
        if name and value not in (None, ""):
            values.append((str(name), str(value)))
    return values


def portal_authors(*, rows: Iterable[DraftRow]) -> dict[tuple[str, str], str]:
    """Who last saved each record through the portal, from the audit log (one query).

    DualEntry's `created_by` is the portal's API user for anything saved through the portal,
    so the person's name comes from the portal's own audit log. Records never saved through
    the portal are absent.
    """
    from portal.audit import actions
    from portal.audit.models import AuditEvent

    wanted = {(row.kind.slug, row.key) for row in rows}
    if not wanted:
        return {}
    events = (
        AuditEvent.objects.filter(
            action__in=[actions.RECORD_CREATED, actions.RECORD_UPDATED],
            success=True,
            kind__in={kind for kind, _ in wanted},
            key__in={key for _, key in wanted},
        )
        .select_related("actor")
        .order_by("-sequence")
    )
    authors: dict[tuple[str, str], str] = {}
    for event in events:
        pair = (event.kind, event.key)
        if pair in wanted and pair not in authors:
            person = event.actor.get_full_name() if event.actor else ""
            authors[pair] = person or event.actor_username
    return authors


# --- contract usage ------------------------------------------------------------------------


@dataclass(frozen=True)
class UsagePage(Pagination):
    contract: Record
    records: list[Record]
    count: int
    limit: int
    offset: int
    obligations: dict[int, str]  # obligation id -> a label for people

    @property
    def rows(self) -> list[tuple[Record, str]]:
        """(usage record, its obligation's label)."""
        return [
            (
                usage,
                self.obligations.get(usage.get("obligation_id"), f"#{usage.get('obligation_id')}"),
            )
            for usage in self.records
        ]


def obligation_labels(*, contract: Record, references: Any = None) -> dict[int, str]:
    """Obligation id -> "1. Platform subscription" (memo, else the item's name), numbered from
    1 in the contract's order."""
    labels: dict[int, str] = {}
    obligations = [
        obligation
        for obligation in contract.get("obligations") or []
        if obligation.get("id") is not None
    ]
    # Numbered from 1 in the contract's order, as people count (DualEntry's positions start at 0).
    for number, obligation in enumerate(_in_position_order(obligations), start=1):
        item_id = obligation.get("item_id")
        item = references.name("items", item_id) if references is not None and item_id else None
        text = obligation.get("memo") or item or f"Obligation {obligation['id']}"
        labels[obligation["id"]] = f"{number}. {text}"
    return labels


def usage_page(
    *,
    contract: Record,
    filters: Mapping[str, Any],
    limit: int,
    offset: int = 0,
    obligations: dict[int, str] | None = None,
) -> UsagePage:
    """One page of a contract's usage records (one upstream call: API v2 returns a contract's
    usage unpaginated, and the client pages and filters it)."""
    page = get_client().contracts.list_usage(
        contract["id"], filters=dict(filters), limit=min(limit, MAX_PAGE), offset=offset
    )
    return UsagePage(contract, page.items, page.count, limit, offset, obligations or {})


# --- edit: may a draft be edited, what the portal last sent, record versions (stale checks) --


@dataclass(frozen=True)
class DraftEditability:
    """Whether a DualEntry record may be edited as a draft now; `refusal` says why not."""

    refusal: str = ""
    locked: bool = False  # waiting for approval (as opposed to: not a draft)

    @property
    def editable(self) -> bool:
        return not self.refusal


def draft_editability(*, kind: RecordKind, key: str, record: Mapping[str, Any]) -> DraftEditability:
    """The one rule for "may this draft be edited": the detail page (whether to offer Edit),
    the edit page (whether to show the form) and the save service (whether to send the PUT)
    all ask here. Only drafts of kinds the API updates, and none waiting for approval."""
    label = f"{kind.label.capitalize()} {key}"
    if not kind.can_update:
        return DraftEditability(
            f"DualEntry does not allow {kind.label_plural} to be changed; prepare a new "
            f"{kind.label} proposal instead."
        )
    if ApprovalRequest.objects.open_for(kind.slug, key).exists():
        return DraftEditability(
            f"{label} is waiting for approval and cannot be edited until the request is "
            "withdrawn or rejected.",
            locked=True,
        )
    status = record.get(kind.status_field)
    if status != DRAFT_STATUS:
        return DraftEditability(
            f"{label} is {status}: only drafts are edited here. Propose a change from its "
            "page instead."
        )
    return DraftEditability()


# Values that change on every read without the record changing (signed download links).
_VOLATILE_FIELDS = frozenset({"download_url", "upload_url"})


def proposal_editability(proposal: Proposal) -> str:
    """Why a proposal cannot be edited ("" if it can): the proposal's page (whether to offer
    Edit and Submit) and its edit page ask here."""
    if proposal.is_applied:
        return f"Proposal #{proposal.pk} was applied in DualEntry and can no longer be edited."
    if proposal.action == Proposal.Action.ARCHIVE_RECORD:
        return "An archive request has nothing to edit."
    if ApprovalRequest.objects.open_for_proposal(proposal).exists():
        return (
            f"Proposal #{proposal.pk} is waiting for approval and cannot be edited until the "
            "request is withdrawn or rejected."
        )
    return ""


def last_sent_payload(*, kind: RecordKind | str, key: str | int) -> dict | None:
    """The last full body the portal sent for a record (JSON-ready), or None."""
    slug = getattr(kind, "slug", kind)
    sent = SentPayload.objects.filter(kind=slug, key=str(key)).only("payload").first()
    return sent.payload if sent is not None else None


def account_numbers_by_id() -> dict[int, int]:
    """Account id -> number from the cached account list ({} if it cannot be loaded)."""
    from portal.records.references import reference_list

    try:
        accounts = reference_list("accounts")
    except DualEntryError as error:
        logger.warning("account list unavailable for a deposit body: %s", error)
        return {}
    return {
        key: entry["number"]
        for key, entry in accounts.entries.items()
        if entry.get("number") is not None
    }


def record_as_payload(*, kind: RecordKind, key: str, record: Record) -> dict[str, Any]:
    """The record as a full body, with remembered deposit line amounts where they still fit."""
    from portal.records.payloads import payload_from_record

    return payload_from_record(
        kind=kind,
        record=record,
        sent_payload=last_sent_payload(kind=kind.slug, key=key),
        accounts=account_numbers_by_id() if not kind.returns_line_amounts else None,
    )


def _without_volatile(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: _without_volatile(item)
            for key, item in value.items()
            if key not in _VOLATILE_FIELDS
        }
    if isinstance(value, list):
        return [_without_volatile(item) for item in value]
    return value


def record_version(record: Record | Mapping[str, Any]) -> str:
    """The version of a record for stale checks: `updated_at` if DualEntry sends one, else
    the SHA-256 of its canonical JSON (signed download links left out)."""
    import hashlib
    import json

    updated_at = record.get("updated_at")
    if updated_at:
        return updated_at.isoformat() if hasattr(updated_at, "isoformat") else str(updated_at)
    raw = record.raw if isinstance(record, Record) else record
    canonical = json.dumps(
        _without_volatile(raw), sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def form_references(*, names: Iterable[str], contract: Record | None = None):
    """The choices of an edit form (`portal.records.forms.FormReferences`) from the cached
    reference lists. A list DualEntry cannot give right now is None: the form then asks for
    the id instead. `contract` gives a usage batch its obligations."""
    from portal.records.forms import FormReferences, Option
    from portal.records.references import reference_list, references_load

    def options(name: str) -> list[Option] | None:
        try:
            entries = reference_list(name).entries
        except DualEntryError as error:
            logger.warning("reference list %s unavailable for a form: %s", name, error)
            return None
        result = []
        for key, entry in entries.items():
            value = entry.get("number") if name == "accounts" else key
            if value is None:
                continue
            result.append(
                Option(
                    value=value,
                    label=str(entry.get("name") or value),
                    company_id=entry.get("company_id"),
                    currency=entry.get("currency_iso_4217_code") or "",
                )
            )
        return sorted(result, key=lambda option: (option.label.casefold(), option.value))

    wanted = set(names)
    references = FormReferences(
        **{name: options(name) for name in ("companies", "customers", "accounts", "items",
                                             "vendors") if name in wanted},
        payment_methods=options("payment_methods") or [],
    )  # fmt: skip
    if contract is not None:
        try:
            item_names = references_load(names=["items"])
        except DualEntryError:
            item_names = None
        labels = obligation_labels(contract=contract, references=item_names)
        references.obligations = [Option(value=key, label=label) for key, label in labels.items()]
    return references
