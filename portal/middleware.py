"""Per-request middleware of the portal's core app: the person's time zone, session limits and
friendly 404s.

Session lifetime: signed out after `SESSION_IDLE_TIMEOUT` seconds without a request, and
`SESSION_ABSOLUTE_TIMEOUT` seconds after signing in whatever happens. Two timestamps live in the
session: when it was signed in and when it last saw a request. Django already rotates the
session key at log-in (`login()` calls `cycle_key()`), so a session fixed before log-in is
worthless after it.
"""

import time
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from portal.errors import page_not_found
from portal.timezones import profile_time_zone

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


class TimeZoneMiddleware:
    """Shows every time in the signed-in person's zone (their profile, else TIME_ZONE)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = profile_time_zone(getattr(request, "user", None))
        name = chosen or settings.TIME_ZONE
        # Read by the base layout: with no zone known yet, the browser is asked once.
        request.time_zone, request.time_zone_known = name, bool(chosen)
        timezone.activate(zoneinfo.ZoneInfo(name))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class FriendlyNotFoundMiddleware:
    """With DEBUG on (the demo, `make run`), Django answers a 404 with its technical page,
    which lists every URL pattern. With PORTAL_FRIENDLY_404 on, a missing page or record shows
    the portal's own 404 page instead; real exceptions keep Django's debug page.

    Unknown addresses fail in URL resolution, before any view, so they are resolved here
    first; `Http404` raised by a view arrives in `process_exception`. With DEBUG off this does
    nothing: Django already uses `handler404`.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    @staticmethod
    def _active() -> bool:
        return settings.DEBUG and getattr(settings, "PORTAL_FRIENDLY_404", True)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._active():
            try:
                resolve(request.path_info, urlconf=getattr(request, "urlconf", None))
            except Resolver404 as err:
                return page_not_found(request, err)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if self._active() and isinstance(exception, Http404):
            return page_not_found(request, exception)
        return None
