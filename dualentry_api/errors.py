"""Exceptions raised by the DualEntry client, keyed by what went wrong upstream.

Every exception carries the HTTP ``status`` (None when no answer came back), ``method``,
``path``, the upstream ``request_id`` if DualEntry sent one, and ``user_message``: a sentence
a finance user can act on. ``str(error)`` is the technical version for logs. Neither ever
contains the API key: messages are built only from the method, path, status and body.

    DualEntryError
    ├── ValidationFailed      400 / 422 (field_errors, non_field_errors, item_errors)
    ├── AuthenticationFailed  401
    ├── PermissionDenied      403
    ├── NotFound              404
    ├── RateLimited           429, or the portal's own rate budget is exhausted (retry_after)
    ├── ServerError           5xx
    ├── ConnectionFailed      timeout, refused, reset (may_have_reached_server)
    ├── BadResponse           an answer that is not JSON or not the documented shape
    └── NotSupported          the API v2 has no such operation for this resource
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "AuthenticationFailed",
    "BadResponse",
    "ConnectionFailed",
    "DualEntryError",
    "NotFound",
    "NotSupported",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "ValidationFailed",
    "error_for_response",
    "parse_error_body",
    "retry_after_seconds",
    "upstream_record",
]

NON_FIELD_KEYS = frozenset({"__all__", "non_field_errors", "detail", ""})
# "items[0].amount", "items.0.amount", "items[0][amount]", "items.0" (a whole line)
_ITEM_KEY = re.compile(r"^items(?:\[(\d+)\]|\.(\d+))(?:\.|\[)?([^\]]*)\]?$")
# What the audit log's ``upstream`` field holds about one call, failed or not.
UPSTREAM_FIELDS = ("method", "path", "status", "duration_ms", "request_id")


def upstream_record(call: Any) -> dict[str, Any]:
    """The call as the audit log records it, from anything carrying ``UPSTREAM_FIELDS``."""
    return {name: getattr(call, name) for name in UPSTREAM_FIELDS}


class DualEntryError(Exception):
    """Base class: a call to DualEntry did not give the expected answer."""

    default_user_message = "DualEntry could not complete the request. Try again later."

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        request_id: str | None = None,
        user_message: str | None = None,
        duration_ms: float | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.request_id = request_id
        self.user_message = user_message or self.default_user_message
        self.duration_ms = duration_ms
        super().__init__(message or self.user_message)

    @property
    def upstream(self) -> dict[str, Any]:
        """The call as the audit log records it."""
        return upstream_record(self)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        request_id = f", request id {self.request_id}" if self.request_id else ""
        detail = super().__str__()
        prefix = f"{where} ({status}{request_id})" if where else f"({status}{request_id})"
        return f"{prefix}: {detail}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, method={self.method!r}, "
            f"path={self.path!r}, request_id={self.request_id!r})"
        )


class NotSupported(DualEntryError, AttributeError):
    """The API v2 offers no such operation (e.g. contracts.update); no request was made.

    It is also an AttributeError, so ``hasattr(client.contracts, "update")`` is False.
    """

    default_user_message = "DualEntry does not allow this change through its API."

    def __str__(self) -> str:
        return Exception.__str__(self)


class ValidationFailed(DualEntryError):
    """400/422: DualEntry refused the data, with errors per field and per line item."""

    default_user_message = "DualEntry did not accept the data. Correct the fields marked below."

    def __init__(
        self,
        message: str = "",
        *,
        field_errors: dict[str, list[str]] | None = None,
        non_field_errors: list[str] | None = None,
        item_errors: dict[int, dict[str, list[str]]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.field_errors = field_errors or {}
        self.non_field_errors = non_field_errors or []
        self.item_errors = item_errors or {}
        super().__init__(message, **kwargs)

    @property
    def messages(self) -> list[str]:
        """Every message as a sentence, non-field ones first (for a flash message)."""
        found = list(self.non_field_errors)
        for field, messages in self.field_errors.items():
            found.extend(f"{field}: {message}" for message in messages)
        for index, fields in sorted(self.item_errors.items()):
            for field, messages in fields.items():
                label = f"line {index + 1}" + (f" {field}" if field != "__all__" else "")
                found.extend(f"{label}: {message}" for message in messages)
        return found


class AuthenticationFailed(DualEntryError):
    default_user_message = (
        "The portal could not sign in to DualEntry. Ask an administrator to check the API key."
    )


class PermissionDenied(DualEntryError):
    default_user_message = (
        "The portal's DualEntry key is not allowed to do this. Ask an administrator."
    )


class NotFound(DualEntryError):
    default_user_message = (
        "DualEntry has no such record. It may have been removed, or the number is wrong."
    )


class RateLimited(DualEntryError):
    """429 from DualEntry, or the portal's own budget would need too long a wait."""

    default_user_message = "DualEntry is busy right now. Try again in a minute."

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kwargs: Any):
        self.retry_after = retry_after
        if retry_after is not None and "user_message" not in kwargs:
            seconds = max(1, round(retry_after))
            kwargs["user_message"] = (
                f"DualEntry is busy right now. Try again in {seconds} second"
                f"{'s' if seconds != 1 else ''}."
            )
        super().__init__(message, **kwargs)


class ServerError(DualEntryError):
    default_user_message = "DualEntry had a problem on its side. Try again in a few minutes."


