"""Money rules: what a refund or deposit line may apply, checked the same way everywhere.

One module, used by the form validation (save), by submit and by approval:

- a credit or prepayment a refund line applies belongs to the refund's customer and company
  and is posted; a record a deposit line deposits belongs to the deposit's company (and to the
  line's customer when one is named) and is posted;
- a line applies no more than the source's balance (a credit's or prepayment's remaining
  amount; the amount of a payment, cash sale or vendor refund a deposit deposits) minus what
  other open drafts and pending approval requests already apply to it ("reserved");
- the source is in the record's currency;
- a refund's bank/card amount is not more than its total;
- the bank account is a bank or credit-card account of the record's company.

Sources come from the read model when a person is typing (`SourceLookup.READ_MODEL`, falling
back to DualEntry for anything the copy lacks) and from DualEntry itself, in the write lane, at
submit and approval (`SourceLookup.LIVE`): a balance used up meanwhile blocks the approval with
the reason instead of posting.

Reservations come from the read model's drafts of the same kind and from the payloads of open
approval requests (`portal.approvals.models`, queried only: records never call approvals'
services). A record never reserves against itself (`exclude_key`).

`lock_sources` serialises two preparers applying the same source: on PostgreSQL it takes
`SELECT ... FOR UPDATE` on the read-model rows of the sources for the whole validate-and-save,
so the second one validates after the first one's draft is in the read model (write-through).
SQLite has no row locks (Django ignores `select_for_update` there) and locks the whole database
for a write transaction, so holding one across the DualEntry call would make every other
writer fail with "database is locked": on SQLite the check and the save run unlocked, two
simultaneous preparers can both pass the check, and the live check at submit and approval is
what catches the second one. Production runs on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from dualentry_api.client import get_client
from dualentry_api.errors import DualEntryError
from dualentry_api.ratelimit import Lane, use_lane
from dualentry_api.records import as_date, as_decimal
from portal.approvals.models import ApprovalRequest
from portal.readmodel.models import MirroredRecord, MirroredReference
from portal.readmodel.selectors import mirrored_records, mirrored_references
from portal.records.forms.fields import BANK_ACCOUNT_TYPES, format_money
from portal.records.models import SentPayload

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")
POSTED = "posted"


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


# --- what a line can apply --------------------------------------------------------------------


@dataclass(frozen=True)
class SourceType:
    """A kind of record a line points to by number (a refund's credit, a deposit's payment)."""

    field: str  # the line's body field: "customer_credit_number"
    noun: str  # "credit"
    resource: str  # the API client's resource: "customer_credits"
    balance_field: str  # what a line may apply at most: "remaining_amount", "amount"
    balance_label: str  # "remaining", "amount"
    mirror_kind: str = ""  # a read-model record kind holding them ("credits")
    mirror_source: str = ""  # or a read-model reference list ("customer_prepayments")
    has_customer: bool = True  # vendor refunds have a vendor instead

    @property
    def label(self) -> str:
        return self.noun.capitalize()


SOURCE_TYPES: dict[str, SourceType] = {
    source.field: source
    for source in (
        SourceType(
            "customer_credit_number",
            "credit",
            "customer_credits",
            "remaining_amount",
            "remaining",
            mirror_kind="credits",
        ),
        SourceType(
            "customer_prepayment_number",
            "prepayment",
            "customer_prepayments",
            "remaining_amount",
            "remaining",
            mirror_source="customer_prepayments",
        ),
        SourceType(
            "customer_payment_number",
            "payment",
            "customer_payments",
            "amount",
            "amount",
            mirror_source="customer_payments",
        ),
        SourceType(
            "cash_sale_number",
            "cash sale",
            "cash_sales",
            "amount",
            "amount",
            mirror_source="cash_sales",
        ),
        SourceType(
            "vendor_refund_number",
            "vendor refund",
            "vendor_refunds",
            "amount",
            "amount",
            mirror_source="vendor_refunds",
            has_customer=False,
        ),
    )
}
# Which line fields each kind's lines use to point at a source.
KIND_SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "refunds": ("customer_credit_number", "customer_prepayment_number"),
    "deposits": (
        "customer_payment_number",
        "customer_prepayment_number",
        "cash_sale_number",
        "vendor_refund_number",
    ),
}
# Reference lists the read model copies for the pickers (registered in RecordsConfig.ready).
MIRRORED_SOURCE_LISTS = tuple(source for source in SOURCE_TYPES.values() if source.mirror_source)


@dataclass(frozen=True)
class Source:
    """One record a line can apply, as DualEntry (or its local copy) describes it."""

    type: SourceType
    number: int
    status: str
    company_id: int | None
    company_name: str
    customer_id: int | None
    customer_name: str
    date: dt.date | None
    currency: str
    amount: Decimal | None
    balance: Decimal | None  # remaining (credits, prepayments) or amount (deposit sources)
    memo: str = ""

    @classmethod
    def from_data(cls, source_type: SourceType, data: Mapping[str, Any]) -> Source | None:
        number = _int(data.get("number"))
        if number is None:
            return None
        return cls(
            type=source_type,
            number=number,
            status=str(data.get("record_status") or ""),
            company_id=_int(data.get("company_id")),
            company_name=str(data.get("company_name") or ""),
            customer_id=_int(data.get("customer_id")),
            customer_name=str(data.get("customer_name") or data.get("vendor_name") or ""),
            date=as_date(data.get("date")),
            currency=str(data.get("currency_iso_4217_code") or ""),
            amount=as_decimal(data.get("amount")),
            balance=as_decimal(data.get(source_type.balance_field)),
            memo=str(data.get("memo") or ""),
        )

    @property
    def title(self) -> str:
        """ "credit 1088" """
        return f"{self.type.noun} {self.number}"

    def label(self, *, reserved: Decimal = ZERO) -> str:
        """ "Credit 1088 · 2026-05-02 · remaining 1,910.00 USD · memo" (picker options)."""
        parts = [f"{self.type.label} {self.number}"]
        if self.date:
            parts.append(self.date.isoformat())
        if self.balance is not None:
            balance = f"{self.type.balance_label} {format_money(self.balance)} {self.currency}"
            if reserved:
                balance += f" ({format_money(reserved)} reserved)"
            parts.append(balance.strip())
        if self.memo:
            memo = " ".join(self.memo.split())
            parts.append(memo[:60] + ("…" if len(memo) > 60 else ""))
        return " · ".join(parts)


def _source_rows(source_type: SourceType) -> Any:
    """The read-model rows holding this type of source (a QuerySet)."""
    if source_type.mirror_kind:
        return mirrored_records(kind=source_type.mirror_kind)
    return mirrored_references(source=source_type.mirror_source)


def sources_from_read_model(source_type: SourceType, numbers: Iterable[int]) -> dict[int, Source]:
    wanted = [str(number) for number in numbers]
    found: dict[int, Source] = {}
    for data in _source_rows(source_type).filter(key__in=wanted).values_list("data", flat=True):
        source = Source.from_data(source_type, data)
        if source is not None:
            found[source.number] = source
    return found


def sources_live(source_type: SourceType, numbers: Iterable[int]) -> dict[int, Source]:
    """The sources as DualEntry has them now (one list call, in the write lane)."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    with use_lane(Lane.WRITE):
        resource = get_client().resource(source_type.resource)
        page = resource.list_raw({"number": wanted}, limit=min(100, max(1, len(wanted))))
    found: dict[int, Source] = {}
    for data in page.items:
        if isinstance(data, Mapping):
            source = Source.from_data(source_type, data)
            if source is not None and source.number in wanted:
                found[source.number] = source
    return found


