"""Per-request middleware of the portal's core app: the person's time zone, friendly 404s."""

import zoneinfo

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone

from portal.errors import page_not_found
from portal.timezones import profile_time_zone


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
