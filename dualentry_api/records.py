"""Typed results (``Record``, ``Page``) and exact request serialisation.

Responses are parsed once, at the boundary: JSON numbers become ``Decimal`` (never float),
and the fields the spec's output schemas declare as decimal strings (``pattern`` of the
``^(?!^[-+.]*$)...`` family), ``format: date`` or ``format: date-time`` become ``Decimal``,
``date`` and ``datetime``. Every object the spec describes becomes a ``Record`` (nested
lines, attachments, ``created_by`` ...), lists stay lists, and fields the spec does not know
are kept exactly as received (an unknown nested object stays a dict: converting only what the
spec describes keeps a 100-record page well under a millisecond).

A ``Record`` is a read-only mapping that is deliberately *not* a dict: ``record.items`` and
``{{ record.items }}`` are the line items, not ``dict.items``. Django templates look up
``record["memo"]`` first, so ``{{ record.memo }}`` works without attribute tricks.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any
from uuid import UUID

from dualentry_api import spec
from dualentry_api.errors import upstream_record

__all__ = [
    "CallInfo",
    "Page",
    "Record",
    "parse_record",
    "response_shape",
    "to_jsonable",
]

DECIMAL = "decimal"
DATE = "date"
DATETIME = "datetime"
_DECIMAL_PATTERN_PREFIX = "^(?!^[-+.]*$)"


@dataclass(frozen=True, slots=True)
class CallInfo:
    """One upstream call, as logged and as the audit log's ``upstream`` field wants it."""

    method: str
    path: str
    status: int | None
    duration_ms: float
    request_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return upstream_record(self)


ANY = "any"  # a JSON value of unknown or ambiguous shape: objects inside become Records


class ObjectShape:
    """The typed fields of one object schema (filled after creation to allow cycles).

    ``parse`` runs a plan compiled on first use: only fields that need converting are
    visited, the rest are copied at C speed with ``dict.copy``. That keeps a 100-record page
    well under a millisecond.
    """

    __slots__ = ("_known", "_plan", "fields", "name")

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.fields: dict[str, Any] = {}
        self._plan: tuple[tuple[str, Any], ...] | None = None
        self._known: frozenset[str] = frozenset()

    def _compile(self) -> tuple[tuple[str, Any], ...]:
        self._known = frozenset(self.fields)
        self._plan = tuple(
            (name, _converter(shape)) for name, shape in self.fields.items() if shape is not None
        )
        return self._plan

    def parse(self, raw: dict) -> Record:
        if type(raw) is not dict:
            raise ValueError(f"expected an object, got {type(raw).__name__}")
        plan = self._plan if self._plan is not None else self._compile()
        data = raw.copy()
        for name, convert in plan:
            value = data.get(name)
            if value is not None:
                try:
                    data[name] = convert(value)
                except (ValueError, TypeError, ArithmeticError):
                    data[name] = _convert_slowly(name, self.fields[name], value)
        known = self._known
        if not known:  # no schema: every nested object becomes a Record
            for name, value in raw.items():
                if type(value) is dict or type(value) is list:
                    data[name] = _any(value)
        record = _new_record(Record)
        record._data = data
        record._raw = raw
        record._fields = known
        return record


@dataclass(frozen=True, slots=True)
class ListShape:
    item: Any


_EMPTY_SHAPE = ObjectShape("")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


