"""Browse: one list view and one detail view for every record kind, contract usage, CSV export
and the reference-names refresh.

Views are thin: parse the request, call selectors, render. Every DualEntry failure becomes a
page that says what happened and what to do (`upstream_failures`), never a 500.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from itertools import chain

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from dualentry_api.errors import (
    DualEntryError,
    NotFound,
    RateLimited,
)
from dualentry_api.records import Record
from portal.approvals.models import ApprovalRequest
from portal.audit.selectors import events_for_record
from portal.permissions import PREPARE_RECORDS, VIEW_RECORDS
from portal.readmodel.templatetags.freshness import age_text
from portal.records import selectors
from portal.records.filters import (
    ListFilterForm,
    UsageFilterForm,
    offset_from,
)
from portal.records.kinds import CONTRACTS, Column, RecordKind
from portal.records.references import (
    references_for_kind,
    references_load,
    references_refresh,
)
from portal.records.services import record_refresh
from portal.records.templatetags.records import actor_name, field_value, iso_date
from portal.records.views.failures import (
    is_partial,
    upstream_error_response,
    upstream_failures,
)

logger = logging.getLogger(__name__)

EXPORT_PAGE_SIZE = 100  # records per upstream call while exporting (DualEntry's maximum)


# --- lists ---------------------------------------------------------------------------------


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@vary_on_headers("HX-Request")
@upstream_failures
def record_list(request: HttpRequest, kind: RecordKind) -> HttpResponse:
    references = references_load(names=references_for_kind(kind))
    form = ListFilterForm(request.GET, kind=kind, references=references)
    page = selectors.record_list(
        kind=kind,
        filters=form.api_filters(),
        limit=form.limit,
        offset=offset_from(request.GET),
        ordering=form.ordering,
    )
    context = {
        "kind": kind,
        "form": form,
        "page": page,
        "references": references,
        "can_create": request.user.has_perm(PREPARE_RECORDS) and kind.can_create,
    }
    template = "records/list.html#table" if is_partial(request) else "records/list.html"
    return render(request, template, context)


# --- one record ----------------------------------------------------------------------------


def _copy_age_sentence(copied: selectors.CopiedRecord) -> str:
    return f"Showing the copy from {age_text(copied.age_seconds())} ago"


def _detail_context(
    request: HttpRequest,
    kind: RecordKind,
    key: str,
    copied: selectors.CopiedRecord,
    *,
    refresh_refused: str = "",
) -> dict:
    """What the detail page (or its `record` partial) shows of one record: all of it from
    `copied` and the portal's database; reference names from the read model."""
    record = copied.record
    references = references_load(names=references_for_kind(kind, detail=True))
    approval_request = (
        ApprovalRequest.objects.open_for(kind.slug, key).select_related("submitted_by").first()
    )
    editability = selectors.draft_editability(kind=kind, key=key, record=record)
    refresh_after = float(settings.READMODEL_DETAIL_REFRESH_AFTER)
    return {
        "kind": kind,
        "key": key,
        "record": record,
        "references": references,
        "history": events_for_record(kind=kind.slug, key=key),
        "approval_request": approval_request,
        "status": record.get(kind.status_field),
        "can_edit": request.user.has_perm(PREPARE_RECORDS) and editability.editable,
        "sections": selectors.detail_sections(kind=kind, record=record),
        "attachments": selectors.record_attachments(record=record),
        "custom_fields": selectors.custom_field_values(record=record),
        "as_of": copied.seen_at,
        "refresh_due": not refresh_refused and copied.age_seconds() > refresh_after,
        "refresh_refused": refresh_refused,
        "refresh_url": reverse("records:detail_refresh", kwargs={"kind": kind.slug, "key": key}),
    }


def _not_in_dualentry(kind: RecordKind, key: str) -> Http404:
    return Http404(
        f"DualEntry has no {kind.label} {key}. It may have been removed, or the "
        f"{'number' if kind.key_field == 'number' else 'id'} is wrong."
    )


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@upstream_failures
def record_detail(request: HttpRequest, kind: RecordKind, key: int) -> HttpResponse:
    """One record from the read model at once, "as of" when the portal last saw it; a copy
    older than `READMODEL_DETAIL_REFRESH_AFTER` refreshes itself (`record_detail_refresh`)."""
    key_text = str(key)
    copied = selectors.record_from_copy(kind=kind, key=key_text)
    if copied is None:
        # A contract is known by its number: /contracts/<number>/ leads to its id's page.
        canonical = selectors.key_for_number(kind=kind, number=key_text)
        if canonical is not None:
            return redirect("records:detail", kind=kind.slug, key=canonical)
        # Not in the copy yet (created elsewhere a moment ago): one live read, kept.
        try:
            record = record_refresh(kind=kind, key=key_text)
        except NotFound as err:
            raise _not_in_dualentry(kind, key_text) from err
        copied = selectors.CopiedRecord(record, timezone.now())
    context = _detail_context(request, kind, key_text, copied)
    return render(request, "records/detail.html", context)


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@vary_on_headers("HX-Request")
def record_detail_refresh(request: HttpRequest, kind: RecordKind, key: int) -> HttpResponse:
    """Re-read one record live (interactive lane), keep it in the copy, and answer the detail
    page's `record` partial (htmx) or go back to the page. When DualEntry or the budget
    refuses, the copy is shown with a sentence saying how old it is and why."""
    key_text = str(key)
    detail_url = reverse("records:detail", kwargs={"kind": kind.slug, "key": key_text})
    refused = ""
    try:
        copied = selectors.CopiedRecord(record_refresh(kind=kind, key=key_text), timezone.now())
    except NotFound as err:
        if is_partial(request):
            return HttpResponseClientRedirect(detail_url)  # the page then says it is gone
        raise _not_in_dualentry(kind, key_text) from err
    except DualEntryError as err:
        logger.info("detail refresh of %s %s refused: %r %s", kind.slug, key_text, err, err)
        kept = selectors.record_from_copy(kind=kind, key=key_text)
        if kept is None:
            return upstream_error_response(request, err)
        copied = kept
        reason = (
            "DualEntry is busy, try again in a moment."
            if isinstance(err, RateLimited)
            else err.user_message
        )
        refused = f"{_copy_age_sentence(copied)}; {reason}"
    if not is_partial(request):
        if refused:
            messages.warning(request, refused)
        return redirect(detail_url)
    context = _detail_context(request, kind, key_text, copied, refresh_refused=refused)
    return render(request, "records/detail.html#record", context)


