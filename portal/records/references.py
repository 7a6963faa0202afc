"""Reference lists: the names behind the ids in DualEntry records (companies, customers, ...).

Records carry ids (`customer_id`, `account_number`, `item_id`, ...). Their names come from
DualEntry's reference endpoints, which change rarely, so each list is fetched whole (with the
client's `iterate()`), kept in Django's cache for `REFERENCE_CACHE_TTL` seconds and shared by
every user and process. A list page then costs one upstream call once the cache is warm.

Payment methods have no endpoint in API v2: their names come from `settings.PAYMENT_METHODS`.

Each list remembers when it was fetched; pages show the oldest time as "names as of" next to
a refresh action (`references_refresh`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from dualentry_api.client import get_client

logger = logging.getLogger(__name__)

CACHE_PREFIX = "portal:references:v1"


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


def _cache_key(name: str) -> str:
    # One namespace per DualEntry tenant: switching the API URL or key never shows old names.
    tenant = f"{settings.DUALENTRY_API_URL}|{settings.DUALENTRY_API_KEY}".encode()
    return f"{CACHE_PREFIX}:{hashlib.sha256(tenant).hexdigest()[:16]}:{name}"


def _fetch(source: ReferenceSource) -> ReferenceList:
    resource = getattr(get_client(), source.resource)
    entries: dict[Any, dict[str, Any]] = {}
    for record in resource.iterate(filters=dict(source.filters)):
        key = record.get(source.key_field)
        if key is None:
            continue
        entry = {"name": source.label(record) or str(key)}
        entry.update({name: record.get(name) for name in source.extra_fields})
        entries[_normalise_key(key)] = entry
    return ReferenceList(source.name, entries, timezone.now())


def _store(reference_list: ReferenceList) -> None:
    cache.set(
        _cache_key(reference_list.name),
        {"entries": reference_list.entries, "fetched_at": reference_list.fetched_at},
        timeout=settings.REFERENCE_CACHE_TTL,
    )


def _cached(name: str) -> ReferenceList | None:
    value = cache.get(_cache_key(name))
    if not isinstance(value, dict):
        return None
    return ReferenceList(name, value["entries"], value["fetched_at"])


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
    """One reference list, from the cache or fetched from DualEntry (raises DualEntryError)."""
    source = SOURCES[name]
    if name == "payment_methods":
        return _payment_methods()
    if source.derived_from:
        return _derive(source, reference_list(source.derived_from, refresh=refresh))
    if not refresh:
        cached = _cached(name)
        if cached is not None:
            return cached
    fetched = _fetch(source)
    _store(fetched)
    logger.info("reference list %s fetched: %d entries", name, len(fetched))
    return fetched


def references_load(*, names: Iterable[str]) -> References:
    """The named lists (cached ones cost nothing upstream; the others are fetched now)."""
    return References({name: reference_list(name) for name in dict.fromkeys(names)})


def references_refresh(*, names: Iterable[str] | None = None) -> References:
    """Fetch lists again now (all fetched lists by default) and replace the cached copies.

    The cached copies stay as they were if DualEntry fails half-way (the error propagates).
    """
    wanted = list(dict.fromkeys(names)) if names is not None else list(FETCHED)
    fetched = {name: _fetch(SOURCES[name]) for name in wanted if SOURCES[name].resource}
    for reference in fetched.values():
        _store(reference)
    return references_load(names=wanted)


def references_clear() -> None:
    """Forget every cached list for the configured DualEntry (tests, configuration changes)."""
    cache.delete_many([_cache_key(name) for name in FETCHED])


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
