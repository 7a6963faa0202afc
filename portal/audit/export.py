"""The audit log as CSV, produced row by row so memory stays flat however long the log is."""

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC

from django.db.models import QuerySet

from portal.audit.models import AuditEvent

COLUMNS = (
    ("sequence", "sequence"),
    ("occurred_at", "time_utc"),
    ("actor_username", "person"),
    ("ip_address", "ip_address"),
    ("action", "action"),
    ("success", "outcome"),
    ("error", "error"),
    ("kind", "kind"),
    ("key", "key"),
    ("company_id", "company_id"),
    ("summary", "summary"),
    ("changes", "changes"),
    ("upstream_method", "upstream_method"),
    ("upstream_path", "upstream_path"),
    ("upstream_status", "upstream_status"),
    ("upstream_duration_ms", "upstream_duration_ms"),
    ("upstream_request_id", "upstream_request_id"),
    ("correlation_id", "correlation_id"),
    ("prev_hash", "prev_hash"),
    ("hash", "hash"),
)
CHUNK_SIZE = 500
# A spreadsheet treats cells starting with these as formulas; people type summaries and memos.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """csv.writer target that hands back what was written instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _row(values: tuple) -> list[str]:
    row = dict(zip((name for name, _ in COLUMNS), values, strict=True))
    row["occurred_at"] = row["occurred_at"].astimezone(UTC).isoformat()
    row["success"] = "succeeded" if row["success"] else "failed"
    row["changes"] = (
        json.dumps(row["changes"], ensure_ascii=False, sort_keys=True) if row["changes"] else ""
    )
    return [_cell(row[name]) for name, _ in COLUMNS]


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """CSV text, one line per event, read from the database `CHUNK_SIZE` rows at a time."""
    writer = csv.writer(_Line())
    yield writer.writerow([header for _, header in COLUMNS])
    rows: Iterable[tuple] = events.values_list(*(name for name, _ in COLUMNS)).iterator(
        chunk_size=CHUNK_SIZE
    )
    for values in rows:
        yield writer.writerow(_row(values))
