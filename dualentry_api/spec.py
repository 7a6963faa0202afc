"""The vendored DualEntry Public API v2 spec: operation lookup and JSON Schema validation.

The spec (``dualentry_api/openapi/openapi-v2.json``) is the law both the sandbox and the
client's conformance tests follow. It is loaded once per process and cached.

The document is OpenAPI 3.1 (JSON Schema 2020-12) but still uses the OpenAPI 3.0 keyword
``nullable: true`` in about a thousand places. A strict 3.1 validator ignores that keyword and
would reject valid API data, so every schema is preprocessed: a node with ``nullable: true`` is
rewritten to ``{"anyOf": [<node without nullable>, {"type": "null"}]}``. The non-standard ``q``
key on filter parameters (it names the server-side lookup) is dropped. Every local
``$ref`` (``#/components/schemas/X``) is made absolute so that any sub-schema, including the
inline ones, can be validated on its own through one :class:`referencing.Registry`.

Public API::

    operation_for("GET", "/public/v2/customer-refunds/12/")  -> Operation | None
    request_schema("POST", "/public/v2/customer-refunds/")   -> dict | None
    response_schema("GET", "/public/v2/customer-refunds/", 200) -> dict | None
    validate_request(method, path, body)          -> list[str]   # [] means valid
    validate_response(method, path, status, body) -> list[str]
    request_violations(method, path, body)        -> list[Violation]  # structured
    violations(schema, instance)                  -> list[Violation]
    component_schema("ErrorSchema")               -> dict

Lookups (operations, schemas) are plain JSON and need nothing else, so the portal's
production install uses them without ``jsonschema``; validation (the sandbox, the conformance
tests) imports ``jsonschema`` and ``referencing`` when first used. They come with the
``sandbox`` extra.

Messages look like ``"$.items[0].amount: 'abc' is not valid under any of the given schemas"``.
A :class:`Violation` keeps the location as a tuple (``("items", 0, "amount")``); for a missing
required property the location includes the missing property's name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from referencing import Registry

SPEC_PATH = Path(__file__).resolve().parent / "openapi" / "openapi-v2.json"
SPEC_URI = "urn:dualentry:openapi-v2"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")

__all__ = [
    "Operation",
    "Violation",
    "component_schema",
    "load_spec",
    "operation_for",
    "operations",
    "raw_spec",
    "request_schema",
    "request_violations",
    "response_schema",
    "response_violations",
    "validate_request",
    "validate_response",
    "violations",
]


@dataclass(frozen=True)
class Violation:
    """One schema violation: where it is (``location``) and what is wrong (``message``)."""

    location: tuple[str | int, ...]
    message: str
    validator: str = ""

    @property
    def json_path(self) -> str:
        return json_path(self.location)

    def __str__(self) -> str:
        return f"{self.json_path}: {self.message}"


@dataclass(frozen=True)
class Operation:
    """One operation of the spec, with its path template and parameters."""

    method: str
    template: str
    definition: dict = field(repr=False, compare=False)
    path_params: dict = field(default_factory=dict, compare=False)

    @property
    def query_parameters(self) -> dict[str, dict]:
        """Query parameters by name, each with its preprocessed ``schema``."""
        return {
            parameter["name"]: parameter
            for parameter in self.definition.get("parameters", [])
            if parameter.get("in") == "query"
        }

    @property
    def request_content_types(self) -> list[str]:
        return list(self.definition.get("requestBody", {}).get("content", {}))

    @property
    def statuses(self) -> list[int]:
        return [int(status) for status in self.definition.get("responses", {})]

    def request_schema(self, content_type: str = "application/json") -> dict | None:
        content = self.definition.get("requestBody", {}).get("content", {})
        media = content.get(content_type)
        return media.get("schema") if media else None

    def response_schema(self, status: int | str) -> dict | None:
        response = self.definition.get("responses", {}).get(str(status))
        if response is None:
            return None
        media = response.get("content", {}).get("application/json")
        return media.get("schema") if media else None


def json_path(location: tuple[str | int, ...] | list) -> str:
    """Render a location tuple as ``$.items[0].amount``."""
    text = "$"
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _preprocess(node: Any) -> Any:
    """Rewrite 3.0-isms into plain 2020-12 (see module docstring)."""
    if isinstance(node, list):
        return [_preprocess(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key == "q" and not isinstance(value, dict):
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
            result[key] = SPEC_URI + value
        elif key in ("properties", "patternProperties", "$defs", "schemas"):
            # Property names (e.g. a property literally called "q") are not keywords.
            result[key] = (
                {name: _preprocess(sub) for name, sub in value.items()}
                if isinstance(value, dict)
                else value
            )
        else:
            result[key] = _preprocess(value)
    if result.pop("nullable", False) is True:
        return {"anyOf": [result, {"type": "null"}]}
    result.pop("nullable", None)
    return result


@cache
def raw_spec() -> dict:
    """The spec exactly as vendored (cached; treat it as read-only)."""
    with SPEC_PATH.open(encoding="utf-8") as spec_file:
        return json.load(spec_file)


@cache
def load_spec() -> dict:
    """The preprocessed spec document (cached; treat it as read-only)."""
    return _preprocess(raw_spec())


@cache
def _registry() -> Registry:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


@cache
def _compiled_paths() -> list[tuple[re.Pattern, str, list[str]]]:
    compiled = []
    for template in load_spec()["paths"]:
        names = re.findall(r"{([^}/]+)}", template)
        pieces = re.split(r"{[^}/]+}", template)
        pattern = "^" + "([^/]+)".join(re.escape(piece) for piece in pieces) + "$"
        compiled.append((re.compile(pattern), template, names))
    # Literal segments win over parameters when two templates could match.
    compiled.sort(key=lambda entry: len(entry[2]))
    return compiled


def match_path(path: str) -> tuple[str, dict[str, str]] | None:
    """The spec path template matching a concrete path, with the path parameters."""
    path = path.split("?", 1)[0]
    if not path.endswith("/"):
        path += "/"
    for pattern, template, names in _compiled_paths():
        found = pattern.match(path)
        if found:
            return template, dict(zip(names, found.groups(), strict=True))
    return None


def operation_for(method: str, path: str) -> Operation | None:
    """The operation for ``method`` and a concrete path (or a template), or None."""
    matched = match_path(path)
    if matched is None:
        return None
    template, params = matched
    definition = load_spec()["paths"][template].get(method.lower())
    if definition is None:
        return None
    return Operation(method.upper(), template, definition, params)


def operations() -> list[Operation]:
    """Every operation in the spec, in document order."""
    return [
        Operation(method.upper(), template, item[method])
        for template, item in load_spec()["paths"].items()
        for method in HTTP_METHODS
        if method in item
    ]


def component_schema(name: str) -> dict:
    """A preprocessed ``components.schemas`` entry."""
    return load_spec()["components"]["schemas"][name]


def request_schema(method: str, path: str, content_type: str = "application/json") -> dict | None:
    operation = operation_for(method, path)
    return operation.request_schema(content_type) if operation else None


def response_schema(method: str, path: str, status: int | str) -> dict | None:
    operation = operation_for(method, path)
    return operation.response_schema(status) if operation else None


@cache
def _validator_for(schema_json: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator, FormatChecker

    return Draft202012Validator(
        json.loads(schema_json), registry=_registry(), format_checker=FormatChecker()
    )


def validator(schema: dict) -> Draft202012Validator:
    """A cached validator for a preprocessed schema (one from this module)."""
    return _validator_for(json.dumps(schema, sort_keys=True))


def violations(schema: dict, instance: Any) -> list[Violation]:
    """All violations of ``instance`` against a preprocessed schema, in document order."""
    found: dict[tuple, Violation] = {}
    for error in validator(schema).iter_errors(instance):
        location = tuple(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    violation = Violation((*location, name), "This field is required.", "required")
                    found.setdefault((violation.location, violation.message), violation)
            continue
        violation = Violation(location, _message(error), str(error.validator))
        found.setdefault((violation.location, violation.message), violation)
    return sorted(found.values(), key=lambda violation: [str(p) for p in violation.location])


def _is_decimal_choice(schema: Any) -> bool:
    """True for the spec's ``anyOf: [number, decimal-string]`` amount schemas."""
    branches = schema.get("anyOf", []) if isinstance(schema, dict) else []
    types = {branch.get("type") for branch in branches if isinstance(branch, dict)}
    return bool(branches) and types <= {"number", "string", "null"} and "number" in types


