"""Field-level differences between two versions of a record, stored with each audit event.

`field_changes(before, after)` returns `{field: [before, after]}` for changed fields. A field
holding a list of rows (a record's `items`, a contract's obligations) is compared row by row:
rows are matched by their `id` when they have one, otherwise by position, and reported as
`{"added": [row, ...], "removed": [row, ...], "changed": {"<id or #position>": {field: [b, a]}}}`
with positions counted from 1 (`"#2"` is the second row).

Values are turned into JSON-safe ones first (Decimal and float as text, dates in ISO format),
so what is stored is exactly what is hashed and shown. `change_rows(changes)` flattens a stored
change set into rows for templates and CSV.
"""

import datetime
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

ROW_KEYS = ("added", "removed", "changed")


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of `value` that survives a round trip through JSON/jsonb unchanged.

    Floats become text because jsonb may print them differently than Python parses them,
    which would change the event's hash."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal | float):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        return [jsonable(item) for item in value]
    return str(value)


def _as_mapping(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value.items())
    if hasattr(value, "to_dict"):  # dualentry_api Record
        return dict(value.to_dict())
    raise TypeError(f"Cannot compare {type(value).__name__}; pass a dict or a record.")


def _is_rows(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str | bytes | bytearray)
        and len(value) > 0
        and all(isinstance(row, Mapping) or hasattr(row, "to_dict") for row in value)
    )


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _same(before: Any, after: Any) -> bool:
    """Equal values, where 10.5 (a number from a payload) equals "10.50" (an API string).

    Text is only compared as a number when the other side is a real number, so a reference
    changing from "007" to "7" is still a change."""
    if before == after:
        return True
    numeric_before = isinstance(before, int | float | Decimal) and not isinstance(before, bool)
    numeric_after = isinstance(after, int | float | Decimal) and not isinstance(after, bool)
    if numeric_before or numeric_after:
        left, right = _number(before), _number(after)
        return left is not None and right is not None and left == right
    return jsonable(before) == jsonable(after)


def _row_changes(before_rows: Sequence, after_rows: Sequence) -> dict:
    before_rows = [_as_mapping(row) for row in before_rows]
    after_rows = [_as_mapping(row) for row in after_rows]
    added: list[dict] = []
    removed: list[dict] = []
    changed: dict[str, dict] = {}

    def compare(label: str, old: dict, new: dict) -> None:
        row_diff = _fields_diff(old, new)
        if row_diff:
            changed[label] = row_diff

    uses_ids = any(row.get("id") is not None for row in [*before_rows, *after_rows])
    if uses_ids:
        after_by_id = {str(row["id"]): row for row in after_rows if row.get("id") is not None}
        seen: set[str] = set()
        for row in before_rows:
            row_id = row.get("id")
            if row_id is None or str(row_id) not in after_by_id:
                removed.append(jsonable(row))
                continue
            seen.add(str(row_id))
            compare(str(row_id), row, after_by_id[str(row_id)])
        for row in after_rows:
            row_id = row.get("id")
            if row_id is None or str(row_id) not in seen:
                added.append(jsonable(row))
    else:
        for position, (old, new) in enumerate(zip(before_rows, after_rows, strict=False), 1):
            compare(f"#{position}", old, new)
        removed.extend(jsonable(row) for row in before_rows[len(after_rows) :])
        added.extend(jsonable(row) for row in after_rows[len(before_rows) :])

    result: dict[str, Any] = {}
    if added:
        result["added"] = added
    if removed:
        result["removed"] = removed
    if changed:
        result["changed"] = changed
    return result


def _fields_diff(before: dict, after: dict) -> dict:
    changes: dict[str, Any] = {}
    for name in [*before, *(name for name in after if name not in before)]:
        old, new = before.get(name), after.get(name)
        if _is_rows(old) or _is_rows(new):
            rows = _row_changes(old or [], new or [])
            if rows:
                changes[str(name)] = rows
        elif _blank(old) and _blank(new):
            continue  # nothing to nothing (`attachments: [] -> None`) is no change
        elif not _same(old, new):
            changes[str(name)] = [jsonable(old), jsonable(new)]
    return changes


def field_changes(before: Mapping | None, after: Mapping | None) -> dict:
    """`{field: [before, after]}` for every field that differs; row lists compared by row.

    `before=None` describes a creation (every field of `after` against None), `after=None` a
    removal. Unchanged fields are left out, so an empty dict means "no change"."""
    return _fields_diff(_as_mapping(before), _as_mapping(after))


@dataclass(frozen=True)
class ChangeRow:
    """One line of a readable diff: a header field, or a line item added, removed or changed."""

    field: str
    before: Any = None
    after: Any = None
    group: str = ""  # the row list ("items") for line-item rows, "" for header fields
    row: str = ""  # the item's id, or "#<position>" counted from 1
    status: str = "changed"  # changed | added | removed
    line: Any = None  # an added or removed line as stored (a dict), for readable display

    @property
    def label(self) -> str:
        field = self.field.replace("_", " ")
        if not self.group:
            return field
        group = self.group.replace("_", " ")
        if self.status != "changed":
            return f"{group}: line {self.status}"
        where = f"line {self.row[1:]}" if self.row.startswith("#") else f"id {self.row}"
        return f"{group} {where}: {field}"


def _describe_row(row: Any) -> str:
    if isinstance(row, Mapping):
        return ", ".join(f"{key}: {value}" for key, value in row.items() if value not in (None, ""))
    return str(row)


def change_rows(changes: Mapping | None) -> list[ChangeRow]:
    """Flatten a stored change set into rows for a table: fields in stored order, and for a
    row list its changed lines, then added and removed lines."""
    rows: list[ChangeRow] = []
    for name, value in (changes or {}).items():
        if isinstance(value, list) and len(value) == 2:
            rows.append(ChangeRow(field=name, before=value[0], after=value[1]))
        elif isinstance(value, Mapping) and value and set(value) <= set(ROW_KEYS):
            for row, fields in (value.get("changed") or {}).items():
                for field_name, pair in fields.items():
                    before, after = _pair(pair)
                    rows.append(
                        ChangeRow(field=field_name, before=before, after=after, group=name, row=row)
                    )
            # An added line shows as the "after" side of its row, a removed one as "before".
            for status, side in (("added", "after"), ("removed", "before")):
                for line in value.get(status) or []:
                    described = {side: _describe_row(line)}
                    rows.append(
                        ChangeRow(field=name, group=name, status=status, line=line, **described)
                    )
        else:
            before, after = _pair(value)
            rows.append(ChangeRow(field=name, before=before, after=after))
    return rows


def _pair(value: Any) -> tuple[Any, Any]:
    """A stored `[before, after]` pair; anything else (a hand-written change) is the new value."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, value