class _ShapeBuilder:
    """Reduces output schemas to shapes: None (plain scalar), DECIMAL, DATE, DATETIME, ANY,
    ListShape or ObjectShape."""

    def __init__(self, schemas: Mapping[str, Any]) -> None:
        self.schemas = schemas
        self.named: dict[str, Any] = {}

    def build(self, schema: Any) -> Any:
        if not isinstance(schema, dict):
            return ANY
        if "$ref" in schema:
            name = _ref_name(schema["$ref"])
            if name not in self.named:
                target = self.schemas.get(name, {})
                if target.get("type") == "object" or "properties" in target:
                    shape = ObjectShape(name)
                    self.named[name] = shape  # before recursing: schemas may refer to themselves
                    shape.fields = self._fields(target)
                else:
                    self.named[name] = ANY
                    self.named[name] = self.build(target)
            return self.named[name]
        if "enum" in schema or "const" in schema:
            return None
        for combinator in ("allOf", "anyOf", "oneOf"):
            if combinator in schema:
                branches = {self.build(branch) for branch in schema[combinator]} - {None}
                # Unambiguous unions are typed ("decimal or null", "$ref or const ''").
                if len(branches) == 1:
                    return branches.pop()
                if any(branch == ANY or not isinstance(branch, str) for branch in branches):
                    return ANY  # objects or lists of different shapes: convert generically
                return None  # e.g. "date or decimal": keep the string as sent
        kind = schema.get("type")
        if kind in ("string", "integer", "number", "boolean", "null"):
            if kind == "string" and schema.get("format") == "date":
                return DATE
            if kind == "string" and schema.get("format") == "date-time":
                return DATETIME
            if kind == "string" and str(schema.get("pattern", "")).startswith(
                _DECIMAL_PATTERN_PREFIX
            ):
                return DECIMAL
            return None
        if kind == "array":
            item = self.build(schema.get("items"))
            return ListShape(item) if item is not None else None
        if kind == "object" or "properties" in schema:
            shape = ObjectShape(schema.get("title", ""))
            shape.fields = self._fields(schema)
            return shape
        return ANY

    def _fields(self, schema: dict) -> dict[str, Any]:
        return {name: self.build(sub) for name, sub in schema.get("properties", {}).items()}


@cache
def _builder() -> _ShapeBuilder:
    return _ShapeBuilder(spec.load_spec()["components"]["schemas"])


_BUILD_LOCK = threading.Lock()


@cache
def response_shape(method: str, path_template: str, status: int) -> Any:
    """The typed shape of a response body per the spec (ANY: untyped, keep as received)."""
    # The builder registers a named shape before filling it (for recursive schemas); the lock
    # keeps another thread from compiling a parse plan from a half-built shape.
    with _BUILD_LOCK:
        return _build_response_shape(method, path_template, status)


def _build_response_shape(method: str, path_template: str, status: int) -> Any:
    operation = spec.operation_for(method, path_template)
    if operation is None:
        return ANY
    schema = operation.response_schema(status)
    if schema is None:  # an undeclared success status (201 for 200): use the declared one
        declared = [code for code in operation.statuses if 200 <= code < 300]
        schema = operation.response_schema(declared[0]) if declared else None
    return _builder().build(schema)


