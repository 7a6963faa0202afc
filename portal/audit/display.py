"""Audit events in people's words: labels for fields, names for ids, sentences for approvals.

What is stored (and hashed) stays as it was: API field names and raw values. This module only
reads it for pages. Labels come from the record-kind registry (`RecordKind.field_labels`, the
detail tables' columns for line items), names from the reference lists the page loaded
(`portal.records.references.References`), so a field reads the same in the history as on the
record's page. The raw values stay one click away ("Raw values") and in the CSV export.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dualentry_api.records import as_decimal
from portal.audit import actions
from portal.audit.diff import ChangeRow, change_rows
from portal.records.kinds import (
    CONTRACT_STATUS_CHOICES,
    KINDS,
    RECORD_STATUS_CHOICES,
    Column,
    RecordKind,
)

EMPTY = "empty"
API_ACTOR = "via the portal (API)"
STATUS_NAMES = dict(RECORD_STATUS_CHOICES) | dict(CONTRACT_STATUS_CHOICES)
# Events whose changes are what approval *will* do, not what happened.
PROSPECTIVE = {actions.SUBMITTED, actions.CHANGE_REQUESTED, actions.ARCHIVE_REQUESTED}
# (action, status after) -> the sentence that replaces "Status: Draft -> Posted".
STATUS_SENTENCES = {
    (actions.SUBMITTED, "posted"): "Submitted for approval: will post when approved",
    (actions.SUBMITTED, "active"): "Submitted for approval: will be created when approved",
    (actions.ARCHIVE_REQUESTED, "archived"): "Archiving requested: will archive when approved",
    (actions.POSTED, "posted"): "Posted in DualEntry",
    (actions.POSTED, "archived"): "Archived in DualEntry",
}


@dataclass(frozen=True)
class ReadableRow:
    """One change as people read it: "Customer" from "Acme Logistics" to "Globex"."""

    label: str
    before: str
    after: str
    status: str = "changed"  # changed | added | removed


@dataclass(frozen=True)
class ReadableChanges:
    sentence: str = ""  # what happened, when the changes say it better as a sentence
    caption: str = ""  # what the rows are ("Changes that apply when approved")
    rows: list[ReadableRow] = field(default_factory=list)
    raw: list[ChangeRow] = field(default_factory=list)  # the stored values, for auditors


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def kind_for(slug: str) -> RecordKind | None:
    return KINDS.get(slug)


def record_title(kind_slug: str, key: str) -> str:
    """ "Customer refund 1091" for an event's record; "" when it names none."""
    if not kind_slug:
        return ""
    kind = kind_for(kind_slug)
    label = kind.label if kind is not None else kind_slug.replace("_", " ")
    text = f"{label} {key}".strip()
    return text[:1].upper() + text[1:]


def actor_text(value: Mapping) -> str:
    """DualEntry's `created_by`/`updated_by`: its API user is the portal itself."""
    if value.get("actor_type") == "api_key":
        return API_ACTOR
    name = " ".join(str(value[part]) for part in ("first_name", "last_name") if value.get(part))
    return name or str(value.get("email") or "someone in DualEntry")


def reference_name(references: Any, list_name: str, value: Any) -> str | None:
    """The name behind an id, or None. `references` may be absent from a page's context (a
    template then passes "" or None): ids show as numbers there."""
    lookup = getattr(references, "name", None)
    return lookup(list_name, value) if callable(lookup) else None


def _reference_name(references: Any, column: Column, value: Any) -> str:
    return reference_name(references, column.reference, value) or f"#{value}"


def value_text(value: Any, column: Column | None, references: Any = None) -> str:
    """A stored value as people read it, by the registry column describing its field."""
    if _is_empty(value):
        return EMPTY
    if isinstance(value, Mapping) and "actor_type" in value:
        return actor_text(value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    kind = column.kind if column is not None else ""
    if kind == "reference":
        return _reference_name(references, column, value)
    if kind == "link":
        linked = kind_for(column.reference)
        return f"{linked.label} {value}" if linked is not None else str(value)
    if kind == "status":
        return STATUS_NAMES.get(str(value), str(value).replace("_", " ").capitalize())
    if kind == "amount":
        number = as_decimal(value)
        return f"{number:,.2f}" if number is not None else str(value)
    if isinstance(value, Mapping):
        return "; ".join(f"{_humanise(k)}: {v}" for k, v in value.items() if not _is_empty(v))
    if isinstance(value, list):
        return ", ".join(value_text(item, column, references) for item in value)
    return str(value)


def _humanise(name: str) -> str:
    return str(name).replace("_", " ").capitalize()


def _header_column(kind: RecordKind | None, name: str) -> Column | None:
    if kind is None:
        return None
    if name in kind.field_columns:
        return kind.field_columns[name]
    if name == kind.status_field:
        return Column(name, "Status", "status")
    return None


def _line_columns(kind: RecordKind | None, group: str) -> dict[str, Column]:
    section = kind.section(group) if kind is not None else None
    return {column.field: column for column in section.columns} if section else {}


def _describe_line(row: Any, columns: Mapping[str, Column], references: Any) -> str:
    if not isinstance(row, Mapping):
        return str(row)
    parts = []
    for name, value in row.items():
        column = columns.get(name)
        if _is_empty(value) or (column is None and name in ("id", "position")):
            continue
        label = column.label if column is not None else _humanise(name)
        parts.append(f"{label}: {value_text(value, column, references)}")
    return ", ".join(parts) or EMPTY


def _readable_row(row: ChangeRow, kind: RecordKind | None, references: Any) -> ReadableRow | None:
    if not row.group:
        column = _header_column(kind, row.field)
        label = (
            kind.field_labels.get(row.field)
            if kind is not None and row.field in kind.field_labels
            else _humanise(row.field)
        )
        before = value_text(row.before, column, references)
        after = value_text(row.after, column, references)
        if before == after:  # empty to empty (`attachments [] -> None`), same name both sides
            return None
        return ReadableRow(label, before, after)
    columns = _line_columns(kind, row.group)
    section = kind.section(row.group) if kind is not None else None
    group = section.label if section is not None else _humanise(row.group)
    if row.status in ("added", "removed"):
        text = _describe_line(row.line, columns, references) if row.line is not None else ""
        text = text or str(row.after if row.status == "added" else row.before)
        if row.status == "added":
            return ReadableRow(f"{group}: line added", "", text, "added")
        return ReadableRow(f"{group}: line removed", text, "", "removed")
    column = columns.get(row.field)
    where = f"line {row.row[1:]}" if row.row.startswith("#") else f"line id {row.row}"
    label = column.label if column is not None else _humanise(row.field)
    before = value_text(row.before, column, references)
    after = value_text(row.after, column, references)
    if before == after:
        return None
    return ReadableRow(f"{group}, {where}: {label}", before, after)


def readable_changes(
    *, action: str, kind_slug: str, changes: Mapping | None, references: Any = None
) -> ReadableChanges:
    """An event's stored changes for people; `raw` keeps them as stored."""
    kind = kind_for(kind_slug)
    raw = change_rows(changes)
    status_field = kind.status_field if kind is not None else "record_status"
    sentence = ""
    rows: list[ReadableRow] = []
    for row in raw:
        if not row.group and row.field == status_field:
            found = STATUS_SENTENCES.get((action, str(row.after)))
            if found:
                sentence = found
                continue
        readable = _readable_row(row, kind, references)
        if readable is not None:
            rows.append(readable)
    caption = "Changes that apply when approved" if action in PROSPECTIVE and rows else ""
    return ReadableChanges(sentence=sentence, caption=caption, rows=rows, raw=raw)
