"""The DualEntry Public API v2 client: the only place the portal speaks HTTP to DualEntry.

    from dualentry_api.client import get_client
    client = get_client()          # built from settings, one per thread
    page = client.customer_refunds.list(filters={"record_status": ["draft"]}, limit=50)
    refund = client.customer_refunds.get(1042)
    refund = client.customer_refunds.update(1042, {..., "record_status": "draft"})

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
* A client-side rate budget (``dualentry_api.ratelimit``) spaces requests before sending.
* Logging on logger ``dualentry_api``: one INFO line per HTTP attempt with method, path,
  status, duration and upstream request id; the API key is never logged.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from functools import cache
from typing import IO, Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from dualentry_api.errors import (
    BadResponse,
    ConnectionFailed,
    DualEntryError,
    error_for_response,
    retry_after_seconds,
)
from dualentry_api.ratelimit import RateBudget
from dualentry_api.records import CallInfo, Page, Record, parse_record, response_shape, to_jsonable
from dualentry_api.resources import API_PREFIX, Resource, build_resources, description_for

__all__ = ["UPLOAD_CHUNK_SIZE", "DualEntryClient", "MultipartStream", "get_client", "user_agent"]

logger = logging.getLogger("dualentry_api")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
REQUEST_ID_HEADERS = ("X-Request-ID", "Request-ID", "X-Correlation-ID", "X-Amzn-Trace-Id")
_NOT_GIVEN: Any = object()
# Worth another try for a GET; InvalidURL and friends are configuration, not weather.
TRANSIENT_ERRORS = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)


@cache
def user_agent() -> str:
    from importlib import metadata

    try:
        version = metadata.version("dualentry-portal")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"dualentry-portal/{version}"


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
        files: Sequence[tuple[str, IO[bytes], str]],
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


def _connect_never_happened(err: requests.RequestException) -> bool:
    """True when the TCP connection was never established, so nothing was sent."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    if isinstance(err, requests.ConnectionError):
        reason = getattr(err.args[0], "reason", None) if err.args else None
        return isinstance(reason, NewConnectionError)
    return False


class DualEntryClient:
    """A client for one DualEntry API key. Not shared between threads (see ``get_client``)."""

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
        # The most recent HTTP attempt of this (per-thread) client, for audit and diagnostics.
        self.last_call: CallInfo | None = None
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(
            {"X-API-KEY": api_key, "User-Agent": user_agent(), "Accept": "application/json"}
        )
        self._session = session
        self._resources = build_resources(self)
        for name, resource in self._resources.items():
            setattr(self, name, resource)

    def __repr__(self) -> str:
        return f"<DualEntryClient {self.base_url}>"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> DualEntryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def resource(self, name_or_path: str) -> Resource:
        """The resource object by API path (``"customer-refunds"``) or attribute name."""
        return self._resources[description_for(name_or_path).name]

    def health(self) -> dict[str, Any]:
        """GET /health/ (retried like any GET): DualEntry's status dict.

        Raises a DualEntryError subclass when DualEntry cannot be reached or refuses the key.
        """
        body, info = self._call("GET", f"{API_PREFIX}/health/")
        if not isinstance(body, dict):
            raise BadResponse(
                "health check answer is not a JSON object",
                status=info.status,
                method=info.method,
                path=info.path,
                request_id=info.request_id,
            )
        return body

    # Plumbing used by the resources ------------------------------------------------------
    def _typed(self, body: dict, shape: Any, info: CallInfo) -> Record:
        try:
            return parse_record(body, shape, info)
        except ValueError as err:
            raise BadResponse(
                f"off-schema value in the answer: {err}",
                status=info.status,
                method=info.method,
                path=info.path,
                request_id=info.request_id,
                duration_ms=info.duration_ms,
            ) from err

    def _page(self, body: Any, template: str, info: CallInfo, *, limit: int, offset: int) -> Page:
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("items"), list)
            or not isinstance(body.get("count"), int)
        ):
            raise BadResponse(
                "a list answer needs 'items' (array) and 'count' (integer)",
                status=info.status,
                method=info.method,
                path=info.path,
                request_id=info.request_id,
                duration_ms=info.duration_ms,
            )
        shape = response_shape("GET", template, info.status)
        item_shape = getattr(shape, "fields", {}).get("items")
        item_shape = getattr(item_shape, "item", None)
        items = []
        for raw in body["items"]:
            if not isinstance(raw, dict):
                raise BadResponse("a list item is not a JSON object", path=info.path)
            items.append(self._typed(raw, item_shape, info))
        return Page(items, body["count"], limit, offset, info)

    def _call(
        self,
        method: str,
        template: str,
        path_params: Mapping[str, Any] | None = None,
        *,
        params: list[tuple[str, str]] | None = None,
        payload: Any = _NOT_GIVEN,
        files: Sequence[tuple[str, IO[bytes], str]] | None = None,
    ) -> tuple[Any, CallInfo]:
        """Send one logical call (with retries if it is a GET); the decoded JSON and its info."""
        path = _fill(template, path_params or {})
        headers: dict[str, str] = {}
        data: Any = None
        if payload is not _NOT_GIVEN:
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
            if status in RETRY_STATUSES and attempt < tries:
                retry_after = _retry_after(response) if status == 429 else None
                if retry_after is None or retry_after <= self.retry_after_cap:
                    self._pause(attempt, retry_after, method, path, f"HTTP {status}")
                    continue
            return self._decode(response, info), info
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _decode(self, response: requests.Response, info: CallInfo) -> Any:
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


def _fill(template: str, path_params: Mapping[str, Any]) -> str:
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
        "method": info.method,
        "path": info.path,
        "status": info.status,
        "duration_ms": info.duration_ms,
        "request_id": info.request_id,
    }


_local = threading.local()


def _settings_config() -> tuple:
    from django.conf import settings

    return (
        settings.DUALENTRY_API_URL,
        settings.DUALENTRY_API_KEY,
        float(getattr(settings, "DUALENTRY_CONNECT_TIMEOUT", 5.0)),
        float(getattr(settings, "DUALENTRY_READ_TIMEOUT", 30.0)),
        float(getattr(settings, "DUALENTRY_RATE_PER_SECOND", 5.0)),
        int(getattr(settings, "DUALENTRY_RATE_BURST", 50)),
        float(getattr(settings, "DUALENTRY_ROUTE_RATE_PER_SECOND", 1.0)),
        int(getattr(settings, "DUALENTRY_ROUTE_RATE_BURST", 10)),
        float(getattr(settings, "DUALENTRY_RATE_MAX_WAIT", 3.0)),
    )


def get_client() -> DualEntryClient:
    """The calling thread's client, built from settings (rebuilt when they change)."""
    config = _settings_config()
    client = getattr(_local, "client", None)
    if client is not None and _local.config == config:
        return client
    if client is not None:
        client.close()
    url, api_key, connect_timeout, read_timeout = config[:4]
    if not url or not api_key:
        raise DualEntryError(
            "DUALENTRY_API_URL and DUALENTRY_API_KEY must both be set",
            user_message="The portal is not connected to DualEntry yet. Ask an administrator.",
        )
    client = DualEntryClient(
        url,
        api_key,
        connect_timeout,
        read_timeout,
        rate_budget=RateBudget.from_settings(api_key),
    )
    _local.client, _local.config = client, config
    return client
