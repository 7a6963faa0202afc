"""Error pages in the portal's layout."""

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from portal.audit.services import audit_permission_denied

logger = logging.getLogger(__name__)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", {"message": _message(exception)}, status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = _message(exception)
    try:
        audit_permission_denied(request=request, reason=message)
    except DatabaseError:
        # The refusal stands either way; a 500 here would hide it from the person.
        logger.exception("audit: could not record a permission-denied event")
    return render(request, "403.html", {"message": message}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors: the failure may be in them.
    return HttpResponseServerError(loader.get_template("500.html").render())


def _message(exception: Exception | None) -> str:
    """Messages we raise on purpose (Http404("Refund 1042 ...")) are sentences for people;
    Django's resolver passes a dict, which is not."""
    if exception is not None and exception.args and isinstance(exception.args[0], str):
        return exception.args[0]
    return ""
