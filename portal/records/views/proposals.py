"""Proposals kept in the portal until approved: a contract proposal's page and edit form, and
contract usage batches (the usage batch form posts to the contract's usage page).

The views read top to bottom like the draft pages (`views.edit`): bind the posted forms,
build the body, call one service, turn its exceptions into the page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from dualentry_api.errors import DualEntryError, NotFound
from dualentry_api.records import Record
from portal.approvals.models import ApprovalRequest
from portal.audit.selectors import events_for_record
from portal.permissions import PREPARE_RECORDS, VIEW_RECORDS
from portal.records import selectors
from portal.records.forms import (
    FormReferences,
    ItemFormSet,
    RecordForm,
    RecordForms,
)
from portal.records.kinds import CONTRACTS, RecordKind, get_kind
from portal.records.models import Proposal
from portal.records.payloads import initial_from_payload
from portal.records.selectors import proposal_editability
from portal.records.services import (
    SaveRefused,
    StaleRecord,
    form_token_new,
    proposal_save,
)
from portal.records.views import form_page
from portal.records.views.browse import contract_usage
from portal.records.views.failures import upstream_error_response, upstream_failures

DRAFT = "draft"


def _proposal_forms(proposal: Proposal) -> tuple[RecordKind, RecordForms]:
    kind = get_kind(proposal.kind)
    if proposal.action == Proposal.Action.UPSERT_USAGE:
        return kind, kind.usage_forms
    return kind, kind.forms


def _proposal_contract(proposal: Proposal) -> Record | None:
    if proposal.action != Proposal.Action.UPSERT_USAGE:
        return None
    return selectors.record_get(kind=CONTRACTS, key=proposal.target_key)


def _proposal_title(proposal: Proposal) -> str:
    if proposal.action == Proposal.Action.UPSERT_USAGE:
        number = selectors.record_number(kind=CONTRACTS, key=proposal.target_key)
        return f"Usage batch proposal #{proposal.pk} for contract {number}"
    if proposal.action == Proposal.Action.CREATE_CONTRACT:
        name = proposal.payload.get("name") or "unnamed"
        return f"Contract proposal #{proposal.pk}: {name}"
    return f"{proposal.get_action_display()} proposal #{proposal.pk}"


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
def proposal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = get_object_or_404(Proposal, pk=pk)
    kind, forms = _proposal_forms(proposal)
    try:
        references = form_page.form_references(forms)
    except DualEntryError:
        references = FormReferences()
    form = forms.header(references=references, initial={})
    item_form_class = forms.line
    initial, items_initial = initial_from_payload(kind=kind, payload=proposal.payload)
    header = _display_rows(form, initial)
    line_form = item_form_class(references=references, company_id=proposal.company_id)
    columns = [bound.label for bound in line_form.visible_fields()]
    lines = [
        [
            _display(line_form.fields[bound.name], line.get(bound.name))
            for bound in line_form.visible_fields()
        ]
        for line in items_initial
    ]
    approval_request = ApprovalRequest.objects.open_for_proposal(proposal).first()
    refusal = proposal_editability(proposal)
    context = {
        "kind": kind,
        "proposal": proposal,
        "title": _proposal_title(proposal),
        "target_number": (
            selectors.record_number(kind=kind, key=proposal.target_key)
            if proposal.target_key
            else ""
        ),
        "header": header,
        "columns": columns,
        "lines": lines,
        "approval_request": approval_request,
        "can_edit": request.user.has_perm(PREPARE_RECORDS) and not refusal,
        "can_submit": request.user.has_perm(PREPARE_RECORDS) and not refusal,
        "key": proposal.audit_key,  # for the history section's audit-log link
        "history": events_for_record(kind=kind.slug, key=proposal.audit_key),
    }
    return render(request, "records/proposal_detail.html", context)


def _display(field_obj: Any, value: Any) -> str:
    if value in (None, ""):
        return ""
    choices = getattr(field_obj, "choices", None)
    if choices:
        for choice_value, label in choices:
            if str(choice_value) == str(value):
                return str(label)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def _display_rows(form: RecordForm, initial: dict) -> list[tuple[str, str]]:
    rows = []
    for _title, bound_fields in form.sections():
        for bound in bound_fields:
            shown = _display(bound.field, initial.get(bound.name))
            if shown:
                rows.append((bound.label, shown))
    return rows


def _proposal_page(
    proposal: Proposal,
    kind: RecordKind,
    form: RecordForm,
    formset: ItemFormSet,
    *,
    version: str,
    base: str,
    currency: str = "",
) -> form_page.FormPage:
    title = _proposal_title(proposal)
    item_row_url = reverse("records:item_row", kwargs={"kind": kind.slug})
    if proposal.action == Proposal.Action.UPSERT_USAGE:
        item_row_url += f"?usage_contract={proposal.target_key}"
    return form_page.FormPage(
        kind=kind,
        form=form,
        formset=formset,
        title=f"Edit {title[0].lower()}{title[1:]}",
        action_url=reverse("records:proposal_edit", kwargs={"pk": proposal.pk}),
        cancel_url=reverse("records:proposal_detail", kwargs={"pk": proposal.pk}),
        submit_label="Save proposal",
        item_row_url=item_row_url,
        version=version,
        base=base,
        currency=currency,
    )


@require_http_methods(["GET", "POST"])
@permission_required(PREPARE_RECORDS, raise_exception=True)
def proposal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = get_object_or_404(Proposal, pk=pk)
    detail_url = reverse("records:proposal_detail", kwargs={"pk": proposal.pk})
    refusal = proposal_editability(proposal)
    if refusal:
        messages.warning(request, refusal)
        return redirect(detail_url)
    kind, forms = _proposal_forms(proposal)
    try:
        contract = _proposal_contract(proposal)
    except DualEntryError as error:
        return upstream_error_response(request, error)
    references = form_page.form_references(forms, contract)

    if request.method == "GET":
        form, formset = form_page.loaded_forms(
            forms, references, kind=kind, payload=proposal.payload
        )
        page = _proposal_page(
            proposal,
            kind,
            form,
            formset,
            version=proposal.version,
            base=form_page.sign_base(proposal.payload, None),
        )
        return form_page.render_form_page(request, page)

    base_payload, _expected = form_page.unsign_base(request.POST.get("base", ""))
    form, formset, control = form_page.posted_forms(
        request, forms, references, kind=kind, start=base_payload or proposal.payload
    )
    page = _proposal_page(proposal, kind, form, formset, **form_page.posted_state(request))
    record_status = proposal.payload.get("record_status") or DRAFT
    payload = form_page.valid_body(request, page, control, record_status=record_status)
    if isinstance(payload, HttpResponse):
        return payload
    if proposal.action == Proposal.Action.UPSERT_USAGE:
        payload = {"items": payload["items"]}
    try:
        proposal_save(
            kind=kind,
            action=proposal.action,
            payload=payload,
            user=request.user,
            proposal=proposal,
            target_key=proposal.target_key,
            request=request,
            **form_page.seen(request, base_payload),
        )
    except StaleRecord as stale:
        return form_page.stale_response(request, page, stale, expected_total=None)
    except SaveRefused as refusal_:
        return form_page.refused_response(request, page, refusal_)
    messages.success(request, f"Proposal #{proposal.pk} saved.")
    return form_page.redirect_to(request, detail_url)


def _usage_page(request, contract_id: int, form, formset, token: str = "") -> form_page.FormPage:
    number = selectors.record_number(kind=CONTRACTS, key=contract_id)
    return form_page.FormPage(
        kind=CONTRACTS,
        form=form,
        formset=formset,
        title=f"Propose usage for contract {number}",
        action_url=reverse("records:usage_batch", kwargs={"contract_id": contract_id}),
        cancel_url=reverse("records:usage", kwargs={"contract_id": contract_id}),
        submit_label="Save usage proposal",
        item_row_url=(
            reverse("records:item_row", kwargs={"kind": CONTRACTS.slug})
            + f"?usage_contract={contract_id}"
        ),
        form_token=token or form_page.posted_form_token(request) or form_token_new(),
        notices=[
            "Saving usage can create invoices and revenue recognition in DualEntry, so a usage "
            "batch is kept in the portal as a proposal until it is approved."
        ],
    )


def _usage_references(contract_id: int) -> FormReferences:
    """The usage form's choices: the contract's own items and customer (a 404 if DualEntry has
    no such contract)."""
    try:
        contract = selectors.record_get(kind=CONTRACTS, key=contract_id)
    except NotFound as error:
        raise Http404(f"DualEntry has no contract {contract_id}.") from error
    return form_page.form_references(CONTRACTS.usage_forms, contract)


@require_GET
@permission_required(PREPARE_RECORDS, raise_exception=True)
@upstream_failures
def usage_batch_new(request: HttpRequest, contract_id: int) -> HttpResponse:
    """The usage batch form (it posts to the contract's usage page)."""
    references = _usage_references(contract_id)
    form, formset = form_page.build_forms(CONTRACTS.usage_forms, references)
    return form_page.render_form_page(
        request, _usage_page(request, contract_id, form, formset, form_token_new())
    )


@require_http_methods(["GET", "POST"])
def usage(request: HttpRequest, contract_id: int) -> HttpResponse:
    """/contracts/<id>/usage/: the usage list (browse's page) on GET, a usage batch on POST."""
    if request.method == "GET":
        return contract_usage(request, contract_id)
    return usage_batch_save(request, contract_id)


@permission_required(PREPARE_RECORDS, raise_exception=True)
@upstream_failures
def usage_batch_save(request: HttpRequest, contract_id: int) -> HttpResponse:
    references = _usage_references(contract_id)
    form, formset, control = form_page.posted_forms(request, CONTRACTS.usage_forms, references)
    page = _usage_page(request, contract_id, form, formset)
    payload = form_page.valid_body(request, page, control, record_status=DRAFT)
    if isinstance(payload, HttpResponse):
        return payload
    try:
        proposal = proposal_save(
            kind=CONTRACTS,
            action=Proposal.Action.UPSERT_USAGE,
            payload={"items": payload["items"]},
            user=request.user,
            target_key=str(contract_id),
            request=request,
            form_token=page.form_token,
        )
    except SaveRefused as refusal:
        return form_page.refused_response(request, page, refusal)
    messages.success(request, f"Usage proposal #{proposal.pk} saved.")
    return form_page.redirect_to(
        request, reverse("records:proposal_detail", kwargs={"pk": proposal.pk})
    )
