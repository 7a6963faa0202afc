"""Writes to the read model: idempotent upserts and write-through after portal writes.

`records_upsert` and `references_upsert` copy JSON records as DualEntry returned them, writing
only rows whose content changed; `mirror_record` / `mirror_removed` are what the portal's own
writes call with DualEntry's answer. The syncs that call the upserts are in `sync.py`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from dualentry_api.records import Record, to_jsonable
from portal.readmodel.account import current_account
from portal.readmodel.models import MirroredRecord, MirroredReference
from portal.readmodel.registry import MirrorSpec, ReferenceSpec, spec_for, value_at

logger = logging.getLogger(__name__)

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
    # A list answer has none of the detail-only fields; a detail GET has them, though DualEntry
    # leaves out the ones that are empty (a contract without customer credits).
    with_detail = bool(spec.detail_only_fields) and any(
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
