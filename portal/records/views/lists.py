"""Lists answered from the read model: every kind's list, the drafts queue, CSV/XLSX exports.

Views are thin: bind the query form (`portal.records.listing.ListQueryForm`), ask the listing
selectors, render. Database reads only: a list, a search, a total or an export never calls
DualEntry. A value that is not valid is left out and explained next to its field.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import xlsxwriter
from django.contrib.auth.decorators import permission_required
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dualentry_api.records import as_date
from portal.permissions import PREPARE_RECORDS, VIEW_RECORDS
from portal.readmodel.models import MirroredRecord
from portal.readmodel.selectors import oldest_freshness
from portal.records.filters import offset_from
from portal.records.kinds import KINDS, Column, RecordKind
from portal.records.listing import (
    ListQueryForm,
    display_record,
    listing_page,
    listing_queryset,
    sortable_headers,
)
from portal.records.references import references_copied
from portal.records.selectors import portal_authors
from portal.records.templatetags.records import actor_name, field_value, iso_date
from portal.records.views.failures import is_partial

NAME_LISTS = ("companies", "customers")  # the names the filters' pickers offer
EXPORT_CHUNK = 500  # rows read from the database at a time while exporting
DRAFT_COLUMNS = (
    Column("number", "Number"),
    Column("date", "Posting date", "date"),
    Column("customer_name", "Customer"),
    Column("company_name", "Company"),
    Column("amount", "Amount", "amount"),
    Column("memo", "Memo", "excerpt"),
    Column("updated_by", "Last updated", "user"),
)


def _list_context(
    request: HttpRequest, form: ListQueryForm, columns, *, export: str, kwargs: dict
) -> dict[str, Any]:
    page = listing_page(form, offset=offset_from(request.GET))
    return {
        "export_url": reverse(f"records:{export}", kwargs=kwargs),
        "export_xlsx_url": reverse(f"records:{export}_xlsx", kwargs=kwargs),
        "form": form,
        "page": page,
        "headers": sortable_headers(form, columns),
        "freshness": oldest_freshness(kinds=[kind.slug for kind in form.kinds]),
        # The footer's "Names as of ... · Refresh names" (full pages only; from the copy).
        "references": None if is_partial(request) else references_copied(names=NAME_LISTS),
    }


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@vary_on_headers("HX-Request")
def record_list(request: HttpRequest, kind: RecordKind) -> HttpResponse:
    form = ListQueryForm(request.GET, kinds=[kind], user=request.user)
    context = {
        "kind": kind,
        **_list_context(
            request, form, kind.list_columns, export="export", kwargs={"kind": kind.slug}
        ),
        "can_create": request.user.has_perm(PREPARE_RECORDS) and kind.can_create,
    }
    template = "records/list.html#table" if is_partial(request) else "records/list.html"
    return render(request, template, context)


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@vary_on_headers("HX-Request")
def drafts(request: HttpRequest) -> HttpResponse:
    form = ListQueryForm(request.GET, kinds=list(KINDS.values()), user=request.user, drafts=True)
    context = _list_context(request, form, DRAFT_COLUMNS, export="drafts_export", kwargs={})
    page = context["page"]
    # Who saved each draft through the portal (DualEntry names only the portal's API user).
    authors = portal_authors(pairs=[(row.kind, row.key) for row in page.rows])
    context["columns"] = DRAFT_COLUMNS
    context["draft_rows"] = [
        (row, record, authors.get((row.kind, row.key), "")) for row, record in page.pairs
    ]
    template = "records/drafts.html#table" if is_partial(request) else "records/drafts.html"
    return render(request, template, context)


# --- global search ---------------------------------------------------------------------------

GLOBAL_SEARCH_PER_KIND = 5


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@vary_on_headers("HX-Request")
def global_search(request: HttpRequest) -> HttpResponse:
    """The header's search across every kind: the first matches of each, grouped by kind, and
    a link to each kind's list with the same search (which has them all)."""
    query = QueryDict(mutable=True)
    query["q"] = request.GET.get("q", "")
    query["limit"] = "25"
    groups = []
    error = ""
    for kind in KINDS.values():
        form = ListQueryForm(query, kinds=[kind], user=request.user)
        if "q" in form.errors:
            error = " ".join(form.errors["q"])
            break
        if not form.values.get("q"):
            break
        queryset = listing_queryset(form)
        rows = list(queryset[:GLOBAL_SEARCH_PER_KIND])
        count = len(rows) if len(rows) < GLOBAL_SEARCH_PER_KIND else queryset.count()
        list_url = reverse("records:list", kwargs={"kind": kind.slug})
        groups.append(
            {
                "kind": kind,
                "rows": rows,
                "count": count,
                "url": f"{list_url}?{urlencode({'q': form.values['q']})}",
            }
        )
    context = {"q": query["q"][:200], "groups": groups, "error": error}
    template = "records/search.html#results" if is_partial(request) else "records/search.html"
    return render(request, template, context)


# --- exports ---------------------------------------------------------------------------------


