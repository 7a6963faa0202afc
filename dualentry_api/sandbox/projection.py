"""Build response bodies by projecting stored sandbox data onto the spec's output schemas.

The sandbox stores each record as a plain JSON-compatible dict that may hold more than an
output shows (a deposit keeps its line amounts; the spec's deposit output has none). An output
is made by walking the schema: every property the schema declares and the record holds is
projected recursively, every *required* property the record lacks gets a type-correct
default (``null`` where nullable, the schema's ``default``, the first enum value, an empty
string/list, zero, the reference date for ``format: date``), and nothing outside the schema is
ever emitted. The sandbox's tests validate every projected output against the spec.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

from dualentry_api import spec

REFERENCE_DATE = dt.date(2026, 11, 1)
REFERENCE_DATETIME = "2026-11-01T09:00:00Z"


def component(name: str) -> dict:
    return spec.component_schema(name)


def resolve(schema: dict) -> dict:
    """Follow ``$ref`` chains (refs are absolute after :mod:`dualentry_api.spec` preprocessing)."""
    while "$ref" in schema:
        schema = component(schema["$ref"].rsplit("/", 1)[-1])
    return schema


def _fits(schema: dict, value: Any) -> bool:
    schema = resolve(schema)
    kind = schema.get("type")
    if "const" in schema:
        return value == schema["const"]
    if "enum" in schema:
        return value in schema["enum"]
    if kind == "null":
        return value is None
    if kind == "string":
        return isinstance(value, str | Decimal | dt.date)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object" or "properties" in schema:
        return isinstance(value, dict)
    return True


def default_for(schema: dict) -> Any:
    """A value valid against ``schema`` that says "nothing here"."""
    schema = resolve(schema)
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    if "const" in schema:
        return schema["const"]
    if "anyOf" in schema:
        branches = schema["anyOf"]
        if any(resolve(branch).get("type") == "null" for branch in branches):
            return None
        return default_for(branches[0])
    if "allOf" in schema:
        return default_for(schema["allOf"][0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        text_format = schema.get("format")
        if text_format == "date":
            return REFERENCE_DATE.isoformat()
        if text_format == "date-time":
            return REFERENCE_DATETIME
        if "pattern" in schema:
            return "0"
        return "x" * schema.get("minLength", 0)
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object" or "properties" in schema:
        return project(schema, {})
    return None


def _scalar(schema: dict, value: Any) -> Any:
    kind = schema.get("type")
    if kind == "string":
        if isinstance(value, Decimal):
            return f"{value:f}"
        if isinstance(value, dt.date | dt.datetime):
            return value.isoformat()
        if isinstance(value, bool | int | float):
            return str(value)
        return value if isinstance(value, str) else default_for(schema)
    if kind == "integer":
        try:
            return int(value)
        except (TypeError, ValueError):
            return default_for(schema)
    if kind == "number":
        return float(value) if isinstance(value, Decimal) else value
    if kind == "boolean":
        return bool(value)
    return value


def project(schema: dict, value: Any) -> Any:
    """``value`` reshaped to fit ``schema`` (see the module docstring)."""
    schema = resolve(schema)
    if "anyOf" in schema:
        branches = schema["anyOf"]
        if value is None:
            if any(resolve(branch).get("type") == "null" for branch in branches):
                return None
            return default_for(schema)
        for branch in branches:
            if resolve(branch).get("type") != "null" and _fits(branch, value):
                return project(branch, value)
        return default_for(schema)
    if "allOf" in schema:
        return project(schema["allOf"][0], value)
    if value is None:
        return default_for(schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return value if value in schema["enum"] else default_for(schema)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if not isinstance(value, dict):
            return default_for(schema)
        properties = schema.get("properties")
        if not properties:
            return copy.deepcopy(value) if schema.get("additionalProperties", True) else {}
        required = _required(schema)
        projected = {}
        for name, property_schema in properties.items():
            if name in value:
                projected[name] = project(property_schema, value[name])
            elif name in required:
                projected[name] = default_for(property_schema)
        return projected
    if kind == "array":
        if not isinstance(value, list):
            return []
        item_schema = schema.get("items", {})
        return [project(item_schema, item) for item in value]
    return _scalar(schema, value)


_REQUIRED_CACHE: dict[int, frozenset] = {}


def _required(schema: dict) -> frozenset:
    key = id(schema)
    found = _REQUIRED_CACHE.get(key)
    if found is None:
        found = _REQUIRED_CACHE[key] = frozenset(schema.get("required", ()))
    return found