class ConnectionFailed(DualEntryError):
    """No usable answer: timeout, refused or reset connection.

    ``may_have_reached_server`` is False only when the connection was never established
    (refused, DNS, connect timeout); for a write that is True, the change may have been saved.
    """

    default_user_message = "DualEntry is not responding. Try again in a minute."

    def __init__(self, message: str = "", *, may_have_reached_server: bool = True, **kwargs: Any):
        self.may_have_reached_server = may_have_reached_server
        super().__init__(message, **kwargs)


class BadResponse(DualEntryError):
    default_user_message = (
        "DualEntry sent an answer the portal could not read. Try again later, and tell an "
        "administrator if it keeps happening."
    )


_BY_STATUS: dict[int, type[DualEntryError]] = {
    400: ValidationFailed,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    422: ValidationFailed,
    429: RateLimited,
}


def _as_messages(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(message) for message in value if not isinstance(message, dict | list)]
    return [str(value)]


def _add_item_error(
    item_errors: dict[int, dict[str, list[str]]], index: int, field: str, messages: list[str]
) -> None:
    if messages:
        item_errors.setdefault(index, {}).setdefault(field or "__all__", []).extend(messages)


def _collect_item(
    item_errors: dict[int, dict[str, list[str]]], index: int, value: Any, prefix: str = ""
) -> None:
    """One line's errors: a list of messages, or a (possibly nested) mapping of fields."""
    if isinstance(value, dict):
        for field, sub in value.items():
            name = field if field not in NON_FIELD_KEYS else ""
            name = f"{prefix}.{name}" if prefix and name else (name or prefix)
            _collect_item(item_errors, index, sub, name)
    else:
        _add_item_error(item_errors, index, prefix, _as_messages(value))


def parse_error_body(
    body: Any,
) -> tuple[dict[str, list[str]], list[str], dict[int, dict[str, list[str]]]]:
    """Split an ErrorSchema body into (field_errors, non_field_errors, item_errors).

    Line-item errors are accepted as ``items[0].amount`` / ``items.0.amount`` keys, as
    ``{"items": [{"amount": [...]}, {}]}`` or as ``{"items": {"0": {"amount": [...]}}}``.
    Errors about the ``items`` list as a whole (``{"items": ["At least one line."]}``) stay
    in ``field_errors["items"]``.
    """
    field_errors: dict[str, list[str]] = {}
    non_field_errors: list[str] = []
    item_errors: dict[int, dict[str, list[str]]] = {}
    if not isinstance(body, dict):
        return field_errors, non_field_errors, item_errors
    errors = body.get("errors", body.get("detail"))
    if isinstance(errors, str | list):
        return field_errors, _as_messages(errors), item_errors
    if not isinstance(errors, dict):
        return field_errors, non_field_errors, item_errors
    for key, value in errors.items():
        key = str(key)
        if key in NON_FIELD_KEYS:
            non_field_errors.extend(_as_messages(value))
            continue
        match = _ITEM_KEY.match(key)
        if match:
            index = int(match.group(1) or match.group(2))
            _collect_item(item_errors, index, value, match.group(3) or "")
            continue
        if key == "items" and isinstance(value, list) and any(isinstance(v, dict) for v in value):
            for index, line in enumerate(value):
                if isinstance(line, dict):
                    _collect_item(item_errors, index, line)
                else:
                    field_errors.setdefault("items", []).extend(_as_messages([line]))
            continue
        if key == "items" and isinstance(value, dict):
            for index, line in value.items():
                if str(index).isdigit():
                    _collect_item(item_errors, int(index), line)
                else:
                    field_errors.setdefault("items", []).extend(_as_messages(line))
            continue
        if isinstance(value, dict):
            # A nested object's errors (e.g. {"tax": {"vat_rate_id": [...]}}): flatten the key.
            for sub_key, sub_value in value.items():
                field_errors.setdefault(f"{key}.{sub_key}", []).extend(_as_messages(sub_value))
            continue
        field_errors.setdefault(key, []).extend(_as_messages(value))
    return field_errors, non_field_errors, item_errors


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for_response(
    *,
    status: int,
    method: str,
    path: str,
    body: Any,
    request_id: str | None,
    retry_after_header: str | None = None,
    duration_ms: float | None = None,
) -> DualEntryError:
    """The exception for a non-2xx answer (``body`` is the decoded JSON, or None)."""
    common = {
        "status": status,
        "method": method,
        "path": path,
        "request_id": request_id,
        "duration_ms": duration_ms,
    }
    field_errors, non_field_errors, item_errors = parse_error_body(body)
    summary = "; ".join(non_field_errors[:3]) or ", ".join(list(field_errors)[:5])
    if status in (400, 422):
        message = f"DualEntry refused the data: {summary or 'no detail given'}"
        if item_errors:
            message += f" (errors on line(s) {', '.join(str(i + 1) for i in sorted(item_errors))})"
        return ValidationFailed(
            message,
            field_errors=field_errors,
            non_field_errors=non_field_errors,
            item_errors=item_errors,
            **common,
        )
    if status == 429:
        retry_after = retry_after_seconds(retry_after_header)
        return RateLimited(
            f"DualEntry rate limit hit (Retry-After {retry_after_header or 'absent'})",
            retry_after=retry_after,
            **common,
        )
    if status >= 500:
        user_message = (
            "DualEntry is not responding. Try again in a minute."
            if status in (502, 503, 504)
            else None
        )
        return ServerError(
            f"DualEntry server error {summary}".strip(), user_message=user_message, **common
        )
    error_class = _BY_STATUS.get(status, DualEntryError)
    return error_class(summary or f"unexpected status {status}", **common)
