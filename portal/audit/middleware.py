"""Gives every request a correlation id, shared by all audit events the request writes."""

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from portal.audit.services import valid_correlation_id

HEADER = "X-Request-ID"


class CorrelationIdMiddleware:
    """Sets `request.correlation_id` (a well-formed incoming X-Request-ID, such as one a proxy
    assigned, or a fresh uuid4) and returns it in the response's X-Request-ID header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "").strip()
        request.correlation_id = incoming if valid_correlation_id(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response.headers.setdefault(HEADER, request.correlation_id)
        return response
