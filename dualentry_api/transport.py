"""HTTP to DualEntry: one session, timeouts, GET-only retries, the rate budget, multipart.

The transport is the client's only way onto the network, and its public seam::

    answer = transport.request("GET", "/public/v2/customer-refunds/{record_number}/",
                               {"record_number": 1042})
    refund = answer.parse_record()            # or parse_records(), parse_page(limit, offset)

``request()`` sends one logical call and returns an :class:`Answer` (the decoded JSON and the
:class:`CallInfo` of the last attempt) or raises the ``DualEntryError`` subclass for the
status. The ``Answer.parse_*`` methods turn the JSON into typed records against the spec's
response shapes. Resources (``dualentry_api.resources``) are written against these two steps
only, so tests that need a failing or lost upstream swap the transport (anything with a
``request()`` returning an ``Answer``) instead of patching private methods.

Behaviour worth knowing:

* Timeouts on every call: connect ``DUALENTRY_CONNECT_TIMEOUT`` (5 s), read
  ``DUALENTRY_READ_TIMEOUT`` (30 s).
* Retries: GET only (lists, gets, the health check), at most 3 tries, for timeouts, connection
  errors, 429 (``Retry-After`` honoured up to ``retry_after_cap``; a longer one is raised at
  once as ``RateLimited``) and 502/503/504, with capped exponential backoff and jitter.
  POST and PUT are sent once and never retried, not even after "connection refused": a
  refused connect proves nothing was sent, but telling it apart from a reset pooled
  connection (where the server may have the request) depends on urllib3 internals, and a
  duplicate refund costs more than a "try again" message. ``ConnectionFailed`` says in
  ``may_have_reached_server`` (and its ``user_message``) whether the change may exist.
* Redirects are not followed: they would carry the ``X-API-KEY`` header elsewhere.
* A client-side rate budget (``dualentry_api.ratelimit``) spaces requests before sending,
  charged to the calling context's lane (``use_lane``); a 429 is reported to it, so every
  process backs off on that route and the sync lane pauses first.
* Logging on logger ``dualentry_api``: one INFO line per HTTP attempt with method, path,
  status, duration and upstream request id (as ``upstream_*`` record attributes, so a JSON log
  formatter keeps them apart from the portal's own request id); the API key is never logged.
* Observers: ``add_call_observer(callback)`` registers a function called after every HTTP
  attempt with the route (``"GET /public/v2/customers/"``) and its :class:`CallInfo` (status
  ``None`` when no answer came). The portal counts calls for its metrics this way, so this
  package depends on no metrics library. An observer that raises is logged and ignored.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import IO, Any, Protocol, TypedDict, Unpack
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from dualentry_api.errors import (
    BadResponse,
    ConnectionFailed,
    error_for_response,
    retry_after_seconds,
)
from dualentry_api.ratelimit import RateBudget
from dualentry_api.records import CallInfo, Page, Record, parse_record, response_shape, to_jsonable

__all__ = [
    "API_PREFIX",
    "NOT_GIVEN",
    "UPLOAD_CHUNK_SIZE",
    "Answer",
    "CallOptions",
    "HttpTransport",
    "MultipartStream",
    "Transport",
    "add_call_observer",
    "remove_call_observer",
    "user_agent",
]

logger = logging.getLogger("dualentry_api")

API_PREFIX = "/public/v2"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
REQUEST_ID_HEADERS = ("X-Request-ID", "Request-ID", "X-Correlation-ID", "X-Amzn-Trace-Id")
# "No JSON body": None is a valid JSON body (null), so absence needs its own marker.
NOT_GIVEN: Any = object()
# Worth another try for a GET; InvalidURL and friends are configuration, not weather.
TRANSIENT_ERRORS = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)
FileSpec = tuple[str, IO[bytes], str]


@cache
def user_agent() -> str:
    from importlib import metadata

    try:
        version = metadata.version("dualentry-portal")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"dualentry-portal/{version}"


@dataclass(frozen=True)
class RawPage:
    """A list page with its items exactly as decoded from JSON (numbers as Decimal)."""

    items: list[Any]
    count: int
    limit: int
    offset: int
    upstream: CallInfo | None = None

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.items)
        return end if self.items and end < self.count else None


@dataclass(frozen=True)
class Answer:
    """DualEntry's decoded answer to one call, and the typed views of it.

    ``template`` is the spec path template the call was made on: with the method and status it
    names the response schema the ``parse_*`` methods read the body with.
    """

    body: Any
    info: CallInfo
    template: str

    def _bad(self, message: str) -> BadResponse:
        info = self.info
        return BadResponse(
            message,
            status=info.status,
            method=info.method,
            path=info.path,
            request_id=info.request_id,
            duration_ms=info.duration_ms,
        )

    def _typed(self, raw: Any, shape: Any) -> Record:
        if not isinstance(raw, dict):
            raise self._bad(f"expected a JSON object, got {type(raw).__name__}")
        try:
            return parse_record(raw, shape, self.info)
        except ValueError as err:
            raise self._bad(f"off-schema value in the answer: {err}") from err

    def _shape(self) -> Any:
        return response_shape(self.info.method, self.template, self.info.status or 200)

    def parse_object(self) -> dict[str, Any]:
        """The body as a plain JSON object (the health check has no typed shape)."""
        if not isinstance(self.body, dict):
            raise self._bad("the answer is not a JSON object")
        return self.body

    def _list_body(self) -> dict[str, Any]:
        body = self.body
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("items"), list)
            or not isinstance(body.get("count"), int)
        ):
            raise self._bad("a list answer needs 'items' (array) and 'count' (integer)")
        return body

    def parse_raw_page(self, *, limit: int, offset: int) -> RawPage:
        """A list page whose items stay plain JSON dicts, not parsed.

        For copying records as they are (the read model): one malformed record must not make
        the whole page unreadable, so the caller checks each item itself.
        """
        body = self._list_body()
        return RawPage(body["items"], body["count"], limit, offset, self.info)

    def parse_record(self) -> Record:
        """The body as one typed record."""
        return self._typed(self.body, self._shape())

    def parse_records(self) -> list[Record]:
        """The body as a JSON array of typed records (the usage endpoints)."""
        if not isinstance(self.body, list):
            raise self._bad(f"expected a JSON array, got {type(self.body).__name__}")
        item_shape = getattr(self._shape(), "item", None)
        return [self._typed(item, item_shape) for item in self.body]

    def parse_page(self, *, limit: int, offset: int) -> Page:
        """The body as one page of a list (``items`` and ``count``)."""
        body = self._list_body()
        item_shape = getattr(getattr(self._shape(), "fields", {}).get("items"), "item", None)
        items = [self._typed(raw, item_shape) for raw in body["items"]]
        return Page(items, body["count"], limit, offset, self.info)


class CallOptions(TypedDict, total=False):
    """What a call may carry besides its path: query parameters, and either a JSON body
    (``payload``; leaving it out sends no body, ``None`` sends JSON null) or files to upload."""

    params: list[tuple[str, str]] | None
    payload: Any
    files: Sequence[FileSpec] | None


class Transport(Protocol):
    """What resources need from the network: one call in, one :class:`Answer` out."""

    base_url: str
    last_call: CallInfo | None

    def request(
        self,
        method: str,
        template: str,
        path_params: Mapping[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> Answer: ...

    def close(self) -> None: ...


# Reads of 256 KB: a 60 MB file goes out in 240 socket writes instead of 960 with 64 KB reads.
# 1 MB reads measured no faster, and each read is held in memory while it is sent.
UPLOAD_CHUNK_SIZE = 256 * 1024


class MultipartStream:
    """A ``multipart/form-data`` body produced piece by piece while it is sent.

    ``requests`` builds ``files=`` uploads in memory; this yields each part's header, then the
    file in ``chunk_size`` reads, so a 60 MB scan never sits in memory whole. When every file's
    size can be found (``fstat`` or seek/tell) the body has a ``len`` and is sent with
    Content-Length; otherwise requests falls back to chunked transfer encoding.
    """

    def __init__(
        self,
        files: Sequence[FileSpec],
        *,
        field_name: str = "files",
        boundary: str | None = None,
        chunk_size: int = UPLOAD_CHUNK_SIZE,
    ) -> None:
        self.boundary = boundary or f"dualentry-{uuid.uuid4().hex}"
        self.chunk_size = chunk_size
        self._parts: list[tuple[bytes, IO[bytes], int | None]] = []
        for filename, fileobj, content_type in files:
            header = (
                f"--{self.boundary}\r\n"
                f'Content-Disposition: form-data; name="{field_name}"; '
                f'filename="{_quote_filename(filename)}"\r\n'
                f"Content-Type: {_part_content_type(content_type)}\r\n\r\n"
            ).encode()
            self._parts.append((header, fileobj, _remaining_size(fileobj)))
        self._closing = f"--{self.boundary}--\r\n".encode()
        sizes = [size for _, _, size in self._parts]
        # requests' super_len() reads a ``len`` attribute; None means "unknown, send chunked".
        self.len: int | None = (
            sum(len(header) + size + 2 for header, _, size in self._parts) + len(self._closing)  # type: ignore[operator]
            if all(size is not None for size in sizes)
            else None
        )

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __iter__(self) -> Iterator[bytes]:
        for header, fileobj, size in self._parts:
            yield header
            sent = 0
            while chunk := fileobj.read(self.chunk_size):
                sent += len(chunk)
                if size is not None and sent > size:
                    raise ValueError("An attachment grew while it was being uploaded.")
                yield chunk
            if size is not None and sent != size:
                raise ValueError("An attachment shrank while it was being uploaded.")
            yield b"\r\n"
        yield self._closing


_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*", re.ASCII)


def _part_content_type(content_type: str | None) -> str:
    # The type usually comes from the uploader's browser: anything but a plain media type
    # (parameters, CR/LF that would forge part headers) is sent as generic bytes.
    if content_type and _MEDIA_TYPE.fullmatch(content_type):
        return content_type
    return "application/octet-stream"


def _quote_filename(filename: str) -> str:
    # What browsers do (HTML spec): percent-encode the characters that would break the header.
    return filename.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def _remaining_size(fileobj: IO[bytes]) -> int | None:
    try:
        position = fileobj.tell()
    except (AttributeError, OSError, ValueError):
        position = None
    try:
        total = os.fstat(fileobj.fileno()).st_size
        if position is not None:
            return max(0, total - position)
    except (AttributeError, OSError, ValueError):
        pass
    if position is None:
        return None
    try:
        end = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(position)
    except (AttributeError, OSError, ValueError):
        return None
    return end - position


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value[:200]
    return None


CallObserver = Callable[[str, CallInfo], None]
_call_observers: list[CallObserver] = []


def add_call_observer(observer: CallObserver) -> None:
    """Call ``observer(route, info)`` after every HTTP attempt (registering twice is a no-op)."""
    if observer not in _call_observers:
        _call_observers.append(observer)


def remove_call_observer(observer: CallObserver) -> None:
    if observer in _call_observers:
        _call_observers.remove(observer)


def _notify_observers(route: str, info: CallInfo) -> None:
    for observer in list(_call_observers):
        try:
            observer(route, info)
        except Exception:  # metrics must never break a call to DualEntry
            logger.exception("DualEntry call observer %r failed", observer)


def _connect_never_happened(err: requests.RequestException) -> bool:
    """True when the TCP connection was never established, so nothing was sent."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    if isinstance(err, requests.ConnectionError):
        reason = getattr(err.args[0], "reason", None) if err.args else None
        return isinstance(reason, NewConnectionError)
    return False