def spreadsheet_safe(text: str) -> str:
    """A cell starting with = + - @ (or a tab or return) is a formula to spreadsheet programs:
    a leading quote keeps it text (CSV/formula injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _key_column_needed(columns, *, with_kind: bool, key_field: str) -> bool:
    # Contracts are keyed by id but list their number: the file names the key too, and so
    # does a file mixing kinds.
    return with_kind or all(column.field != key_field for column in columns)


def export_headers(columns, *, with_kind: bool, key_field: str) -> list[str]:
    headers = ["Kind"] if with_kind else []
    if _key_column_needed(columns, with_kind=with_kind, key_field=key_field):
        headers.append("Key" if with_kind else key_field.capitalize())
    for column in columns:
        if column.kind == "user":
            headers += [f"{column.label} by", f"{column.label} at"]
        else:
            headers.append(column.label)
        if column.kind == "amount":
            headers.append(f"{column.label} currency")
    return headers


def export_values(
    row: MirroredRecord, record: dict, columns, *, with_kind: bool, key_field: str
) -> list[Any]:
    """One row as typed values: Decimal amounts, dates and datetimes, text (not yet made safe)."""
    values: list[Any] = [KINDS[row.kind].label] if with_kind else []
    if _key_column_needed(columns, with_kind=with_kind, key_field=key_field):
        values.append(row.key)
    for column in columns:
        value = field_value(record, column.field)
        if column.kind == "user":
            stamp = value.get("timestamp") if isinstance(value, dict) else None
            values += [actor_name(value), stamp if isinstance(stamp, dt.datetime) else None]
        elif column.kind == "amount":
            values += [None if value in (None, "") else Decimal(str(value)), row.currency]
        elif column.kind in ("date", "datetime"):
            values.append(as_date(value))
        else:
            values.append("" if value is None else str(value))
    return values


def _rows(form: ListQueryForm, columns, *, key_field: str) -> Iterator[list[Any]]:
    with_kind = form.drafts
    for row in listing_queryset(form).iterator(chunk_size=EXPORT_CHUNK):
        yield export_values(
            row, display_record(row), columns, with_kind=with_kind, key_field=key_field
        )


class _Echo:
    """A file-like object whose write() hands the line back (csv.writer into a generator)."""

    def write(self, value: str) -> str:
        return value


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else str(value)
    if isinstance(value, dt.date):
        return iso_date(value)
    if isinstance(value, Decimal):
        return str(value)
    return spreadsheet_safe(str(value))


def _csv_lines(headers: list[str], rows: Iterator[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # BOM: spreadsheet programs then read the file as UTF-8
    yield writer.writerow(headers)
    for values in rows:
        yield writer.writerow([_csv_text(value) for value in values])


def _xlsx_file(headers: list[str], rows: Iterator[list[Any]], *, title: str):
    """The rows as a real spreadsheet in a temporary file (typed numbers and dates).

    XlsxWriter's `constant_memory` mode writes each row out as soon as the next one starts, so
    memory stays flat whatever the row count; the finished file is streamed from disk.
    """
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    workbook = xlsxwriter.Workbook(
        handle,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "remove_timezone": True,
        },
    )
    sheet = workbook.add_worksheet(title[:31])
    bold = workbook.add_format({"bold": True})
    money = workbook.add_format({"num_format": "#,##0.00##"})
    date = workbook.add_format({"num_format": "yyyy-mm-dd"})
    stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_row(0, 0, headers, bold)
    sheet.freeze_panes(1, 0)
    for index, values in enumerate(rows, start=1):
        for column, value in enumerate(values):
            if value is None or value == "":
                continue
            if isinstance(value, Decimal):
                sheet.write_number(index, column, float(value), money)
            elif isinstance(value, dt.datetime):
                shown = timezone.localtime(value) if timezone.is_aware(value) else value
                sheet.write_datetime(index, column, shown.replace(tzinfo=None), stamp)
            elif isinstance(value, dt.date):
                sheet.write_datetime(index, column, value, date)
            else:
                sheet.write_string(index, column, spreadsheet_safe(str(value)))
    workbook.close()
    handle.seek(0)
    return handle


def _export(form: ListQueryForm, columns, *, file_format: str, title: str) -> HttpResponse:
    key_field = form.kinds[0].key_field if len(form.kinds) == 1 else "number"
    headers = export_headers(columns, with_kind=form.drafts, key_field=key_field)
    rows = _rows(form, columns, key_field=key_field)
    name = form.file_stem()
    if file_format == "xlsx":
        return FileResponse(
            _xlsx_file(headers, rows, title=title),
            as_attachment=True,
            filename=f"{name}.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response = StreamingHttpResponse(
        _csv_lines(headers, rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
def record_export(request: HttpRequest, kind: RecordKind, file_format: str = "csv") -> HttpResponse:
    """Exactly the rows the list shows for this URL (every page, the same sort)."""
    form = ListQueryForm(request.GET, kinds=[kind], user=request.user)
    return _export(
        form, kind.list_columns, file_format=file_format, title=kind.label_plural.capitalize()
    )


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
def drafts_export(request: HttpRequest, file_format: str = "csv") -> HttpResponse:
    form = ListQueryForm(request.GET, kinds=list(KINDS.values()), user=request.user, drafts=True)
    return _export(form, DRAFT_COLUMNS, file_format=file_format, title="Drafts")
