"""Helpers for the browse tests: what the sandbox received, and seeded records to look at."""

from __future__ import annotations

from urllib.parse import parse_qs

from dualentry_api.resources import description_for
from portal.records.kinds import KINDS, RecordKind

API = "/public/v2/"
EN_DASH = "\u2013"  # between the numbers of "1-50 of 1,234" on the page
KIND_PARAMS = [kind.slug for kind in KINDS.values()]


def collection_path(kind: RecordKind) -> str:
    """The API list path of a kind: /public/v2/customer-refunds/."""
    return f"{API}{description_for(kind.resource).path}/"


def store_name(kind: RecordKind) -> str:
    """The sandbox store's collection name of a kind."""
    return description_for(kind.resource).path


def list_requests(sandbox, kind: RecordKind) -> list[dict]:
    """Requests to the kind's list endpoint (not to its detail paths)."""
    path = collection_path(kind)
    return [entry for entry in sandbox.requests_log if entry["path"] == path]


def query_of(entry: dict) -> dict[str, list[str]]:
    return parse_qs(entry["query"], keep_blank_values=True)


def seeded(sandbox, kind: RecordKind, **wanted) -> list[dict]:
    """Stored records of a kind whose fields equal `wanted`, in key order."""
    records = sandbox.store.collection(store_name(kind)).values()
    return sorted(
        (record for record in records if all(record.get(k) == v for k, v in wanted.items())),
        key=lambda record: record[kind.key_field],
    )


def one_with_lines(sandbox, kind: RecordKind) -> dict:
    """A seeded record of the kind with line items (obligations for contracts)."""
    lines = "obligations" if kind.slug == "contracts" else "items"
    return next(record for record in seeded(sandbox, kind) if record.get(lines))