_TYPE_NAMES = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


def _message(error) -> str:
    """A sentence for a person; jsonschema's own wording where it is already one."""
    if error.validator == "anyOf" and _is_decimal_choice(error.schema):
        return f"{error.instance!r} is not a valid decimal number."
    if error.validator == "type" and isinstance(error.validator_value, str):
        expected = _TYPE_NAMES.get(error.validator_value, error.validator_value)
        return f"{error.instance!r} is not {expected}."
    if error.validator == "format" and error.validator_value == "date":
        return f"{error.instance!r} is not a valid date (YYYY-MM-DD)."
    if error.validator == "pattern":
        return f"{error.instance!r} is not in the expected format."
    if error.validator == "enum" and len(error.validator_value) > 8:
        return f"{error.instance!r} is not a valid choice."
    if error.validator == "enum":
        choices = ", ".join(repr(choice) for choice in error.validator_value)
        return f"{error.instance!r} is not one of {choices}."
    return error.message


def request_violations(
    method: str, path: str, body: Any, content_type: str = "application/json"
) -> list[Violation]:
    operation = operation_for(method, path)
    if operation is None:
        return [Violation((), f"No operation {method.upper()} {path} in the spec.")]
    schema = operation.request_schema(content_type)
    if schema is None:
        return [Violation((), f"{method.upper()} {path} takes no {content_type} body.")]
    return violations(schema, body)


def response_violations(method: str, path: str, status: int | str, body: Any) -> list[Violation]:
    operation = operation_for(method, path)
    if operation is None:
        return [Violation((), f"No operation {method.upper()} {path} in the spec.")]
    if str(status) not in operation.definition.get("responses", {}):
        return [Violation((), f"{method.upper()} {operation.template} declares no {status}.")]
    schema = operation.response_schema(status)
    if schema is None:
        return []
    return violations(schema, body)


def validate_request(
    method: str, path: str, body: Any, content_type: str = "application/json"
) -> list[str]:
    """Error messages for a request body (``[]`` if valid)."""
    return [str(violation) for violation in request_violations(method, path, body, content_type)]


def validate_response(method: str, path: str, status: int | str, body: Any) -> list[str]:
    """Error messages for a response body (``[]`` if valid, or if declared without a body)."""
    return [str(violation) for violation in response_violations(method, path, status, body)]
