"""Browse: one detail view for every record kind, contract usage and the reference-names refresh
(the lists and their exports are in `lists.py`).

Views are thin: parse the request, call selectors, render. Every DualEntry failure becomes a
page that says what happened and what to do (`upstream_failures`), never a 500.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from dualentry_api.errors import (
    DualEntryError,
    NotFound,
)
from portal.approvals.models import ApprovalRequest
from portal.audit.selectors import events_for_record
from portal.permissions import PREPARE_RECORDS, VIEW_RECORDS
from portal.records import selectors
from portal.records.filters import (
    UsageFilterForm,
    offset_from,
)
from portal.records.kinds import CONTRACTS, RecordKind
from portal.records.references import (
    references_for_kind,
    references_load,
    references_refresh,
)
from portal.records.views.failures import is_partial, upstream_failures

logger = logging.getLogger(__name__)

EXPORT_PAGE_SIZE = 100  # records per upstream call while exporting (DualEntry's maximum)


# --- one record ----------------------------------------------------------------------------


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@upstream_failures
def record_detail(request: HttpRequest, kind: RecordKind, key: int) -> HttpResponse:
    key_text = str(key)
    try:
        record = selectors.record_get(kind=kind, key=key_text)
    except NotFound as err:
        raise Http404(
            f"DualEntry has no {kind.label} {key_text}. It may have been removed, or the "
            f"{'number' if kind.key_field == 'number' else 'id'} is wrong."
        ) from err
    references = references_load(names=references_for_kind(kind, detail=True))
    approval_request = (
        ApprovalRequest.objects.open_for(kind.slug, key_text).select_related("submitted_by").first()
    )
    editability = selectors.draft_editability(kind=kind, key=key_text, record=record)
    context = {
        "kind": kind,
        "key": key_text,
        "record": record,
        "references": references,
        "history": events_for_record(kind=kind.slug, key=key_text),
        "approval_request": approval_request,
        "status": record.get(kind.status_field),
        "can_edit": request.user.has_perm(PREPARE_RECORDS) and editability.editable,
        "sections": selectors.detail_sections(kind=kind, record=record),
        "attachments": selectors.record_attachments(record=record),
        "custom_fields": selectors.custom_field_values(record=record),
    }
    return render(request, "records/detail.html", context)


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