def _any(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return _EMPTY_SHAPE.parse(value)
    if kind is list:
        return [_any(item) if type(item) in (dict, list) else item for item in value]
    return value


def _decimal(value: str) -> Decimal:
    if type(value) is not str:
        raise TypeError  # numbers and odd types: _convert_checked decides
    number = Decimal(value)
    if number.is_finite():
        return number
    raise ValueError(f"{value!r} is not a finite decimal number")


def _converter(shape: Any) -> Any:
    """The fast converter for a non-None value: C functions where possible.

    Anything they reject goes to ``_convert_slowly``, which handles the odd cases (a date-time
    where a date is documented, null inside a list) or explains what is off-schema.
    """
    if shape is DECIMAL:
        return _decimal
    if shape is DATE:
        return dt.date.fromisoformat
    if shape is DATETIME:
        return dt.datetime.fromisoformat  # 3.11 accepts "Z" and offsets
    if isinstance(shape, ObjectShape):
        return shape.parse
    if isinstance(shape, ListShape):
        if shape.item is None:
            return list
        convert_item = _converter(shape.item)

        def convert_list(value: list) -> list:
            return [convert_item(item) for item in value]

        return convert_list
    return _any


def _convert_slowly(name: str, shape: Any, value: Any) -> Any:
    try:
        return _convert_checked(shape, value)
    except (ValueError, TypeError, ArithmeticError) as err:
        raise ValueError(f"{name}: {err}") from None


def _convert_checked(shape: Any, value: Any) -> Any:
    if value is None:
        return None
    if shape is DECIMAL:
        if type(value) not in (str, int, Decimal):
            raise ValueError(f"{value!r} is not a decimal number")
        try:
            number = Decimal(value)
        except ArithmeticError:
            raise ValueError(f"{value!r} is not a decimal number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite decimal number")
        return number
    if shape is DATE or shape is DATETIME:
        if type(value) is not str:
            raise ValueError(f"{value!r} is not a date")
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date") from None
        # A date-time where a date is documented: keep the date part.
        return moment.date() if shape is DATE else moment
    if isinstance(shape, ObjectShape):
        return shape.parse(value)
    if isinstance(shape, ListShape):
        if type(value) is not list:
            raise ValueError(f"expected a list, got {type(value).__name__}")
        return [_convert_checked(shape.item, item) for item in value]
    return _any(value)


class Record:
    """A read-only, typed view of one JSON object from DualEntry.

    ``record["memo"]``, ``record.get("memo")`` and ``record.memo`` all work. A field the spec
    declares but the answer omits reads as None through ``.attribute`` / ``.get()`` and raises
    KeyError through ``[...]``. ``raw`` is the JSON exactly as received; ``to_dict()`` is a
    plain typed copy; ``upstream`` describes the call that returned it (top-level records).
    """

    __slots__ = ("_data", "_fields", "_raw", "_upstream")

    def __init__(self, data: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        typed = _EMPTY_SHAPE.parse({**(data or {}), **fields})
        self._data, self._raw, self._fields = typed._data, typed._raw, typed._fields

    # Mapping protocol, without items()/values(): "items" is a field name in this API.
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def keys(self):
        return self._data.keys()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        data = object.__getattribute__(self, "_data")
        if name in data:
            return data[name]
        if name in object.__getattribute__(self, "_fields"):
            return None  # documented optional field, absent in this answer
        raise AttributeError(f"This DualEntry record has no field {name!r}.")

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object exactly as DualEntry sent it."""
        return self._raw

    @property
    def upstream(self) -> CallInfo | None:
        """The call that returned this record (None for nested records)."""
        try:
            return self._upstream
        except AttributeError:
            return None

    def to_dict(self) -> dict[str, Any]:
        """A plain, typed, deep copy (nested records become dicts)."""
        return {name: _plain(value) for name, value in self._data.items()}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return (_restore_record, (self._data, self._raw, frozenset(self._fields)))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{key}={self._data[key]!r}"
            for key in ("id", "number", "record_id", "name")
            if key in self._data
        )
        return f"<Record {shown or f'{len(self._data)} fields'}>"


_new_record = Record.__new__


def _restore_record(data: dict, raw: dict, fields: frozenset) -> Record:
    record = _new_record(Record)
    record._data, record._raw, record._fields = data, raw, fields
    return record


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def parse_record(raw: dict, shape: Any, upstream: CallInfo | None = None) -> Record:
    """A typed Record for a JSON object; ValueError if a typed field is off-schema."""
    record = (shape if isinstance(shape, ObjectShape) else _EMPTY_SHAPE).parse(raw)
    if upstream is not None:
        record._upstream = upstream
    return record


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: ``items`` (Records), total ``count``, and where it starts."""

    items: list[Record]
    count: int
    limit: int
    offset: int
    upstream: CallInfo | None = field(default=None, compare=False)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.count and bool(self.items)

    @property
    def next_offset(self) -> int | None:
        return self.offset + len(self.items) if self.has_next else None


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"Cannot send {value} to DualEntry: amounts must be finite numbers.")
    # Fixed-point, exactly the digits given: Decimal("1E+2") -> "100", Decimal("1.50") -> "1.50".
    return format(value, "f")


def to_jsonable(value: Any, path: str = "$") -> Any:
    """A JSON-ready copy of a request payload: Decimal -> exact string, date -> ISO.

    Floats are refused: a binary float cannot carry an exact amount, and silently rounding a
    refund is worse than an error.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, float):
        raise TypeError(
            f"{path} is a float ({value!r}); pass a Decimal or a string so the amount is exact."
        )
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Record):
        return to_jsonable(value.to_dict(), path)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"{path} has a {type(value).__name__}, which cannot be sent to DualEntry.")


def query_value(value: Any) -> str:
    """One query-string value: exact decimals, ISO dates, lower-case booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        raise TypeError(f"Filter value {value!r} is a float; pass a Decimal or a string.")
    return str(value)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | set) and len(value) == 0)


def as_decimal(value: Any) -> Decimal | None:
    """A Decimal for an amount as the API, a form or a stored payload has it; None when it is
    missing or not a number (booleans are not numbers here)."""
    if isinstance(value, Decimal):
        return value
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def as_date(value: Any) -> dt.date | None:
    """A date for a value as the API, a form or a stored payload has it (a date, or ISO text
    whose first ten characters are the date); None when it is missing or not a date."""
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None
