"""The current request's id and user, for log lines.

`RequestContextMiddleware` (after authentication and the correlation id) stores them in context
variables for the duration of a request; `RequestContextFilter`, attached to the log handler,
copies them onto every log record as `request_id` and `user`. Outside a request (worker,
management commands) both are empty strings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

request_id_var: ContextVar[str] = ContextVar("portal_request_id", default="")
user_var: ContextVar[str] = ContextVar("portal_user", default="")


class RequestContextMiddleware:
    """Puts `request.correlation_id` and the user's name in the logging context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        username = user.get_username() if user is not None and user.is_authenticated else ""
        request_token = request_id_var.set(getattr(request, "correlation_id", ""))
        user_token = user_var.set(username)
        try:
            return self.get_response(request)
        finally:
            request_id_var.reset(request_token)
            user_var.reset(user_token)


class RequestContextFilter(logging.Filter):
    """Adds `request_id` and `user` of the current request to each record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user = user_var.get()
        return True
