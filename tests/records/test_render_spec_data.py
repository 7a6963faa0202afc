"""Every value DualEntry's spec allows renders: list and detail pages of every kind, fed with
API answers Hypothesis generates from the vendored spec's output schemas.

The answers enter at the HTTP boundary (a `requests` transport adapter answering the record
routes), so they go through the client's parsing into Records, the selectors, the views and
the templates exactly as DualEntry's would. Everything else (reference names) comes from the
sandbox over real HTTP.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse

from dualentry_api import spec
from dualentry_api.resources import API_PREFIX
from portal.records.kinds import KINDS, RecordKind

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_settings")]

SPEC_DATA = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
_REF_PREFIX = spec.SPEC_URI + "#/components/schemas/"
# Keywords that say nothing about which values are valid; dropping them spares the generator
# from merging them into every `anyOf` branch (the spec has a thousand nullable fields).
_ANNOTATIONS = frozenset({"title", "description", "examples", "example", "default", "deprecated"})


def _generator_schema(node: Any) -> Any:
    """A spec schema as hypothesis-jsonschema takes it: component references inlined (it only
    follows local ones) and `\\d` written `[0-9]`, which is what it means in JSON Schema's
    ECMA-262 patterns (Python's `\\d` also matches Devanagari and other digits)."""
    if isinstance(node, list):
        return [_generator_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith(_REF_PREFIX):
        return _generator_schema(spec.component_schema(reference.removeprefix(_REF_PREFIX)))
    result: dict[str, Any] = {}
    for keyword, value in node.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword == "properties":
            result[keyword] = {name: _generator_schema(sub) for name, sub in value.items()}
        elif keyword == "pattern":
            result[keyword] = _without_lookahead(value).replace("\\d", "[0-9]")
        else:
            result[keyword] = _generator_schema(value)
    return result


# The spec's decimal strings: `^(?!^[-+.]*$)[+-]?0*\d*\.?<decimals>$`. The generator meets the
# lookahead ("not only signs and dots", i.e. at least one digit) by drawing and discarding, most
# draws are discarded; the same language written without it is drawn directly.
_DECIMAL_PATTERN = re.compile(r"\^\(\?!\^\[-\+\.\]\*\$\)\[\+-\]\?0\*\\d\*\\\.\?(?P<decimals>.*)\$")


def _without_lookahead(pattern: str) -> str:
    found = _DECIMAL_PATTERN.fullmatch(pattern)
    if found is None:
        return pattern
    decimals = found["decimals"]  # "\d*" or "\d{0,K}0*"
    limited = re.fullmatch(r"\\d\{0,(\d+)\}0\*", decimals)
    some_decimals = (
        rf"(?:\d{{1,{limited[1]}}}0*|0+)" if limited else r"\d+"
    )  # the decimals, at least one digit
    return rf"^[+-]?(?:\d+\.?{decimals}|\.{some_decimals})$"


def _route(kind: RecordKind) -> str:
    return f"{API_PREFIX}/{kind.resource.replace('_', '-')}/"


def _strategy(schema: dict) -> st.SearchStrategy[Any]:
    """Values valid against `schema` (a `_generator_schema` result).

    Objects and arrays are composed here, once, from hypothesis-jsonschema strategies for the
    leaves (strings with their patterns and formats, numbers, enums, nulls, any JSON): its own
    object generator rebuilds every property's strategy on each draw, about a second per record
    of this spec, which would make this test take minutes per kind. Objects get their required
    properties and any subset of the optional ones; every answer is validated against the spec
    before it is used (`_valid`), so this composition cannot drift from the schema.
    """
    if "allOf" in schema:
        merged = {key: value for key, value in schema.items() if key != "allOf"}
        for part in schema["allOf"]:
            merged.update(part)
        return _strategy(merged)
    if "anyOf" in schema:
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        return st.one_of([_strategy({**rest, **branch}) for branch in schema["anyOf"]])
    if schema.get("type") == "object" and "properties" in schema:
        properties = {name: _strategy(sub) for name, sub in schema["properties"].items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {name: strategy for name, strategy in properties.items() if name in required},
            optional={
                name: strategy for name, strategy in properties.items() if name not in required
            },
        )
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return st.lists(_strategy(schema["items"]), max_size=4)
    return from_schema(schema)


def _valid(route: str, body: Any) -> Any:
    problems = spec.validate_response("GET", route, 200, body)
    assert not problems, problems
    return body


def answers(kind: RecordKind) -> st.SearchStrategy[tuple[dict, dict]]:
    """(a list answer, a detail answer) for `kind`, each valid against the spec's schema."""
    route = _route(kind)
    page = _strategy(_generator_schema(spec.response_schema("GET", route, 200)))
    detail = _strategy(_generator_schema(spec.response_schema("GET", f"{route}1/", 200)))
    return st.tuples(
        page.map(lambda body: _valid(route, body)),
        detail.map(lambda body: _valid(f"{route}1/", body)),
    )


class _SpecAnswers:
    """Answers GET of one kind's list and detail routes with given bodies; every other
    request goes on to the sandbox."""

    def __init__(self, route: str, page: dict, detail: dict) -> None:
        self.route, self.page, self.detail = route, page, detail
        self.answered: list[str] = []
        self._send = HTTPAdapter.send

    def send(self, adapter: HTTPAdapter, request: requests.PreparedRequest, **kwargs: Any):
        path = urlsplit(request.url).path
        body = None
        if request.method == "GET" and path == self.route:
            body = self.page
        elif request.method == "GET" and path.startswith(self.route):
            tail = path[len(self.route) :].strip("/")
            if tail.isdigit():
                body = self.detail
        if body is None:
            return self._send(adapter, request, **kwargs)
        self.answered.append(path)
        raw = HTTPResponse(
            body=io.BytesIO(json.dumps(body).encode()),
            headers={"Content-Type": "application/json", "X-Request-Id": "spec-data"},
            status=200,
            reason="OK",
            preload_content=False,
        )
        return adapter.build_response(request, raw)


def _render_pages(client, kind: RecordKind, page: dict, detail: dict) -> None:
    key = 7
    detail = {**detail, kind.key_field: key}  # DualEntry answers for the key asked
    answers = _SpecAnswers(_route(kind), page, detail)
    with mock.patch.object(HTTPAdapter, "send", autospec=True, side_effect=answers.send):
        listed = client.get(f"/{kind.slug}/")
        shown = client.get(f"/{kind.slug}/{key}/")
        drafts = client.get("/drafts/")  # lists the drafts of every kind
    assert answers.answered  # the generated answers were the ones rendered
    assert listed.status_code == 200, listed.content.decode()[:2000]
    assert drafts.status_code == 200, drafts.content.decode()[:2000]
    assert shown.status_code == 200, shown.content.decode()[:2000]
    assert "could not read" not in listed.content.decode()


@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda kind: kind.slug)
def test_every_answer_the_spec_allows_renders(kind, login_as, viewer):
    client = login_as(viewer)

    @SPEC_DATA
    @given(answers(kind))
    def check(generated: tuple[dict, dict]) -> None:
        _render_pages(client, kind, *generated)

    check()


def test_decimal_patterns_keep_their_language_without_the_lookahead():
    patterns = {
        node["pattern"]
        for node in _walk(spec.load_spec())
        if isinstance(node, dict) and isinstance(node.get("pattern"), str)
    }
    rewritten = [pattern for pattern in patterns if _without_lookahead(pattern) != pattern]
    assert len(rewritten) >= 5  # every decimal pattern of the spec
    for pattern in rewritten:
        simpler = _without_lookahead(pattern)
        for length in range(5):
            for chars in itertools.product("05.+-", repeat=length):
                text = "".join(chars)
                assert bool(re.search(pattern, text)) == bool(re.search(simpler, text)), text


def _walk(node: Any):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _walk(child)
