import logging

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget
from django_htmx.middleware import HtmxDetails

from dualentry_api.errors import DualEntryError
from portal.audit.export import csv_lines
from portal.audit.forms import AuditFilterForm
from portal.audit.selectors import audit_log_verify, events_filtered
from portal.permissions import VIEW_AUDIT_LOG
from portal.records.references import SOURCES, References, references_load

PAGE_SIZE = 50
logger = logging.getLogger(__name__)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _names() -> References:
    """Names for the ids in events (company, customer, account, ...), from the shared cache
    (fetched when cold). Without DualEntry the log still shows every event, with ids."""
    try:
        return references_load(names=list(SOURCES))
    except DualEntryError as err:
        logger.info("audit: names unavailable, showing ids: %s", err.user_message)
        return References({})


@require_GET
@permission_required(VIEW_AUDIT_LOG, raise_exception=True)
@vary_on_headers("HX-Request")
def index(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    page = None
    if form.is_valid():
        events = events_filtered(filters=form.filters()).select_related("actor")
        page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "references": _names() if page else None}
    status = 200 if page is not None else 422
    # A history restore (back button after htmx's cache is gone) needs the whole page.
    if not request.htmx or request.htmx.history_restore_request:
        return render(request, "audit/index.html", context, status=status)
    if page is None:
        # The messages belong next to their fields: replace the form along with the table.
        response = render(request, "audit/index.html#filters-and-table", context, status=status)
        return reswap(retarget(response, "#audit-page"), "outerHTML")
    if request.htmx.target == "audit-page":  # the form showed errors; clear them
        return render(request, "audit/index.html#filters-and-table", context)
    return render(request, "audit/index.html#table", context)


@require_GET
@permission_required(VIEW_AUDIT_LOG, raise_exception=True)
def export(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/index.html", {"form": form, "page": None}, status=422)
    events = events_filtered(filters=form.filters())
    response = StreamingHttpResponse(csv_lines(events), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response


@require_GET
@permission_required(VIEW_AUDIT_LOG, raise_exception=True)
def verify(request: HttpRequest) -> HttpResponse:
    """The same check as `manage.py verify_audit_log`, for auditors without a shell. It reads
    every event, so it is a link people follow, not part of the log page."""
    verification = audit_log_verify()
    context = {
        "verification": verification,
        "checked_at": timezone.now(),
        "checkpoint_path": settings.AUDIT_CHECKPOINT_PATH,
    }
    return render(request, "audit/verify.html", context)