class SourceLookup:
    READ_MODEL = "read model"  # while typing: the copy, DualEntry for what it lacks
    LIVE = "live"  # submit and approval: DualEntry itself


def load_sources(
    wanted: Mapping[str, set[int]], *, lookup: str
) -> tuple[dict[tuple[str, int], Source], set[tuple[str, int]]]:
    """(line field, number) -> Source for every number wanted, and the ones that could not be
    looked up. LIVE raises DualEntryError when DualEntry cannot answer; READ_MODEL then leaves
    the numbers the copy lacks unknown (DualEntry itself checks them when the draft is saved,
    and the rules run again, live, at submit and approval)."""
    result: dict[tuple[str, int], Source] = {}
    unknown: set[tuple[str, int]] = set()
    for field_name, numbers in wanted.items():
        if not numbers:
            continue
        source_type = SOURCE_TYPES[field_name]
        found: dict[int, Source] = {}
        if lookup == SourceLookup.READ_MODEL:
            found = sources_from_read_model(source_type, numbers)
        missing = set(numbers) - set(found)
        if missing:
            try:
                found.update(sources_live(source_type, missing))
            except DualEntryError as error:
                if lookup == SourceLookup.LIVE:
                    raise
                logger.warning("money rules: %s not in the copy, DualEntry: %s", missing, error)
                unknown.update((field_name, number) for number in missing)
        result.update({(field_name, number): source for number, source in found.items()})
    return result, unknown


