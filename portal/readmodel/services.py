"""Writes to the read model: idempotent upserts, the syncs, and write-through after portal writes.

Three syncs per record kind, all charged to the sync lane of the client's rate budget:

* **new**: newest first (`ordering=-number` / `-id`) until a page holds a record the copy already
  has unchanged;
* **drafts**: every draft, plus one call that asks what became of local drafts that are no
  longer drafts (posted, archived, or gone);
* **full**: a pass over every record in key order, 100 per page, a few pages per run; the
  cursor is saved after each page, so a crash resumes where it stopped. When a pass completes,
  records it did not see are asked for once more by key and marked removed if still missing.

One sync of a kind runs at a time across processes (`sync_lease`, a conditional UPDATE on the
kind's `SyncState`). Requests of a sync are spaced by `sync_spacing()` so the sync never uses
more than `READMODEL_BUDGET_SHARE` of DualEntry's per-route and per-key rates. DualEntry
errors end the run, are recorded, and back the kind off exponentially (capped).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from dualentry_api.client import get_client
from dualentry_api.errors import BadResponse, DualEntryError, NotFound
from dualentry_api.ratelimit import Lane, use_lane
from dualentry_api.records import Record, to_jsonable
from dualentry_api.resources import MAX_LIMIT
from portal.readmodel.account import current_account
from portal.readmodel.models import (
    MirroredRecord,
    MirroredReference,
    SyncMode,
    SyncRun,
    SyncState,
)
from portal.readmodel.registry import (
    MirrorSpec,
    ReferenceSpec,
    all_reference_specs,
    all_specs,
    spec_for,
    value_at,
)

logger = logging.getLogger(__name__)

REFERENCES = "references"  # the SyncState/SyncRun "kind" of the reference lists
_RECORD_FIELDS = (
    "number",
    "company_id",
    "company_name",
    "customer_id",
    "customer_name",
    "name",
    "date",
    "second_date",
    "end_date",
    "currency",
    "amount",
    "remaining",
    "used",
    "status",
    "memo",
    "upstream_updated_at",
    "data",
    "data_hash",
    "needs_detail",
    "search_text",
    "seen_at",
    "changed_at",
    "removed_upstream_at",
)
_MAX_AMOUNT = Decimal("1e15")


# -- turning a JSON record into columns ------------------------------------------------------


def json_copy(record: Record | Mapping[str, Any]) -> dict[str, Any]:
    """The record as JSON-safe data: the client's raw JSON, decimals as exact strings."""
    raw = record.raw if isinstance(record, Record) else record
    return to_jsonable(dict(raw))


def data_hash(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an id")
    return int(value)


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float | bool):
        raise ValueError(f"{value!r} is not an exact amount")
    number = Decimal(str(value))
    if not number.is_finite() or abs(number) >= _MAX_AMOUNT:
        raise ValueError(f"{value!r} is not an amount the copy can hold")
    return number


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    text = str(value)
    if "T" in text or " " in text:
        return dt.datetime.fromisoformat(text).date()
    return dt.date.fromisoformat(text)


