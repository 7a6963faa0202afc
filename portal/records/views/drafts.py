"""The drafts page: DualEntry drafts of every kind, newest first, with who prepared them."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from portal.permissions import VIEW_RECORDS
from portal.records import selectors
from portal.records.filters import DraftsFilterForm
from portal.records.references import references_load
from portal.records.views.failures import is_partial, upstream_failures


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@vary_on_headers("HX-Request")
@upstream_failures
def drafts(request: HttpRequest) -> HttpResponse:
    references = references_load(names=["companies"])
    form = DraftsFilterForm(request.GET, companies=references.choices("companies"))
    kinds, company_ids = form.selection()
    overview = selectors.drafts_overview(kinds=kinds, company_ids=company_ids)
    context = {
        "form": form,
        "overview": overview,
        "references": references,
    }
    template = "records/drafts.html#table" if is_partial(request) else "records/drafts.html"
    return render(request, template, context)
