"""DualEntry failures as pages: every page that reports one goes through this module.

- `upstream_failure(error, noun=..., creating=...)`: the status and the sentence for a form that
  could not be saved (the form comes back with the user's input and this sentence on top);
- `upstream_error_response` / `@upstream_failures`: the error page (or htmx fragment) for a page
  that could not read what it shows, with what happened and what to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from dualentry_api.errors import (
    AuthenticationFailed,
    BadResponse,
    ConnectionFailed,
    DualEntryError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationFailed,
)

logger = logging.getLogger(__name__)


# --- DualEntry failures as pages ----------------------------------------------------------


def _failure(err: DualEntryError) -> tuple[int, str, str]:
    """(HTTP status, what happened, what to do) for a DualEntry failure."""
    if isinstance(err, AuthenticationFailed):
        return (
            503,
            "The portal cannot sign in to DualEntry.",
            "DualEntry refused the portal's API key. Administrators: check DUALENTRY_API_KEY "
            "(and DUALENTRY_API_URL) in the portal's configuration, then restart it. Everyone "
            "else: tell an administrator; retrying will not help until the key is fixed.",
        )
    if isinstance(err, PermissionDenied):
        return (
            503,
            "The portal's DualEntry key is not allowed to read this.",
            "Administrators: give the portal's API key access to this kind of record in "
            "DualEntry. Everyone else: tell an administrator.",
        )
    if isinstance(err, RateLimited):
        wait = f"in {max(1, round(err.retry_after))} seconds" if err.retry_after else "shortly"
        return (
            503,
            "DualEntry is busy: the portal has used its share of DualEntry's request allowance "
            "for the moment.",
            f"Nothing is wrong with your request. Try again {wait}.",
        )
    if isinstance(err, ConnectionFailed):
        return (
            503,
            "DualEntry is not responding.",
            "This is usually temporary. Try again in a minute; if it keeps happening, tell an "
            "administrator.",
        )
    if isinstance(err, ServerError):
        return (
            502,
            "DualEntry had a problem on its side.",
            "Try again in a few minutes. If it keeps happening, tell an administrator and give "
            "them the reference below.",
        )
    if isinstance(err, BadResponse):
        return (
            502,
            "DualEntry sent an answer the portal could not read.",
            "Try again later. If it keeps happening, tell an administrator and give them the "
            "reference below: the portal may need updating for a change in DualEntry's API.",
        )
    if isinstance(err, ValidationFailed):
        return (
            502,
            "DualEntry did not accept the request.",
            "Change the filters and try again, or clear them.",
        )
    return 503, err.user_message, "Ask an administrator to check the portal's connection."


def upstream_error_response(request: HttpRequest, err: DualEntryError) -> HttpResponse:
    """The error page (or, for htmx, the error fragment) for a failed DualEntry call."""
    status, headline, advice = _failure(err)
    # Configuration problems need an administrator; weather (busy, down) only a warning.
    transient = isinstance(err, RateLimited | ConnectionFailed | ServerError | ValidationFailed)
    log = logger.warning if transient else logger.error
    log("%s %s: DualEntry call failed: %r %s", request.method, request.path, err, err)
    context = {
        "headline": headline,
        "advice": advice,
        "details": err.messages if isinstance(err, ValidationFailed) else [],
        "request_id": err.request_id,
        "retry_url": request.get_full_path(),
        "error_name": type(err).__name__,
    }
    partial = getattr(request, "htmx", False) and not request.htmx.history_restore_request
    template = "records/upstream_error.html#error" if partial else "records/upstream_error.html"
    response = render(request, template, context, status=status)
    # static/js/portal.js swaps error fragments marked with this header into the page.
    response["X-Upstream-Error"] = type(err).__name__
    if isinstance(err, RateLimited) and err.retry_after:
        response["Retry-After"] = str(max(1, round(err.retry_after)))
    return response


def upstream_failures(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn DualEntry failures raised by a view into the portal's error page (502/503).

    `NotFound` reaching here (the view did not turn it into a specific 404) is a 404 too.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as err:
            logger.info("%s %s: DualEntry has no such record: %s", request.method, request.path,
                        err)  # fmt: skip
            raise Http404(err.user_message) from err
        except DualEntryError as err:
            return upstream_error_response(request, err)

    return wrapper


def is_partial(request: HttpRequest) -> bool:
    """An htmx swap (not a history restore, which needs the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def upstream_failure(error: DualEntryError, *, noun: str, creating: bool) -> tuple[int, str]:
    """(HTTP status, sentence) for a save that DualEntry failed: 422 for its validation errors,
    404 when the record is gone, 503 when busy or unreachable, 502 for its own errors."""
    what = f"the {noun}" if creating else f"your changes to the {noun}"
    was = "was" if creating else "were"
    if isinstance(error, ValidationFailed):
        return 422, (
            f"DualEntry did not accept {what}: correct what is marked below and save again."
        )
    if isinstance(error, RateLimited):
        wait = f"in {max(1, round(error.retry_after))} seconds" if error.retry_after else "soon"
        return 503, (
            f"DualEntry is busy right now, so {what} could not be saved. Nothing you typed is "
            f"lost: save again {wait}."
        )
    if isinstance(error, ConnectionFailed):
        if error.may_have_reached_server:
            check = (
                "Check the drafts list before saving again, so it is not created twice"
                if creating
                else "Open the record in a new tab to check before saving again"
            )
            return 503, (
                f"DualEntry did not answer in time, so the portal cannot tell whether {what} "
                f"{was} saved. {check}; everything you typed is kept below."
            )
        return 503, (
            f"The portal could not reach DualEntry, so {what} {was} not saved. Nothing you "
            "typed is lost: try again in a minute."
        )
    if isinstance(error, NotFound):
        return 404, (
            f"DualEntry no longer has this {noun} (it may have been removed), so {what} could "
            "not be saved. Your input is kept below."
        )
    if error.status is not None and error.status >= 500:
        return 502, (
            f"DualEntry had a problem on its side (HTTP {error.status}), so {what} {was} not "
            "saved. Nothing you typed is lost: try saving again in a few minutes."
        )
    return 503, f"{error.user_message} Nothing you typed is lost: {what} can be saved again later."