def _datetime(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    moment = dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def amount_spellings(amount: Decimal | None) -> list[str]:
    """An amount as people type it: 12000, 12000.00, 12,000.00 and 12 000,00."""
    if amount is None:
        return []
    cents = amount.quantize(Decimal("0.01"))
    plain = f"{cents:f}"
    grouped = f"{cents:,.2f}"
    spellings = [f"{amount.normalize():f}", plain, grouped]
    spellings.append(grouped.replace(",", " ").replace(".", ","))
    if cents == cents.to_integral_value():
        spellings.append(f"{cents.to_integral_value():f}")
    return list(dict.fromkeys(spellings))


def search_text_for(values: Iterable[Any], amounts: Iterable[Decimal | None]) -> str:
    words = [_text(value) for value in values]
    for amount in amounts:
        words.extend(amount_spellings(amount))
    return " ".join(word for word in words if word).lower()


def record_columns(spec: MirrorSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed columns of one record; ValueError (or TypeError) if a field is off-shape."""
    amount = _decimal(value_at(data, spec.amount_field))
    remaining = _decimal(value_at(data, spec.remaining_field))
    used = _decimal(value_at(data, spec.used_field))
    number = _text(value_at(data, spec.number_field))
    columns = {
        "number": number,
        "company_id": _int(value_at(data, spec.company_id_field)),
        "company_name": _text(value_at(data, spec.company_name_field))[:255],
        "customer_id": _int(value_at(data, spec.customer_id_field)),
        "customer_name": _text(value_at(data, spec.customer_name_field))[:255],
        "name": _text(value_at(data, spec.name_field))[:255],
        "date": _date(value_at(data, spec.date_field)),
        "second_date": _date(value_at(data, spec.second_date_field)),
        "end_date": _date(value_at(data, spec.end_date_field)),
        "currency": _text(value_at(data, spec.currency_field))[:8],
        "amount": amount,
        "remaining": remaining,
        "used": used,
        "status": _text(value_at(data, spec.status_field))[:32],
        "memo": _text(value_at(data, spec.memo_field)),
        "upstream_updated_at": _datetime(value_at(data, spec.updated_field)),
    }
    columns["search_text"] = search_text_for(
        (
            number,
            columns["memo"],
            columns["name"],
            columns["customer_name"],
            columns["company_name"],
        ),
        (amount, remaining),
    )
    return columns


# -- upserts ---------------------------------------------------------------------------------


@dataclass
class UpsertResult:
    seen: int = 0
    changed: int = 0  # new or different
    unchanged: int = 0
    skipped: int = 0  # could not be read
    keys: tuple[str, ...] = ()

    def add(self, other: UpsertResult) -> None:
        self.seen += other.seen
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.skipped += other.skipped


def _label(spec: MirrorSpec, raw: Any) -> str:
    if isinstance(raw, Mapping):
        return str(raw.get(spec.number_field) or raw.get(spec.key_field) or "without a number")
    return "that is not a JSON object"


def records_upsert(
    *,
    spec: MirrorSpec,
    account: str,
    items: Iterable[Any],
    seen_at: dt.datetime,
    with_detail: bool = False,
) -> UpsertResult:
    """Insert or update the copies of `items` (JSON records); only changed rows are written.

    A record that cannot be read is logged with its number and skipped. `with_detail`: the
    items come from a detail GET, so they carry the detail-only fields themselves.
    """
    prepared: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    result = UpsertResult()
    for raw in items:
        try:
            if not isinstance(raw, Mapping):
                raise ValueError("not a JSON object")
            data = json_copy(raw)
            key = spec.key_of(data)
            columns = record_columns(spec, data)
        except (ValueError, TypeError, ArithmeticError) as err:
            logger.warning(
                "read model: skipped %s %s, which cannot be read: %s",
                spec.kind,
                _label(spec, raw),
                err,
            )
            result.skipped += 1
            continue
        prepared[key] = (data, columns)
    if not prepared:
        return result
    existing = {
        row.key: row
        for row in MirroredRecord.objects.filter(
            account=account, kind=spec.kind, key__in=list(prepared)
        ).only(
            "key", "data", "data_hash", "needs_detail", "removed_upstream_at", "upstream_updated_at"
        )
    }
    rows = []
    for key, (data, columns) in prepared.items():
        old = existing.get(key)
        needs_detail = False
        if spec.detail_only_fields and not with_detail:
            kept = old.data if old is not None else {}
            for name in spec.detail_only_fields:
                if name not in data and name in kept:
                    data[name] = kept[name]
            needs_detail = old is None or old.needs_detail
        digest = data_hash(data)
        if old is not None and old.data_hash == digest and old.removed_upstream_at is None:
            result.unchanged += 1
            continue
        if _older(columns["upstream_updated_at"], old):
            # A page read before a portal write arrives after its write-through: keep the newer.
            result.unchanged += 1
            continue
        if spec.detail_only_fields and not with_detail and old is not None:
            needs_detail = True  # the list part changed: the detail may have too
        rows.append(
            MirroredRecord(
                account=account,
                kind=spec.kind,
                key=key,
                data=data,
                data_hash=digest,
                needs_detail=needs_detail,
                seen_at=seen_at,
                changed_at=seen_at,
                removed_upstream_at=None,
                **columns,
            )
        )
    if rows:
        MirroredRecord.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["account", "kind", "key"],
            update_fields=list(_RECORD_FIELDS),
        )
    MirroredRecord.objects.filter(account=account, kind=spec.kind, key__in=list(prepared)).update(
        seen_at=seen_at
    )
    result.seen = len(prepared)
    result.changed = len(rows)
    result.keys = tuple(prepared)
    return result


def _older(updated_at: dt.datetime | None, old: MirroredRecord | None) -> bool:
    return (
        updated_at is not None
        and old is not None
        and old.upstream_updated_at is not None
        and updated_at < old.upstream_updated_at
    )


def records_mark_removed(
    *, spec: MirrorSpec, account: str, keys: Iterable[str], removed_at: dt.datetime
) -> int:
    """Mark copies as gone upstream (lists hide them); the number newly marked."""
    return (
        MirroredRecord.objects.filter(
            account=account, kind=spec.kind, key__in=[str(key) for key in keys]
        )
        .filter(removed_upstream_at__isnull=True)
        .update(removed_upstream_at=removed_at, changed_at=removed_at)
    )


def mirror_record(
    *, kind: str, record: Record | Mapping[str, Any], seen_at: dt.datetime | None = None
) -> bool:
    """Write-through: copy DualEntry's answer to a portal write (save, post, upload, approval).

    Call it with the record DualEntry returned, in the same request, so the person who saved
    sees the change at once. True if the copy changed. A record the copy cannot read is logged
    and skipped (the next sync tries again); it never fails the write that produced it.
    """
    spec = spec_for(kind)
    with_detail = bool(spec.detail_only_fields) and all(
        name in record for name in spec.detail_only_fields
    )
    result = records_upsert(
        spec=spec,
        account=current_account(),
        items=[record.raw if isinstance(record, Record) else record],
        seen_at=seen_at or timezone.now(),
        with_detail=with_detail,
    )
    return result.changed > 0


def mirror_removed(*, kind: str, key: str | int, removed_at: dt.datetime | None = None) -> bool:
    """Write-through for a record DualEntry says is gone (404 on a read before a write)."""
    return (
        records_mark_removed(
            spec=spec_for(kind),
            account=current_account(),
            keys=[str(key)],
            removed_at=removed_at or timezone.now(),
        )
        > 0
    )


def references_upsert(
    *, spec: ReferenceSpec, account: str, items: Iterable[Any], seen_at: dt.datetime
) -> UpsertResult:
    result = UpsertResult()
    prepared: dict[str, MirroredReference] = {}
    for raw in items:
        try:
            if not isinstance(raw, Mapping):
                raise ValueError("not a JSON object")
            data = json_copy(raw)
            key = _text(data.get(spec.key_field))
            if not key:
                raise ValueError(f"no {spec.key_field}")
        except (ValueError, TypeError, ArithmeticError) as err:
            logger.warning(
                "read model: skipped a %s entry that cannot be read: %s", spec.source, err
            )
            result.skipped += 1
            continue
        prepared[key] = MirroredReference(
            account=account,
            source=spec.source,
            key=key,
            name=_text(value_at(data, spec.name_field))[:255],
            type=_text(value_at(data, spec.type_field))[:64],
            data=data,
            data_hash=data_hash(data),
            seen_at=seen_at,
        )
    if not prepared:
        return result
    hashes = dict(
        MirroredReference.objects.filter(
            account=account, source=spec.source, key__in=list(prepared)
        ).values_list("key", "data_hash")
    )
    rows = [row for key, row in prepared.items() if hashes.get(key) != row.data_hash]
    if rows:
        MirroredReference.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["account", "source", "key"],
            update_fields=["name", "type", "data", "data_hash", "seen_at"],
        )
    MirroredReference.objects.filter(
        account=account, source=spec.source, key__in=list(prepared)
    ).update(seen_at=seen_at)
    result.seen, result.changed = len(prepared), len(rows)
    result.unchanged = result.seen - result.changed
    return result


# -- state, lease, pacing --------------------------------------------------------------------


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def sync_state(*, account: str, kind: str) -> SyncState:
    """The state row of a kind (created on first use; safe when two processes race)."""
    try:
        return SyncState.objects.get_or_create(account=account, kind=kind)[0]
    except IntegrityError:
        return SyncState.objects.get(account=account, kind=kind)


def lease_owner_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_take(*, state: SyncState, owner: str, seconds: float | None = None) -> bool:
    """Take the kind's lease if it is free or expired: one conditional UPDATE, so of two
    processes trying at once exactly one succeeds (on SQLite and PostgreSQL alike)."""
    now = timezone.now()
    ttl = seconds if seconds is not None else float(_setting("READMODEL_LEASE_SECONDS", 60))
    taken = (
        SyncState.objects.filter(pk=state.pk)
        .filter(Q(lease_owner="") | Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True))
        .update(lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=ttl))
    )
    return taken == 1


def lease_renew(*, state: SyncState, owner: str) -> None:
    ttl = float(_setting("READMODEL_LEASE_SECONDS", 60))
    SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(
        lease_expires_at=timezone.now() + dt.timedelta(seconds=ttl)
    )


def lease_release(*, state: SyncState, owner: str) -> None:
    SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(
        lease_owner="", lease_expires_at=None
    )


@contextlib.contextmanager
def sync_lease(*, account: str, kind: str) -> Iterator[tuple[SyncState, str] | None]:
    """The kind's state and this holder's id while the lease is held; None if another has it."""
    state = sync_state(account=account, kind=kind)
    owner = lease_owner_id()
    if not lease_take(state=state, owner=owner):
        yield None
        return
    try:
        state.refresh_from_db()
        yield state, owner
    finally:
        lease_release(state=state, owner=owner)


def sync_spacing() -> float:
    """Seconds between two sync requests of one kind, so the sync stays within its share.

    Each kind's sync uses its own routes, one at a time: spacing its requests by
    1 / (share x route rate) keeps every route within the share; the kinds together (plus the
    reference lists) stay within the share of the key's overall rate as well.
    """
    share = float(_setting("READMODEL_BUDGET_SHARE", 0.5))
    if share <= 0:
        raise ValueError("READMODEL_BUDGET_SHARE must be above 0.")
    route_rate = float(_setting("DUALENTRY_ROUTE_RATE_PER_SECOND", 1.0))
    overall_rate = float(_setting("DUALENTRY_RATE_PER_SECOND", 5.0))
    scopes = len(all_specs()) + (1 if all_reference_specs() else 0)
    spacings = [0.0]
    if route_rate > 0:
        spacings.append(1.0 / (share * route_rate))
    if overall_rate > 0:
        spacings.append(max(scopes, 1) / (share * overall_rate))
    return max(spacings)


# Replaced in tests by a simulated clock: the pacing is checked without waiting for it.
pacer_clock = time.time
pacer_sleep = time.sleep


class SyncPacer:
    """Spaces the requests of one kind's sync; the last request time lives in SyncState, so
    the spacing holds across runs and processes (the lease makes this holder the only one)."""

    def __init__(self, state: SyncState) -> None:
        self.state = state
        self.spacing = sync_spacing()
        self.requests = 0

    def wait(self) -> None:
        last = self.state.last_request_at
        if last is not None and self.spacing > 0:
            delay = last.timestamp() + self.spacing - pacer_clock()
            if delay > 0:
                pacer_sleep(delay)
        moment = dt.datetime.fromtimestamp(pacer_clock(), tz=dt.UTC)
        self.state.last_request_at = moment
        SyncState.objects.filter(pk=self.state.pk).update(last_request_at=moment)
        self.requests += 1


def _backoff_seconds(failures: int) -> float:
    base = float(_setting("READMODEL_BACKOFF_BASE", 10))
    cap = float(_setting("READMODEL_BACKOFF_CAP", 300))
    return min(cap, base * 2 ** max(0, failures - 1))


def _record_failure(state: SyncState, err: Exception) -> str:
    reason = getattr(err, "user_message", "") or str(err)
    reason = f"{type(err).__name__}: {reason}"[:1000]
    now = timezone.now()
    failures = state.consecutive_failures + 1
    backoff_until = now + dt.timedelta(seconds=_backoff_seconds(failures))
    SyncState.objects.filter(pk=state.pk).update(
        consecutive_failures=failures,
        last_error=reason,
        last_error_at=now,
        backoff_until=backoff_until,
    )
    state.consecutive_failures, state.last_error = failures, reason
    state.last_error_at, state.backoff_until = now, backoff_until
    return reason


def _record_success(state: SyncState, mode: str, at: dt.datetime) -> None:
    fields: dict[str, Any] = {"consecutive_failures": 0, "backoff_until": None}
    if mode == SyncMode.NEW:
        fields["last_new_at"] = at
    elif mode == SyncMode.DRAFTS:
        fields["last_drafts_at"] = at
    SyncState.objects.filter(pk=state.pk).update(**fields)
    for name, value in fields.items():
        setattr(state, name, value)


# -- the syncs -------------------------------------------------------------------------------


class _Reader:
    """Reads one kind's pages for a sync run: paced, counted, lease kept alive."""

    def __init__(
        self, *, spec: MirrorSpec, account: str, state: SyncState, owner: str, run: SyncRun
    ):
        self.spec, self.account, self.state, self.owner, self.run = spec, account, state, owner, run
        self.resource = get_client().resource(spec.resource)
        self.pacer = SyncPacer(state)

    def page(self, *, filters: Mapping[str, Any] | None = None, offset: int = 0, ordering: str):
        self.pacer.wait()
        page = self.resource.list_raw(filters, limit=_page_size(), offset=offset, ordering=ordering)
        self.run.pages_read += 1
        lease_renew(state=self.state, owner=self.owner)
        return page

    def upsert(self, items: Iterable[Any], *, with_detail: bool = False) -> UpsertResult:
        result = records_upsert(
            spec=self.spec,
            account=self.account,
            items=items,
            seen_at=timezone.now(),
            with_detail=with_detail,
        )
        self.run.records_seen += result.seen
        self.run.records_changed += result.changed
        self.run.records_skipped += result.skipped
        return result

    def confirm_gone(self, keys: Iterable[str]) -> int:
        """Ask DualEntry for `keys` by key (100 per call); mark those it no longer has."""
        keys = sorted(set(keys), key=lambda key: (len(key), key))
        removed = 0
        for start in range(0, len(keys), MAX_LIMIT):
            chunk = keys[start : start + MAX_LIMIT]
            page = self.page(filters={self.spec.key_field: chunk}, ordering=self.spec.stable_order)
            found = set(self.upsert(page.items).keys)
            removed += records_mark_removed(
                spec=self.spec,
                account=self.account,
                keys=[key for key in chunk if key not in found],
                removed_at=timezone.now(),
            )
        self.run.records_removed += removed
        return removed

    def read_details(self) -> None:
        """Re-read the detail of changed records whose detail-only fields the list lacks."""
        if not self.spec.detail_only_fields:
            return
        limit = int(_setting("READMODEL_DETAIL_READS_PER_RUN", 5))
        pending = list(
            MirroredRecord.objects.filter(
                account=self.account,
                kind=self.spec.kind,
                needs_detail=True,
                removed_upstream_at__isnull=True,
            )
            .order_by("-changed_at")
            .values_list("key", flat=True)[:limit]
        )
        for key in pending:
            self.pacer.wait()
            try:
                record = self.resource.get(key)
            except NotFound:
                self.run.records_removed += records_mark_removed(
                    spec=self.spec, account=self.account, keys=[key], removed_at=timezone.now()
                )
                continue
            except BadResponse as err:  # this record's detail is off-schema: skip it, not the run
                logger.warning(
                    "read model: skipped the detail of %s %s, which cannot be read: %s",
                    self.spec.kind,
                    key,
                    err,
                )
                self.run.records_skipped += 1
                MirroredRecord.objects.filter(
                    account=self.account, kind=self.spec.kind, key=key
                ).update(needs_detail=False)
                continue
            self.run.pages_read += 1
            self.upsert([record.raw], with_detail=True)


def _page_size() -> int:
    return max(1, min(MAX_LIMIT, int(_setting("READMODEL_PAGE_SIZE", MAX_LIMIT))))


def _sync_new(reader: _Reader) -> None:
    spec = reader.spec
    offset: int | None = 0
    for _ in range(int(_setting("READMODEL_NEW_MAX_PAGES", 10))):
        page = reader.page(offset=offset or 0, ordering=spec.newest_first)
        result = reader.upsert(page.items)
        offset = page.next_offset
        if result.unchanged or offset is None:
            return


def _sync_drafts(reader: _Reader) -> None:
    spec = reader.spec
    local_drafts = set(
        MirroredRecord.objects.filter(
            account=reader.account,
            kind=spec.kind,
            status=spec.draft_status,
            removed_upstream_at__isnull=True,
        ).values_list("key", flat=True)
    )
    seen: set[str] = set()
    offset: int | None = 0
    while offset is not None:
        page = reader.page(
            filters={spec.status_field: [spec.draft_status]},
            offset=offset,
            ordering=spec.stable_order,
        )
        seen.update(reader.upsert(page.items).keys)
        offset = page.next_offset
    # Drafts that left the draft list were posted, archived or removed: ask for them by key.
    reader.confirm_gone(local_drafts - seen)


def _sync_full(reader: _Reader, *, max_pages: int | None) -> bool:
    """Read up to `max_pages` pages of the pass (all when None); True when the pass completed."""
    spec, state = reader.spec, reader.state
    if state.full_cursor is None:
        state.full_cursor, state.full_pass_started_at = 0, timezone.now()
        SyncState.objects.filter(pk=state.pk).update(
            full_cursor=0, full_pass_started_at=state.full_pass_started_at
        )
    pages = 0
    while max_pages is None or pages < max_pages:
        page = reader.page(offset=state.full_cursor, ordering=spec.stable_order)
        reader.upsert(page.items)
        pages += 1
        next_offset = page.next_offset
        if next_offset is None:
            break
        # Saved after every page: a crash resumes here, and upserts make re-reads harmless.
        state.full_cursor = next_offset
        SyncState.objects.filter(pk=state.pk).update(full_cursor=next_offset)
    else:
        return False
    unseen = MirroredRecord.objects.filter(
        account=reader.account,
        kind=spec.kind,
        removed_upstream_at__isnull=True,
        seen_at__lt=state.full_pass_started_at,
    ).values_list("key", flat=True)
    # Offsets shift when records disappear mid-pass, so "not seen" is confirmed by key first.
    reader.confirm_gone(list(unseen))
    # The pass read every record, new ones and drafts included, as of when it began.
    started = state.full_pass_started_at
    fields = {"full_cursor": None, "full_pass_started_at": None, "last_full_at": started}
    for name in ("last_new_at", "last_drafts_at"):
        if getattr(state, name) is None or getattr(state, name) < started:
            fields[name] = started
    SyncState.objects.filter(pk=state.pk).update(**fields)
    for name, value in fields.items():
        setattr(state, name, value)
    return True


def _in_backoff(state: SyncState) -> bool:
    return state.backoff_until is not None and state.backoff_until > timezone.now()


def sync_kind(
    *, kind: str, mode: str, force: bool = False, max_pages: int | None = -1
) -> SyncRun | None:
    """Run one sync of a kind (mode: new, drafts or full); the run, or None when skipped.

    Skipped when another process holds the kind's lease, or (unless `force`) while the kind
    backs off after failures. `max_pages` bounds a full pass's pages in this run (-1: the
    `READMODEL_FULL_PAGES_PER_RUN` setting; None: to the end).
    """
    spec = spec_for(kind)
    if mode not in (SyncMode.NEW, SyncMode.DRAFTS, SyncMode.FULL):
        raise ValueError(f"Unknown sync mode {mode!r}.")
    if max_pages == -1:
        max_pages = int(_setting("READMODEL_FULL_PAGES_PER_RUN", 3))
    account = current_account()
    with sync_lease(account=account, kind=kind) as held:
        if held is None:
            logger.info("read model: %s %s sync skipped, another one is running", kind, mode)
            return None
        state, owner = held
        if not force and _in_backoff(state):
            logger.info("read model: %s sync backing off until %s", kind, state.backoff_until)
            return None
        run = SyncRun.objects.create(
            account=account, kind=kind, mode=mode, started_at=timezone.now()
        )
        try:
            with use_lane(Lane.SYNC):
                reader = _Reader(spec=spec, account=account, state=state, owner=owner, run=run)
                if mode == SyncMode.NEW:
                    _sync_new(reader)
                elif mode == SyncMode.DRAFTS:
                    _sync_drafts(reader)
                else:
                    _sync_full(reader, max_pages=max_pages)
                reader.read_details()
        except DualEntryError as err:
            run.errors = _record_failure(state, err)
            logger.warning("read model: %s %s sync failed: %s", kind, mode, run.errors)
        else:
            run.ok = True
            _record_success(state, mode, run.started_at)
        run.finished_at = timezone.now()
        run.save()
        return run


def sync_references(*, force: bool = False) -> SyncRun | None:
    """Copy every registered reference list whole; entries gone upstream are dropped."""
    account = current_account()
    with sync_lease(account=account, kind=REFERENCES) as held:
        if held is None:
            return None
        state, _owner = held
        if not force and _in_backoff(state):
            return None
        run = SyncRun.objects.create(
            account=account, kind=REFERENCES, mode=SyncMode.REFERENCES, started_at=timezone.now()
        )
        pacer = SyncPacer(state)
        try:
            with use_lane(Lane.SYNC):
                client = get_client()
                for spec in all_reference_specs():
                    started = timezone.now()
                    resource = client.resource(spec.resource)
                    offset: int | None = 0
                    while offset is not None:
                        pacer.wait()
                        page = resource.list_raw(dict(spec.filters), limit=MAX_LIMIT, offset=offset)
                        run.pages_read += 1
                        result = references_upsert(
                            spec=spec, account=account, items=page.items, seen_at=timezone.now()
                        )
                        run.records_seen += result.seen
                        run.records_changed += result.changed
                        run.records_skipped += result.skipped
                        offset = page.next_offset
                    with transaction.atomic():
                        removed, _ = MirroredReference.objects.filter(
                            account=account, source=spec.source, seen_at__lt=started
                        ).delete()
                    run.records_removed += removed
        except DualEntryError as err:
            run.errors = _record_failure(state, err)
            logger.warning("read model: reference sync failed: %s", run.errors)
        else:
            run.ok = True
            SyncState.objects.filter(pk=state.pk).update(
                last_full_at=run.started_at, consecutive_failures=0, backoff_until=None
            )
        run.finished_at = timezone.now()
        run.save()
        return run


def sync_all_now(*, kinds: Iterable[str] | None = None, full: bool = False) -> list[SyncRun]:
    """Foreground sync (the `sync_now` command, `make run`'s first fill, tests): references,
    then per kind a complete full pass (when `full` or never done) or new records and drafts."""
    runs: list[SyncRun] = []
    wanted = list(kinds) if kinds else [spec.kind for spec in all_specs()]
    if not kinds:
        run = sync_references(force=True)
        if run is not None:
            runs.append(run)
    account = current_account()
    for kind in wanted:
        state = sync_state(account=account, kind=kind)
        modes = (
            [SyncMode.FULL]
            if full or state.last_full_at is None
            else [SyncMode.NEW, SyncMode.DRAFTS]
        )
        for mode in modes:
            run = sync_kind(kind=kind, mode=mode, force=True, max_pages=None)
            if run is not None:
                runs.append(run)
    return runs