class HttpTransport:
    """The real transport: one ``requests.Session`` for one API key. Not thread-safe."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        *,
        rate_budget: RateBudget | None = None,
        max_tries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 4.0,
        retry_after_cap: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        pool_size: int = 10,
    ) -> None:
        if not base_url:
            raise ValueError("DualEntry base URL is empty: set DUALENTRY_API_URL.")
        base = base_url.rstrip("/")
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        self.base_url = base
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.rate_budget = rate_budget
        self.max_tries = max(1, max_tries)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._jitter = jitter
        # The most recent HTTP attempt, for audit and diagnostics.
        self.last_call: CallInfo | None = None
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(
            {"X-API-KEY": api_key, "User-Agent": user_agent(), "Accept": "application/json"}
        )
        self._session = session

    def __repr__(self) -> str:
        return f"<HttpTransport {self.base_url}>"

    def close(self) -> None:
        self._session.close()

    def request(
        self,
        method: str,
        template: str,
        path_params: Mapping[str, Any] | None = None,
        *,
        params: list[tuple[str, str]] | None = None,
        payload: Any = NOT_GIVEN,
        files: Sequence[FileSpec] | None = None,
    ) -> Answer:
        """Send one logical call (with retries if it is a GET) and decode the answer."""
        path = fill_path(template, path_params or {})
        headers: dict[str, str] = {}
        data: Any = None
        if payload is not NOT_GIVEN:
            data = json.dumps(to_jsonable(payload), ensure_ascii=False, separators=(",", ":"))
            data = data.encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif files is not None:
            data = MultipartStream(files)
            headers["Content-Type"] = data.content_type
        retryable = method == "GET"
        tries = self.max_tries if retryable else 1
        route = f"{method} {template}"
        url = self.base_url + path
        for attempt in range(1, tries + 1):
            if self.rate_budget is not None:
                wait = self.rate_budget.reserve(route)
                if wait > 0:
                    self._sleep(wait)
            started = time.perf_counter()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as err:
                duration_ms = round((time.perf_counter() - started) * 1000, 1)
                never_sent = _connect_never_happened(err)
                info = CallInfo(method, path, None, duration_ms, None)
                self.last_call = info
                _notify_observers(route, info)
                logger.warning(
                    "DualEntry %s %s failed after %.1f ms: %s",
                    method,
                    path,
                    duration_ms,
                    type(err).__name__,
                    extra=_log_extra(info),
                )
                if attempt < tries and isinstance(err, TRANSIENT_ERRORS):
                    self._pause(attempt, None, method, path, type(err).__name__)
                    continue
                raise ConnectionFailed(
                    f"{type(err).__name__}: {_safe_reason(err)}",
                    may_have_reached_server=not never_sent,
                    user_message=_connection_sentence(method, never_sent),
                    method=method,
                    path=path,
                    duration_ms=duration_ms,
                ) from err
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            info = CallInfo(
                method, path, response.status_code, duration_ms, _request_id(response.headers)
            )
            self.last_call = info
            _notify_observers(route, info)
            logger.info(
                "DualEntry %s %s -> %s in %.1f ms (request id %s)",
                method,
                path,
                info.status,
                duration_ms,
                info.request_id or "-",
                extra=_log_extra(info),
            )
            status = response.status_code
            retry_after = _retry_after(response) if status == 429 else None
            if status == 429 and self.rate_budget is not None:
                # Every process and lane learns that DualEntry's bucket is empty.
                self.rate_budget.record_rate_limited(route, retry_after)
            if (
                status in RETRY_STATUSES
                and attempt < tries
                and (retry_after is None or retry_after <= self.retry_after_cap)
            ):
                self._pause(attempt, retry_after, method, path, f"HTTP {status}")
                continue
            return Answer(_decode(response, info), info, template)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _pause(
        self, attempt: int, retry_after: float | None, method: str, path: str, reason: str
    ) -> None:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        delay = ceiling / 2 + self._jitter() * ceiling / 2  # "equal jitter"
        if retry_after is not None:
            delay = max(delay, retry_after)
        logger.warning(
            "DualEntry %s %s: %s, retrying in %.2f s (attempt %d of %d)",
            method,
            path,
            reason,
            delay,
            attempt + 1,
            self.max_tries,
        )
        self._sleep(delay)


def _decode(response: requests.Response, info: CallInfo) -> Any:
    status = response.status_code
    body: Any = None
    decode_error: ValueError | None = None
    if response.content:
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
            decode_error = err
    common = {
        "status": status,
        "method": info.method,
        "path": info.path,
        "request_id": info.request_id,
        "duration_ms": info.duration_ms,
    }
    if status >= 400:
        error = error_for_response(
            body=body, retry_after_header=response.headers.get("Retry-After"), **common
        )
        raise error from decode_error
    if 300 <= status < 400:
        raise BadResponse(f"unexpected redirect (HTTP {status}); not followed", **common)
    if decode_error is not None:
        raise BadResponse(f"answer is not JSON: {decode_error}", **common) from decode_error
    return body


def fill_path(template: str, path_params: Mapping[str, Any]) -> str:
    """``/x/{record_number}/`` with each parameter quoted as one path segment."""
    values = {}
    for name, value in path_params.items():
        if value is None or str(value).strip() == "":
            raise ValueError(f"{name} is required to build {template}.")
        values[name] = quote(str(value).strip(), safe="")
    return template.format(**values)


def _retry_after(response: requests.Response) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After"))


def _safe_reason(err: requests.RequestException) -> str:
    # requests' messages name host, port and path, never headers; trim for log width.
    return str(err)[:300]


def _connection_sentence(method: str, never_sent: bool) -> str:
    if method == "GET":
        return "DualEntry is not responding. Try again in a minute."
    if never_sent:
        return "DualEntry could not be reached, so nothing was sent. Try again in a minute."
    return (
        "DualEntry did not confirm the change in time. It may have been saved: check the record "
        "in DualEntry before trying again."
    )


def _log_extra(info: CallInfo) -> dict[str, Any]:
    return {
        "upstream_method": info.method,
        "upstream_path": info.path,
        "upstream_status": info.status,
        "upstream_duration_ms": info.duration_ms,
        "upstream_request_id": info.request_id,
    }
