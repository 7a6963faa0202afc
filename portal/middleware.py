"""Session lifetime: signed out after `SESSION_IDLE_TIMEOUT` seconds without a request, and
`SESSION_ABSOLUTE_TIMEOUT` seconds after signing in whatever happens.

Two timestamps live in the session: when it was signed in and when it last saw a request.
Django already rotates the session key at log-in (`login()` calls `cycle_key()`), so a session
fixed before log-in is worthless after it.
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

SIGNED_IN_AT = "portal_signed_in_at"
LAST_SEEN_AT = "portal_last_seen_at"
# Saving the session on every request is a write per request; a few seconds of slack in the
# idle clock is not worth one (a POST, "Stay signed in" included, always counts).
LAST_SEEN_RESOLUTION = 5


def now() -> float:
    """The clock the session rules read (tests replace it)."""
    return time.time()


def session_remaining(request: HttpRequest) -> dict:
    """Seconds left before the idle and the absolute limits, for the warning in the page."""
    if not request.user.is_authenticated or SIGNED_IN_AT not in request.session:
        return {"authenticated": False, "remaining": 0, "extendable": False}
    current = now()
    idle_left = settings.SESSION_IDLE_TIMEOUT - (current - request.session[LAST_SEEN_AT])
    absolute_left = settings.SESSION_ABSOLUTE_TIMEOUT - (current - request.session[SIGNED_IN_AT])
    return {
        "authenticated": True,
        "remaining": max(0, int(min(idle_left, absolute_left))),
        # "Stay signed in" helps only when the idle limit comes first.
        "extendable": idle_left < absolute_left,
    }


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            expired = self._expired_because(request)
            if expired:
                logout(request)
                messages.info(request, expired)
                if getattr(request, "htmx", False):
                    return HttpResponseClientRedirect(resolve_url(settings.LOGIN_URL))
            else:
                self._touch(request)
        return self.get_response(request)

    @staticmethod
    def _expired_because(request: HttpRequest) -> str:
        session = request.session
        signed_in_at = session.get(SIGNED_IN_AT)
        if signed_in_at is None:
            return ""
        current = now()
        if current - signed_in_at > settings.SESSION_ABSOLUTE_TIMEOUT:
            hours = round(settings.SESSION_ABSOLUTE_TIMEOUT / 3600, 1)
            return (
                f"You were signed out because sessions last at most {hours:g} hours. Sign in again."
            )
        if current - session.get(LAST_SEEN_AT, signed_in_at) > settings.SESSION_IDLE_TIMEOUT:
            minutes = round(settings.SESSION_IDLE_TIMEOUT / 60, 1)
            return f"You were signed out after {minutes:g} minutes without activity. Sign in again."
        return ""

    @staticmethod
    def _touch(request: HttpRequest) -> None:
        session = request.session
        current = now()
        if SIGNED_IN_AT not in session:
            session[SIGNED_IN_AT] = session[LAST_SEEN_AT] = current
        elif request.path == reverse("session_status"):
            return  # the page asking how long is left is not the person being active
        elif (
            request.method == "POST"
            or current - session.get(LAST_SEEN_AT, 0) >= LAST_SEEN_RESOLUTION
        ):
            session[LAST_SEEN_AT] = current