# --- contract usage ------------------------------------------------------------------------


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@vary_on_headers("HX-Request")
@upstream_failures
def contract_usage(request: HttpRequest, contract_id: int) -> HttpResponse:
    kind = CONTRACTS
    try:
        contract = selectors.record_get(kind=kind, key=contract_id)
    except NotFound as err:
        raise Http404(f"DualEntry has no contract {contract_id}.") from err
    references = references_load(names=["items"])
    obligations = selectors.obligation_labels(contract=contract, references=references)
    form = UsageFilterForm(request.GET, obligations=obligations)
    page = selectors.usage_page(
        contract=contract,
        filters=form.usage_filters(),
        limit=form.limit,
        offset=offset_from(request.GET),
        obligations=obligations,
    )
    context = {
        "kind": kind,
        "key": str(contract_id),
        "contract": contract,
        "form": form,
        "page": page,
        "references": references,
        # A usage batch is prepared like a draft (and kept as a proposal until approved).
        "can_propose_usage": request.user.has_perm(PREPARE_RECORDS),
    }
    template = "records/usage.html#table" if is_partial(request) else "records/usage.html"
    return render(request, template, context)


# --- CSV export ----------------------------------------------------------------------------


def _key_column_needed(kind: RecordKind) -> bool:
    return all(column.field != kind.key_field for column in kind.list_columns)


def _csv_headers(kind: RecordKind) -> list[str]:
    headers = [kind.key_field.capitalize()] if _key_column_needed(kind) else []
    for column in kind.list_columns:
        if column.kind == "user":
            headers += [f"{column.label} by", f"{column.label} at"]
        else:
            headers.append(column.label)
        if column.kind == "amount":
            headers.append(f"{column.label} currency")
    return headers


def _spreadsheet_safe(text: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet programs (CSV injection).
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_value(record: Record, column: Column) -> list[str]:
    value = field_value(record, column.field)
    if column.kind == "user":
        stamp = value.get("timestamp") if value else None
        when = stamp.isoformat() if isinstance(stamp, dt.datetime) else str(stamp or "")
        return [_spreadsheet_safe(actor_name(value)), when]
    if column.kind == "amount":
        return ["" if value is None else str(value), record.get("currency_iso_4217_code") or ""]
    if column.kind in ("date", "datetime"):
        return ["" if value is None else iso_date(value)]
    return [_spreadsheet_safe("" if value is None else str(value))]


class _Echo:
    """A file-like object whose write() hands the line back (csv.writer into a generator)."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(kind: RecordKind, pages: Iterable[list[Record]], *, path: str) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # BOM: spreadsheet programs then read the file as UTF-8
    yield writer.writerow(_csv_headers(kind))
    written = 0
    key_column = _key_column_needed(kind)
    try:
        for records in pages:
            for record in records:
                row = [kind.key_of(record)] if key_column else []
                for column in kind.list_columns:
                    row += _csv_value(record, column)
                yield writer.writerow(row)
                written += 1
    except DualEntryError as err:
        # The response has started: the only honest signal left is a last line saying so.
        logger.warning("GET %s: export stopped after %d rows: %r %s", path, written, err, err)
        yield writer.writerow([f"Export incomplete after {written} rows: {err.user_message}"])


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@upstream_failures
def record_export(request: HttpRequest, kind: RecordKind) -> HttpResponse:
    references = references_load(names=references_for_kind(kind))
    form = ListFilterForm(request.GET, kind=kind, references=references)
    pages = selectors.record_pages(
        kind=kind, filters=form.api_filters(), ordering=form.ordering, page_size=EXPORT_PAGE_SIZE
    )
    # The first page is fetched before the response starts, so a DualEntry failure still gets
    # a proper error page; later pages are fetched as the download is consumed.
    first = next(pages, [])
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(
        _csv_lines(kind, chain([first], pages), path=request.path),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{kind.slug}-{stamp}.csv"'
    return response


# --- reference names -----------------------------------------------------------------------


@require_POST
@permission_required(VIEW_RECORDS, raise_exception=True)
def refresh_references(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    try:
        references_refresh()
    except DualEntryError as err:
        logger.warning("reference refresh failed: %r %s", err, err)
        messages.warning(request, f"The names could not be reloaded. {err.user_message}")
    else:
        messages.success(
            request, "Names of companies, customers, accounts, items and vendors reloaded."
        )
    target = target or "dashboard"
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(target if target != "dashboard" else "/")
    return redirect(target)