# --- reservations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    """An amount another open record applies to a source."""

    title: str  # "draft refund 1093", "refund 1093 (waiting for approval)"
    amount: Decimal


def _lines_of(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = payload.get("items") if isinstance(payload, Mapping) else None
    return [line for line in items or [] if isinstance(line, Mapping)]


def reservations(
    *, kind_slug: str, noun: str, exclude_key: str = ""
) -> dict[tuple[str, int], list[Reservation]]:
    """(line field, number) -> what other open records of `kind_slug` apply to that source:
    payloads of open approval requests first, then the read model's drafts not under one."""
    fields = KIND_SOURCE_FIELDS.get(kind_slug, ())
    found: dict[tuple[str, int], list[Reservation]] = defaultdict(list)
    seen_keys = {str(exclude_key)} if exclude_key else set()

    def add(title: str, payload: Mapping[str, Any]) -> None:
        for line in _lines_of(payload):
            amount = as_decimal(line.get("amount"))
            for field_name in fields:
                number = _int(line.get(field_name))
                if number is not None and amount is not None:
                    found[(field_name, number)].append(Reservation(title, amount))

    requests = (
        ApprovalRequest.objects.open()
        .filter(kind=kind_slug)
        .only("key", "payload", "proposal_id")
        .order_by("pk")
    )
    for approval_request in requests:
        key = approval_request.key or ""
        if key and key in seen_keys:
            continue
        if key:
            seen_keys.add(key)
        title = f"{noun} {key}" if key else f"a {noun} proposal"
        add(f"{title} (waiting for approval)", approval_request.payload)
    drafts = mirrored_records(kind=kind_slug).filter(status="draft").exclude(key__in=seen_keys)
    for key, data in drafts.values_list("key", "data"):
        payload = data
        if any(line.get("amount") in (None, "") for line in _lines_of(data)):
            # A deposit's GET has no line amounts: what the portal last sent has them.
            sent = SentPayload.objects.filter(kind=kind_slug, key=key).first()
            if sent is None:
                continue
            payload = sent.payload
        add(f"draft {noun} {key}", payload)
    return found


# --- the rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A rule a record breaks: `line` is the 0-based line index (None: the header)."""

    line: int | None
    field: str
    message: str


@dataclass
class LineCheck:
    """What one line applies and how it stands (the approval review shows these)."""

    index: int
    field: str
    number: int
    amount: Decimal
    source: Source | None
    reserved: list[Reservation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def reserved_total(self) -> Decimal:
        return sum((item.amount for item in self.reserved), ZERO)

    @property
    def before(self) -> Decimal | None:
        """What the source has left for this line (balance minus other reservations)."""
        if self.source is None or self.source.balance is None:
            return None
        return self.source.balance - self.reserved_total

    @property
    def after(self) -> Decimal | None:
        before = self.before
        return None if before is None else before - self.amount


@dataclass
class MoneyCheck:
    """The outcome of the rules for one record."""

    lines: list[LineCheck]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def sentences(self) -> list[str]:
        return [problem.message for problem in self.problems]


def _line_sources(
    kind_slug: str, lines: list[Mapping[str, Any]]
) -> list[tuple[int, str, int, Decimal]]:
    found = []
    for index, line in enumerate(lines):
        amount = as_decimal(line.get("amount")) or ZERO
        for field_name in KIND_SOURCE_FIELDS.get(kind_slug, ()):
            number = _int(line.get(field_name))
            if number is not None:
                found.append((index, field_name, number, amount))
    return found


def _applied_by(kind_slug: str, record: Mapping[str, Any]) -> dict[tuple[str, int], Decimal]:
    """What a posted record's lines apply per source (already inside the remaining balances)."""
    if str(record.get("record_status") or "") != POSTED:
        return {}
    applied: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
    for _index, field_name, number, amount in _line_sources(kind_slug, _lines_of(record)):
        applied[(field_name, number)] += amount
    return dict(applied)


def _reserved_sentence(reserved: list[Reservation], currency: str) -> str:
    return ", ".join(f"{item.title}: {format_money(item.amount)} {currency}" for item in reserved)


def check_record(
    *,
    kind_slug: str,
    header: Mapping[str, Any],
    lines: list[Mapping[str, Any]],
    exclude_key: str = "",
    lookup: str = SourceLookup.READ_MODEL,
    names: Mapping[str, Mapping[int, str]] | None = None,
    own_posted: Mapping[str, Any] | None = None,
) -> MoneyCheck:
    """Every rule of this module for one record body (header fields + lines, as sent).

    `names` gives people's names for ids (`{"customers": {101: "Acme"}, "companies": ...}`)
    where the caller has them. `own_posted` is the record as posted in DualEntry when this body
    changes a posted record: what it already applies is inside the sources' remaining balances,
    so it counts as available again (read from the read model when not given). Raises
    DualEntryError when a source must be read from DualEntry and cannot be."""
    if kind_slug not in KIND_SOURCE_FIELDS:
        return MoneyCheck(lines=[], problems=[])
    noun = "refund" if kind_slug == "refunds" else "deposit"
    names = names or {}
    applied = _line_sources(kind_slug, lines)
    wanted: dict[str, set[int]] = defaultdict(set)
    for _index, field_name, number, _amount in applied:
        wanted[field_name].add(number)
    sources, unknown = load_sources(wanted, lookup=lookup)
    reserved = reservations(kind_slug=kind_slug, noun=noun, exclude_key=exclude_key)
    if own_posted is None and exclude_key:
        own_posted = (
            mirrored_records(kind=kind_slug)
            .filter(key=str(exclude_key), status=POSTED)
            .values_list("data", flat=True)
            .first()
        )
    given_back = _applied_by(kind_slug, own_posted) if own_posted else {}

    company_id = _int(header.get("company_id"))
    customer_id = _int(header.get("customer_id"))
    currency = str(header.get("currency_iso_4217_code") or "")
    company_name = names.get("companies", {}).get(company_id) if company_id else None
    customer_name = names.get("customers", {}).get(customer_id) if customer_id else None

    checks: list[LineCheck] = []
    problems: list[Problem] = []
    applied_so_far: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
    for index, field_name, number, amount in applied:
        source = sources.get((field_name, number))
        source_type = SOURCE_TYPES[field_name]
        check = LineCheck(
            index=index,
            field=field_name,
            number=number,
            amount=amount,
            source=source,
            reserved=list(reserved.get((field_name, number), [])),
        )
        checks.append(check)
        line_name = f"Line {index + 1}"

        def fail(message: str, *, _check=check, _field=field_name, _index=index) -> None:
            _check.problems.append(message)
            problems.append(Problem(_index, _field, message))

        if source is None and (field_name, number) in unknown:
            continue
        if source is None:
            fail(
                f"{line_name}: {source_type.noun} {number} was not found in DualEntry; choose "
                f"one of the {source_type.noun}s listed."
            )
            continue
        if source.status != POSTED:
            fail(
                f"{line_name}: {source.title} is {source.status or 'not posted'}, not posted; "
                f"only a posted {source_type.noun} can be applied."
            )
        if company_id is not None and source.company_id != company_id:
            fail(
                f"{line_name}: {source.title} belongs to "
                f"{source.company_name or f'company {source.company_id}'}, not to "
                f"{company_name or f'company {company_id}'}; choose one of this company's "
                f"{source_type.noun}s."
            )
        line_customer = (
            customer_id if kind_slug == "refunds" else _int(lines[index].get("customer_id"))
        )
        if (
            source_type.has_customer
            and line_customer is not None
            and source.customer_id != line_customer
        ):
            whose = customer_name if kind_slug == "refunds" else None
            whose = whose or names.get("customers", {}).get(line_customer)
            fail(
                f"{line_name}: {source.title} belongs to "
                f"{source.customer_name or f'customer {source.customer_id}'}, not to "
                f"{whose or f'customer {line_customer}'}; a {noun} can only apply the "
                f"customer's own {source_type.noun}s."
            )
        if currency and source.currency and source.currency != currency:
            fail(
                f"{line_name}: {source.title} is in {source.currency} but the {noun} is in "
                f"{currency}; choose a {source_type.noun} in {currency} or change the "
                f"{noun}'s currency."
            )
        if source.balance is None:
            continue
        key = (field_name, number)
        applied_so_far[key] += amount
        available = source.balance - check.reserved_total + given_back.get(key, ZERO)
        if applied_so_far[key] > available:
            cur = source.currency or currency
            earlier = applied_so_far[key] - amount
            message = (
                f"{line_name}: {format_money(amount)} {cur} is more than {source.title} has "
                f"left for this {noun}: {source.type.balance_label} "
                f"{format_money(source.balance)} {cur}"
            )
            if check.reserved:
                message += (
                    f", of which {format_money(check.reserved_total)} {cur} is reserved by "
                    f"{_reserved_sentence(check.reserved, cur)}"
                )
            if earlier:
                message += f", and earlier lines of this {noun} apply {format_money(earlier)} {cur}"
            left = max(available - earlier, ZERO)
            message += f". At most {format_money(left)} {cur} can be applied."
            fail(message)

    if kind_slug == "refunds":
        total = sum((as_decimal(line.get("amount")) or ZERO for line in lines), ZERO)
        paid = as_decimal(header.get("bank_or_credit_card_amount"))
        if paid is not None and paid > total:
            problems.append(
                Problem(
                    None,
                    "bank_or_credit_card_amount",
                    f"Paid from bank or card: {format_money(paid)} is more than the refund's "
                    f"total ({format_money(total)}, the sum of its lines).",
                )
            )
    return MoneyCheck(lines=checks, problems=problems)


# --- the bank account ---------------------------------------------------------------------------


def account_problem(
    *, account: Mapping[str, Any] | None, number: int, company_id: int | None, label: str
) -> str:
    """Why `account` cannot be the record's bank account ("" when it can)."""
    if account is None:
        return f"{label}: account {number} was not found in DualEntry; choose one from the list."
    name = f"{account.get('number')} · {account.get('name')}"
    if company_id is not None and _int(account.get("company_id")) != company_id:
        return (
            f"{label}: {name} belongs to another company; choose a bank or credit-card "
            "account of this company."
        )
    account_type = str(account.get("account_type") or "")
    if account_type not in BANK_ACCOUNT_TYPES:
        shown = account_type.replace("_", " ") or "not a bank account"
        return (
            f"{label}: {name} is {shown}, not a bank or credit-card account; choose the bank "
            "or card account the money moves through."
        )
    return ""


def account_live(number: int) -> Mapping[str, Any] | None:
    with use_lane(Lane.WRITE):
        page = get_client().accounts.list_raw({"number": [number]}, limit=1)
    for data in page.items:
        if isinstance(data, Mapping) and _int(data.get("number")) == number:
            return data
    return None


def check_payload_live(
    *,
    kind_slug: str,
    payload: Mapping[str, Any],
    exclude_key: str = "",
    own_posted: Mapping[str, Any] | None = None,
) -> MoneyCheck:
    """The rules against DualEntry as it is now (submit, approval): sources and the bank
    account are read live (`own_posted`: the live record a change replaces). Raises
    DualEntryError if DualEntry cannot answer."""
    result = check_record(
        kind_slug=kind_slug,
        header=payload,
        lines=_lines_of(payload),
        exclude_key=exclude_key,
        lookup=SourceLookup.LIVE,
        own_posted=own_posted if own_posted is not None else {},
    )
    number = _int(payload.get("account_number"))
    if kind_slug in KIND_SOURCE_FIELDS and number is not None:
        label = "Bank account" if kind_slug == "refunds" else "Deposit to account"
        problem = account_problem(
            account=account_live(number),
            number=number,
            company_id=_int(payload.get("company_id")),
            label=label,
        )
        if problem:
            result.problems.append(Problem(None, "account_number", problem))
    return result


# --- pickers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PickerOption:
    value: int
    label: str
    available: Decimal | None  # what a line may still apply (balance minus reservations)
    currency: str


def open_sources(
    *,
    kind_slug: str,
    field_name: str,
    company_id: int | None,
    customer_id: int | None = None,
    search: str = "",
    limit: int = 50,
    keep: Iterable[int] = (),
    exclude_key: str = "",
) -> list[PickerOption] | None:
    """The sources a line may pick, from the read model: posted, of the company (and of the
    customer for a refund), with something left; `keep` numbers are listed whatever they are
    (a line's current choice). Newest first. None when the read model holds none of this type
    at all (not synced yet)."""
    source_type = SOURCE_TYPES[field_name]
    rows = _source_rows(source_type)
    if not rows.exists():
        return None  # never copied (no sync yet): the line keeps a number box
    keep = {number for number in keep if number is not None}
    if company_id is None:
        rows = rows.filter(key__in=[str(number) for number in keep])
    found: list[Source] = []
    for data in rows.values_list("data", flat=True).iterator():
        source = Source.from_data(source_type, data)
        if source is None:
            continue
        if source.number in keep:
            found.append(source)
            continue
        if source.status != POSTED or source.company_id != company_id:
            continue
        wrong_customer = source.customer_id != customer_id
        if source_type.has_customer and customer_id is not None and wrong_customer:
            continue
        if source.balance is not None and source.balance <= 0:
            continue
        if search and search.casefold() not in source.label().casefold():
            continue
        found.append(source)
    found.sort(key=lambda source: (source.date or dt.date.min, source.number), reverse=True)
    found = found[:limit]
    noun = "refund" if kind_slug == "refunds" else "deposit"
    reserved = reservations(kind_slug=kind_slug, noun=noun, exclude_key=exclude_key)
    options = []
    for source in found:
        taken = sum((item.amount for item in reserved.get((field_name, source.number), [])), ZERO)
        available = None if source.balance is None else max(source.balance - taken, ZERO)
        options.append(
            PickerOption(
                value=source.number,
                label=source.label(reserved=taken),
                available=available,
                currency=source.currency,
            )
        )
    return options


# --- the lock ---------------------------------------------------------------------------------


def numbers_in_post(kind_slug: str, data: Mapping[str, Any]) -> dict[str, set[int]]:
    """The source numbers a posted form's lines name (before validation)."""
    wanted: dict[str, set[int]] = defaultdict(set)
    fields = KIND_SOURCE_FIELDS.get(kind_slug, ())
    for name in data:
        if not name.startswith("items-"):
            continue
        suffix = name.rsplit("-", 1)[-1]
        if suffix in fields:
            number = _int(data.get(name))
            if number is not None:
                wanted[suffix].add(number)
    return wanted


@contextmanager
def lock_sources(*, kind_slug: str, data: Mapping[str, Any]) -> Iterator[None]:
    """One transaction around validate-and-save in which the read-model rows of the sources
    the form applies are locked (PostgreSQL; see the module docstring for SQLite)."""
    wanted = numbers_in_post(kind_slug, data)
    if not wanted or not connection.features.has_select_for_update:
        # SQLite: no row locks, and a transaction held across the DualEntry call would lock
        # every other writer out of the whole database (see the module docstring).
        yield
        return
    with transaction.atomic():
        for field_name, numbers in sorted(wanted.items()):
            source_type = SOURCE_TYPES[field_name]
            keys = sorted(str(number) for number in numbers)
            rows = (
                MirroredRecord.objects.filter(
                    pk__in=_source_rows(source_type).filter(key__in=keys).values("pk")
                )
                if source_type.mirror_kind
                else MirroredReference.objects.filter(
                    pk__in=_source_rows(source_type).filter(key__in=keys).values("pk")
                )
            )
            list(rows.select_for_update().order_by("pk").values_list("pk", flat=True))
        yield


def safe_check_payload_live(
    *, kind_slug: str, payload: Mapping[str, Any], exclude_key: str = ""
) -> tuple[MoneyCheck | None, str]:
    """`check_payload_live`, with DualEntry's failure as a sentence instead of an exception."""
    try:
        return check_payload_live(kind_slug=kind_slug, payload=payload, exclude_key=exclude_key), ""
    except DualEntryError as error:
        logger.warning("money rules: DualEntry could not be read: %s", error)
        return None, (
            "The balances of the credits and records this applies could not be read from "
            f"DualEntry just now ({error}); try again in a moment."
        )
