"""What the read model copies: one `MirrorSpec` per record kind, one `ReferenceSpec` per list.

The read model sits below `portal.records` and must not import it. The record-kind registry
hands each kind's description down instead (`RecordKind.mirror`, registered in
`RecordsConfig.ready()`), so one generic sync and one table serve all four kinds.

Field names are the API's output fields; a dotted name reads a nested value
(`"updated_by.timestamp"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MirrorSpec",
    "ReferenceSpec",
    "all_reference_specs",
    "all_specs",
    "reference_spec_for",
    "register",
    "register_reference",
    "spec_for",
    "value_at",
]


@dataclass(frozen=True)
class MirrorSpec:
    """How one kind of record is copied into `MirroredRecord` rows."""

    kind: str  # the record kind's slug: "refunds"
    resource: str  # attribute of the API client: "customer_refunds"
    key_field: str  # "number" (transactions) or "id" (contracts): the key in API paths
    status_field: str  # "record_status" or "status"
    amount_field: str = "amount"
    number_field: str = "number"
    remaining_field: str = ""  # "remaining_amount" where the API has one (credits)
    used_field: str = ""  # "used_amount" (credits)
    date_field: str = "date"  # the posting/contract date lists sort on
    second_date_field: str = ""  # transaction_date, or a contract's start_date
    end_date_field: str = ""  # a contract's end_date
    currency_field: str = "currency_iso_4217_code"
    company_id_field: str = "company_id"
    company_name_field: str = "company_name"
    customer_id_field: str = "customer_id"  # "" where the record has no header customer
    customer_name_field: str = "customer_name"
    memo_field: str = "memo"
    name_field: str = ""  # a contract's name, searched too
    updated_field: str = "updated_by.timestamp"  # "" when the API does not say
    draft_status: str = "draft"
    # Fields only the detail GET returns (a contract's obligations and usage): a list answer
    # lacks them, so the copy keeps what it had and re-reads the detail when the record changes.
    detail_only_fields: tuple[str, ...] = ()

    @property
    def newest_first(self) -> str:
        """The `ordering` that lists new records first (numbers and ids only grow)."""
        return f"-{self.key_field}"

    @property
    def stable_order(self) -> str:
        """The `ordering` a full pass pages through: new records land at the end."""
        return self.key_field

    def key_of(self, raw: Mapping[str, Any]) -> str:
        value = raw.get(self.key_field)
        if value is None or str(value).strip() == "":
            raise ValueError(f"the record has no {self.key_field}")
        return str(value)


@dataclass(frozen=True)
class ReferenceSpec:
    """One reference list (companies, customers, accounts, ...) copied into `MirroredReference`."""

    source: str  # "accounts"
    resource: str  # attribute of the API client
    key_field: str = "id"
    name_field: str = "name"
    type_field: str = ""  # e.g. an account's "account_type"
    filters: Mapping[str, Any] = field(default_factory=dict)


_SPECS: dict[str, MirrorSpec] = {}
_REFERENCE_SPECS: dict[str, ReferenceSpec] = {}


def register(spec: MirrorSpec) -> None:
    """Add (or replace, on app reload) the spec of a kind."""
    _SPECS[spec.kind] = spec


def spec_for(kind: str) -> MirrorSpec:
    try:
        return _SPECS[kind]
    except KeyError:
        raise KeyError(f"No record kind {kind!r} is registered with the read model.") from None


def all_specs() -> tuple[MirrorSpec, ...]:
    return tuple(_SPECS.values())


def register_reference(spec: ReferenceSpec) -> None:
    _REFERENCE_SPECS[spec.source] = spec


def reference_spec_for(source: str) -> ReferenceSpec:
    return _REFERENCE_SPECS[source]


def all_reference_specs() -> tuple[ReferenceSpec, ...]:
    return tuple(_REFERENCE_SPECS.values())


def value_at(raw: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a JSON object, None where any step is missing."""
    if not path:
        return None
    current: Any = raw
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current
