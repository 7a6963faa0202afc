"""Reference lists: the names behind the ids in DualEntry records (companies, customers, ...).

Records carry ids (`customer_id`, `account_number`, `item_id`, ...). Their names come from the
read model's copy of DualEntry's reference endpoints (`MirroredReference`, kept fresh by the
sync worker), so naming things costs 0 upstream calls. Only when the copy has never been filled
(a first start before the worker's first reference sync) is a list fetched live once, with the
client's `iterate()`, and kept in the copy.

Payment methods have no endpoint in API v2: their names come from `settings.PAYMENT_METHODS`.

Each list says when the portal last saw it in DualEntry; the "Refresh names" action
(`references_refresh`) reads the lists live again and updates the copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from dualentry_api.client import get_client
from portal.readmodel.account import current_account
from portal.readmodel.registry import reference_spec_for
from portal.readmodel.selectors import REFERENCES, kind_freshness, mirrored_references
from portal.readmodel.services import references_upsert

logger = logging.getLogger(__name__)


def _name(record: Mapping[str, Any]) -> str:
    return str(record.get("name") or "").strip()


def _account_label(record: Mapping[str, Any]) -> str:
    number, name = record.get("number"), _name(record)
    return f"{number} · {name}" if number is not None and name else name or str(number)


@dataclass(frozen=True)
class ReferenceSource:
    """Where one reference list comes from and how its entries are keyed and named."""

    name: str
    resource: str = ""  # API client attribute; empty: not fetched (see `derived_from`, settings)
    key_field: str = "id"
    label: Callable[[Mapping[str, Any]], str] = _name
    extra_fields: tuple[str, ...] = ()  # kept besides the label (e.g. a company's currency)
    filters: Mapping[str, Any] = field(default_factory=dict)
    # A list re-keyed from another one's entries (one fetch serves both).
    derived_from: str = ""


SOURCES: dict[str, ReferenceSource] = {
    source.name: source
    for source in (
        ReferenceSource("companies", "companies", extra_fields=("currency_iso_4217_code",)),
        ReferenceSource("customers", "customers"),
        # company_id (edit forms): a record's accounts and vendors belong to its company.
        ReferenceSource(
            "accounts", "accounts", label=_account_label, extra_fields=("number", "company_id")
        ),
        ReferenceSource("account_numbers", key_field="number", derived_from="accounts"),
        # Inactive items still name the lines of older records.
        ReferenceSource("items", "items", filters={"show_inactive": True}),
        ReferenceSource("vendors", "vendors", extra_fields=("company_id",)),
        ReferenceSource("payment_methods"),
    )
}
FETCHED = tuple(name for name, source in SOURCES.items() if source.resource)


@dataclass(frozen=True)
class ReferenceList:
    """One list: `entries[key] = {"name": ..., <extra fields>}`, and when it was fetched."""

    name: str
    entries: dict[Any, dict[str, Any]]
    fetched_at: datetime | None  # None: from settings, not from DualEntry

    def name_of(self, key: Any) -> str | None:
        entry = self.entries.get(_normalise_key(key))
        return entry["name"] if entry else None

    def get(self, key: Any) -> dict[str, Any] | None:
        return self.entries.get(_normalise_key(key))

    def choices(self) -> list[tuple[Any, str]]:
        """(key, name) pairs sorted by name, for select boxes."""
        return sorted(
            ((key, entry["name"]) for key, entry in self.entries.items()),
            key=lambda pair: (pair[1].casefold(), str(pair[0])),
        )

    def __len__(self) -> int:
        return len(self.entries)


class References:
    """The reference lists a page needs. Templates read `references.customers` etc."""

    def __init__(self, lists: Mapping[str, ReferenceList]) -> None:
        self._lists = dict(lists)

    def __getitem__(self, name: str) -> ReferenceList:
        return self._lists[name]

    def __contains__(self, name: object) -> bool:
        return name in self._lists

    def name(self, list_name: str, key: Any) -> str | None:
        reference_list = self._lists.get(list_name)
        return reference_list.name_of(key) if reference_list else None

    def choices(self, list_name: str) -> list[tuple[Any, str]]:
        reference_list = self._lists.get(list_name)
        return reference_list.choices() if reference_list else []

    @property
    def as_of(self) -> datetime | None:
        """When the oldest of these lists was fetched from DualEntry."""
        times = [ref.fetched_at for ref in self._lists.values() if ref.fetched_at is not None]
        return min(times) if times else None

    @property
    def names(self) -> list[str]:
        return list(self._lists)


def _normalise_key(key: Any) -> Any:
    """Ids arrive as ints from records and as strings from query strings: compare as ints."""
    if isinstance(key, bool) or key is None:
        return key
    if isinstance(key, int):
        return key
    try:
        return int(str(key).strip())
    except ValueError:
        return key


def _entry(source: ReferenceSource, data: Mapping[str, Any], key: Any) -> dict[str, Any]:
    entry = {"name": source.label(data) or str(key)}
    entry.update({name: data.get(name) for name in source.extra_fields})
    return entry


def _build(
    source: ReferenceSource, items: Iterable[Mapping[str, Any]], as_of: datetime | None
) -> ReferenceList:
    entries: dict[Any, dict[str, Any]] = {}
    for data in items:
        key = data.get(source.key_field)
        if key is None:
            continue
        entries[_normalise_key(key)] = _entry(source, data, key)
    return ReferenceList(source.name, entries, as_of)


def _fetch(source: ReferenceSource) -> ReferenceList:
    """Read one list live from DualEntry (the calling lane: a page's is INTERACTIVE) and keep
    it in the read model."""
    resource = getattr(get_client(), source.resource)
    items = [record.raw for record in resource.iterate(filters=dict(source.filters))]
    now = timezone.now()
    references_upsert(
        spec=reference_spec_for(source.name), account=current_account(), items=items, seen_at=now
    )
    return _build(source, items, now)


def _from_copy(source: ReferenceSource) -> ReferenceList | None:
    """The list as the read model holds it; None when the reference lists were never copied
    (no entry of this list and no completed reference sync)."""
    rows = list(mirrored_references(source=source.name).values_list("data", "seen_at"))
    if not rows:
        synced_at = kind_freshness(kind=REFERENCES).full_as_of
        return None if synced_at is None else ReferenceList(source.name, {}, synced_at)
    return _build(source, (data for data, _ in rows), max(seen for _, seen in rows))


def _payment_methods() -> ReferenceList:
    entries = {int(key): {"name": str(name)} for key, name in settings.PAYMENT_METHODS.items()}
    return ReferenceList("payment_methods", entries, None)


def _derive(source: ReferenceSource, base: ReferenceList) -> ReferenceList:
    entries = {
        _normalise_key(entry[source.key_field]): {"name": entry["name"], "id": key}
        for key, entry in base.entries.items()
        if entry.get(source.key_field) is not None
    }
    return ReferenceList(source.name, entries, base.fetched_at)


def reference_list(name: str, *, refresh: bool = False) -> ReferenceList:
    """One reference list, from the read model or (never copied yet) read live; raises
    DualEntryError only for a live read."""
    source = SOURCES[name]
    if name == "payment_methods":
        return _payment_methods()
    if source.derived_from:
        return _derive(source, reference_list(source.derived_from, refresh=refresh))
    if not refresh:
        copied = _from_copy(source)
        if copied is not None:
            return copied
    fetched = _fetch(source)
    logger.info("reference list %s read live: %d entries", name, len(fetched))
    return fetched


def references_load(*, names: Iterable[str]) -> References:
    """The named lists from the read model (0 upstream calls once the copy has been filled)."""
    return References({name: reference_list(name) for name in dict.fromkeys(names)})


def references_refresh(*, names: Iterable[str] | None = None) -> References:
    """Read lists live again now (all fetched lists by default) and update the copy.

    Lists read before a DualEntry failure are kept; the error propagates.
    """
    wanted = list(dict.fromkeys(names)) if names is not None else list(FETCHED)
    for name in wanted:
        if SOURCES[name].resource:
            _fetch(SOURCES[name])
    return references_load(names=wanted)


def references_for_kind(kind, *, detail: bool = False) -> list[str]:
    """The lists a kind's list page (filters) or detail page (columns) needs for names."""
    if detail:
        columns = list(kind.detail_fields)
        for section in kind.detail_sections:
            columns.extend(section.columns)
        # The record's history names the ids it changed (company, customer, ...).
        names = list(kind.reference_fields.values())
    else:
        columns = list(kind.list_columns)
        names = [flt.reference for flt in kind.filters if flt.reference]
    names += [column.reference for column in columns if column.kind == "reference"]
    return list(dict.fromkeys(names))
