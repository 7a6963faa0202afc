"""Create and edit pages: one create view and one edit view for every kind, plus contract
proposals and contract usage batches. One template, `records/form.html`.

The save button posts the whole form (htmx swaps the form body; without JavaScript it is a
plain post/redirect/get). Whatever goes wrong, the form comes back with everything the user
typed and a sentence saying what happened: 422 for validation errors (ours or DualEntry's),
409 when the record changed or is locked, 502/503 when DualEntry failed. Non-422 answers carry
`X-Upstream-Error` so static/js/portal.js swaps them in too.

Hidden fields: `form_token` (create: exactly-once, see services), `version` (edit: the record's
version when the form was loaded) and `base` (edit: the signed body the form was loaded with,
for "what changed meanwhile" and a deposit's expected total).

The form page machinery (building, rendering, control posts, failures onto the form) lives
in `portal.records.form_pages`; these views say what each page is and what saving does.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from dualentry_api.errors import DualEntryError, NotFound
from dualentry_api.records import Record
from portal.approvals.models import ApprovalRequest
from portal.audit.diff import change_rows
from portal.audit.selectors import events_for_record
from portal.permissions import PREPARE_RECORDS, VIEW_RECORDS
from portal.records import selectors, views
from portal.records.attachment_selectors import attachment_panel
from portal.records.form_pages import (
    FormPage,
    LoadedRecord,
    build_forms,
    deposit_notice,
    form_references,
    parse_int,
    posted_form_page,
    posted_form_token,
    record_form_flow,
    redirect_to,
    refused_response,
    render_form_page,
    sign_base,
    unsign_base,
    upstream_failure_response,
)
from portal.records.forms import (
    MAX_LINES,
    USAGE_FORMS,
    FormReferences,
    ItemFormSet,
    RecordForm,
    RecordForms,
)
from portal.records.kinds import CONTRACTS, RecordKind, get_kind
from portal.records.models import Proposal
from portal.records.payloads import (
    deposit_line_amounts_known,
    initial_from_payload,
    payload_from_forms,
)
from portal.records.selectors import record_as_payload
from portal.records.services import (
    AlreadySubmitted,
    SaveRefused,
    StaleRecord,
    form_token_new,
    proposal_save,
    record_save_draft,
)

logger = logging.getLogger(__name__)

DRAFT = "draft"


# --- create ------------------------------------------------------------------------------------


def _create_initial(kind: RecordKind, references: FormReferences, query: QueryDict) -> dict:
    initial: dict[str, Any] = {"date": dt.date.today(), "exchange_rate": Decimal(1)}
    if kind.prepared_as_proposal:
        initial = {"start_date": dt.date.today(), "date": dt.date.today()}
    companies = references.companies or []
    company_id = parse_int(query.get("company_id"))
    if company_id is None and len(companies) == 1:
        company_id = companies[0].value
    company = references.company(company_id)
    if company is not None:
        initial["company_id"] = company.value
        initial["currency_iso_4217_code"] = company.currency
    return initial


@require_http_methods(["GET", "POST"])
@permission_required(PREPARE_RECORDS, raise_exception=True)
def record_create(request: HttpRequest, kind: RecordKind) -> HttpResponse:
    if not kind.can_create:
        raise Http404(f"DualEntry does not allow {kind.label_plural} to be created.")
    forms = kind.forms
    references = form_references(forms)
    action_url = reverse("records:create", kwargs={"kind": kind.slug})

    def page_for(form: RecordForm, formset: ItemFormSet, token: str = "") -> FormPage:
        proposal = kind.prepared_as_proposal
        return FormPage(
            kind=kind,
            form=form,
            formset=formset,
            title=f"New {kind.label}" + (" proposal" if proposal else " draft"),
            action_url=action_url,
            cancel_url=reverse("records:list", kwargs={"kind": kind.slug}),
            submit_label="Save proposal" if proposal else "Save draft",
            item_row_url=reverse("records:item_row", kwargs={"kind": kind.slug}),
            form_token=token or posted_form_token(request) or form_token_new(),
            notices=(
                [
                    "DualEntry cannot change a contract once it exists, so a new contract is "
                    "kept in the portal as a proposal until it is approved; approval creates it."
                ]
                if proposal
                else []
            ),
        )

    if request.method == "GET":
        form, formset = build_forms(
            forms, references, initial=_create_initial(kind, references, request.GET)
        )
        return render_form_page(request, page_for(form, formset, form_token_new()))

    page = posted_form_page(request, page_for, forms, references, {})
    if isinstance(page, HttpResponse):
        return page
    payload = payload_from_forms(
        kind=kind, form=page.form, formset=page.formset, record_status=DRAFT
    )
    try:
        if kind.prepared_as_proposal:
            proposal = proposal_save(
                kind=kind,
                action=Proposal.Action.CREATE_CONTRACT,
                payload=payload,
                user=request.user,
                request=request,
                form_token=page.form_token,
            )
            messages.success(request, f"Contract proposal #{proposal.pk} saved.")
            return redirect_to(
                request, reverse("records:proposal_detail", kwargs={"pk": proposal.pk})
            )
        record = record_save_draft(
            kind=kind,
            key=None,
            payload=payload,
            user=request.user,
            request=request,
            form_token=page.form_token,
        )
    except AlreadySubmitted as done:
        messages.info(request, done.message)
        return redirect_to(request, done.result_url)
    except SaveRefused as refusal:
        return refused_response(request, page, refusal)
    except DualEntryError as error:
        return upstream_failure_response(request, page, error, creating=True)
    key = kind.key_of(record)
    messages.success(request, f"Draft {kind.label} {key} saved.")
    return redirect_to(request, reverse("records:detail", kwargs={"kind": kind.slug, "key": key}))


# --- edit a DualEntry draft --------------------------------------------------------------------


def _edit_refusal(kind: RecordKind, key: str, record: Record) -> str:
    status = record.get(kind.status_field)
    if status != DRAFT:
        return (
            f"{kind.label.capitalize()} {key} is {status}: only drafts are edited here. "
            "Propose a change from its page instead."
        )
    if ApprovalRequest.objects.open_for(kind.slug, key).exists():
        return (
            f"{kind.label.capitalize()} {key} is waiting for approval and cannot be edited "
            "until the request is withdrawn or rejected."
        )
    return ""


@require_http_methods(["GET", "POST"])
@permission_required(PREPARE_RECORDS, raise_exception=True)
def record_edit(request: HttpRequest, kind: RecordKind, key: int) -> HttpResponse:
    """A DualEntry draft in its form; saving PUTs it back as a draft."""
    if not kind.can_update:
        raise Http404(
            f"DualEntry does not allow {kind.label_plural} to be changed; prepare a new "
            f"{kind.label} proposal instead."
        )
    key_text = str(key)
    detail_url = reverse("records:detail", kwargs={"kind": kind.slug, "key": key_text})
    action_url = reverse("records:edit", kwargs={"kind": kind.slug, "key": key_text})

    def page_for(form: RecordForm, formset: ItemFormSet, **extra: Any) -> FormPage:
        expected = form.expected_total
        currency = extra.pop("currency", request.POST.get("currency_iso_4217_code", ""))
        return FormPage(
            kind=kind,
            form=form,
            formset=formset,
            title=f"Edit draft {kind.label} {key_text}",
            action_url=action_url,
            cancel_url=detail_url,
            submit_label="Save draft",
            item_row_url=reverse("records:item_row", kwargs={"kind": kind.slug}),
            version=extra.pop("version", request.POST.get("version", "")),
            base=extra.pop("base", request.POST.get("base", "")),
            notices=deposit_notice(kind, expected, currency),
            currency=currency,
            **extra,
        )

    def load() -> LoadedRecord | HttpResponse:
        try:
            record = selectors.record_get(kind=kind, key=key_text)
        except NotFound as error:
            raise Http404(f"DualEntry has no {kind.label} {key_text}.") from error
        except DualEntryError as error:
            return views.upstream_error_response(request, error)
        refusal = _edit_refusal(kind, key_text, record)
        if refusal:
            messages.warning(request, refusal)
            return redirect(detail_url)
        try:
            base_payload = record_as_payload(kind=kind, key=key_text, record=record)
        except DualEntryError as error:
            return views.upstream_error_response(request, error)
        attachments = None
        if kind.can_upload:
            attachments = attachment_panel(
                kind=kind, key=key_text, record=record, user=request.user
            )
        return LoadedRecord(
            record=record,
            payload=base_payload,
            version=selectors.record_version(record),
            attachments=attachments,
        )

    def save(page: FormPage, payload: dict, base_payload: dict | None) -> HttpResponse:
        try:
            record_save_draft(
                kind=kind,
                key=key_text,
                payload=payload,
                user=request.user,
                request=request,
                # A form without its version cannot prove it saw the current record: refused.
                expected_version=request.POST.get("version", ""),
                base_payload=base_payload,
            )
        except StaleRecord as stale:
            return _stale(request, page, stale, kind=kind)
        except SaveRefused as refusal:
            return refused_response(request, page, refusal)
        messages.success(request, f"Draft {kind.label} {key_text} saved.")
        return redirect_to(request, detail_url)

    return record_form_flow(
        request, kind=kind, page_for=page_for, load=load, record_status=DRAFT, save=save
    )


def _stale(
    request: HttpRequest,
    page: FormPage,
    stale: StaleRecord,
    *,
    kind: RecordKind,
) -> HttpResponse:
    """Keep the user's input; show what changed; arm the form to apply it to the new version."""
    current_expected = None
    if not deposit_line_amounts_known(stale.current_payload):
        current_expected = stale.current_total
    page.form.expected_total = current_expected
    page.notices = deposit_notice(kind, current_expected, page.currency)
    page.problem = stale.message
    page.stale_rows = change_rows(stale.changes)
    page.version = stale.version
    page.base = sign_base(stale.current_payload, current_expected)
    return render_form_page(request, page, status=409)


# --- htmx: one more line -----------------------------------------------------------------------


@require_GET
@permission_required(PREPARE_RECORDS, raise_exception=True)
def item_row(request: HttpRequest, kind: RecordKind) -> HttpResponse:
    """A blank line for the formset (htmx), numbered after the current last one."""
    usage_contract = parse_int(request.GET.get("usage_contract"))
    forms = USAGE_FORMS if usage_contract is not None else kind.forms
    contract = None
    if usage_contract is not None:
        try:
            contract = selectors.record_get(kind=CONTRACTS, key=usage_contract)
        except DualEntryError as error:
            return views.upstream_error_response(request, error)
    references = form_references(forms, contract)
    index = parse_int(request.GET.get("items-TOTAL_FORMS")) or 0
    if not 0 <= index < MAX_LINES:
        return HttpResponse(
            f'<tr><td colspan="20" class="field-error">A record can have at most {MAX_LINES} '
            "lines.</td></tr>",
            status=422,
        )
    formset = forms.formset(
        references=references, company_id=parse_int(request.GET.get("company_id"))
    )
    row = formset.form(
        auto_id=formset.auto_id,
        prefix=formset.add_prefix(index),
        empty_permitted=True,
        use_required_attribute=False,
        **formset.get_form_kwargs(index),
    )
    formset.add_fields(row, index)
    context = {"row": row, "index": index, "total_forms": index + 1, "formset": formset}
    return render(request, "records/form.html#new_item_row", context)


# --- contract proposals and usage batches ------------------------------------------------------


def _proposal_forms(proposal: Proposal) -> tuple[RecordKind, RecordForms]:
    kind = get_kind(proposal.kind)
    if proposal.action == Proposal.Action.UPSERT_USAGE:
        return kind, USAGE_FORMS
    return kind, kind.forms


def _proposal_contract(proposal: Proposal) -> Record | None:
    if proposal.action != Proposal.Action.UPSERT_USAGE:
        return None
    return selectors.record_get(kind=CONTRACTS, key=proposal.target_key)


def _proposal_title(proposal: Proposal) -> str:
    if proposal.action == Proposal.Action.UPSERT_USAGE:
        return f"Usage batch proposal #{proposal.pk} for contract {proposal.target_key}"
    if proposal.action == Proposal.Action.CREATE_CONTRACT:
        name = proposal.payload.get("name") or "unnamed"
        return f"Contract proposal #{proposal.pk}: {name}"
    return f"{proposal.get_action_display()} proposal #{proposal.pk}"


def _proposal_editable(proposal: Proposal) -> str:
    """Why a proposal cannot be edited ("" if it can)."""
    if proposal.is_applied:
        return f"Proposal #{proposal.pk} was applied in DualEntry and can no longer be edited."
    if proposal.action == Proposal.Action.ARCHIVE_RECORD:
        return "An archive request has nothing to edit."
    if ApprovalRequest.objects.open_for_proposal(proposal).exists():
        return (
            f"Proposal #{proposal.pk} is waiting for approval and cannot be edited until the "
            "request is withdrawn or rejected."
        )
    return ""


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
def proposal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = get_object_or_404(Proposal, pk=pk)
    kind, forms = _proposal_forms(proposal)
    try:
        references = form_references(forms)
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
    refusal = _proposal_editable(proposal)
    context = {
        "kind": kind,
        "proposal": proposal,
        "title": _proposal_title(proposal),
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


@require_http_methods(["GET", "POST"])
@permission_required(PREPARE_RECORDS, raise_exception=True)
def proposal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = get_object_or_404(Proposal, pk=pk)
    detail_url = reverse("records:proposal_detail", kwargs={"pk": proposal.pk})
    refusal = _proposal_editable(proposal)
    if refusal:
        messages.warning(request, refusal)
        return redirect(detail_url)
    kind, forms = _proposal_forms(proposal)
    try:
        contract = _proposal_contract(proposal)
    except DualEntryError as error:
        return views.upstream_error_response(request, error)
    references = form_references(forms, contract)
    action_url = reverse("records:proposal_edit", kwargs={"pk": proposal.pk})
    item_row_url = reverse("records:item_row", kwargs={"kind": kind.slug})
    if contract is not None:
        item_row_url += f"?usage_contract={proposal.target_key}"

    def page_for(form: RecordForm, formset: ItemFormSet, **extra: Any) -> FormPage:
        return FormPage(
            kind=kind,
            form=form,
            formset=formset,
            title=f"Edit {_proposal_title(proposal)[0].lower()}{_proposal_title(proposal)[1:]}",
            action_url=action_url,
            cancel_url=detail_url,
            submit_label="Save proposal",
            item_row_url=item_row_url,
            version=extra.pop("version", request.POST.get("version", "")),
            base=extra.pop("base", request.POST.get("base", "")),
            **extra,
        )

    if request.method == "GET":
        initial, items_initial = initial_from_payload(kind=kind, payload=proposal.payload)
        form, formset = build_forms(forms, references, initial=initial, items_initial=items_initial)
        page = page_for(
            form,
            formset,
            version=proposal.version,
            base=sign_base(proposal.payload, None),
        )
        return render_form_page(request, page)

    base_payload, _expected = unsign_base(request.POST.get("base", ""))
    initial, items_initial = initial_from_payload(
        kind=kind, payload=base_payload or proposal.payload
    )
    build = {"initial": initial, "items_initial": items_initial}
    page = posted_form_page(request, page_for, forms, references, build)
    if isinstance(page, HttpResponse):
        return page
    record_status = proposal.payload.get("record_status") or DRAFT
    payload = payload_from_forms(
        kind=kind, form=page.form, formset=page.formset, record_status=record_status
    )
    if forms is USAGE_FORMS:
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
            # A form without its version cannot prove it saw the current record: refused.
            expected_version=request.POST.get("version", ""),
            base_payload=base_payload,
        )
    except StaleRecord as stale:
        page.problem = stale.message
        page.stale_rows = change_rows(stale.changes)
        page.version = stale.version
        page.base = sign_base(stale.current_payload, None)
        return render_form_page(request, page, status=409)
    except SaveRefused as refusal_:
        return refused_response(request, page, refusal_)
    messages.success(request, f"Proposal #{proposal.pk} saved.")
    return redirect_to(request, detail_url)


def _usage_page(request, contract_id: int, form, formset, token: str = "") -> FormPage:
    return FormPage(
        kind=CONTRACTS,
        form=form,
        formset=formset,
        title=f"Propose usage for contract {contract_id}",
        action_url=reverse("records:usage_batch", kwargs={"contract_id": contract_id}),
        cancel_url=reverse("records:usage", kwargs={"contract_id": contract_id}),
        submit_label="Save usage proposal",
        item_row_url=(
            reverse("records:item_row", kwargs={"kind": CONTRACTS.slug})
            + f"?usage_contract={contract_id}"
        ),
        form_token=token or posted_form_token(request) or form_token_new(),
        notices=[
            "Saving usage can create invoices and revenue recognition in DualEntry, so a usage "
            "batch is kept in the portal as a proposal until it is approved."
        ],
    )


def _usage_contract(contract_id: int) -> Record:
    try:
        return selectors.record_get(kind=CONTRACTS, key=contract_id)
    except NotFound as error:
        raise Http404(f"DualEntry has no contract {contract_id}.") from error


@require_GET
@permission_required(PREPARE_RECORDS, raise_exception=True)
def usage_batch_new(request: HttpRequest, contract_id: int) -> HttpResponse:
    """The usage batch form (it posts to the contract's usage page)."""
    try:
        contract = _usage_contract(contract_id)
    except DualEntryError as error:
        return views.upstream_error_response(request, error)
    references = form_references(USAGE_FORMS, contract)
    form, formset = build_forms(USAGE_FORMS, references)
    return render_form_page(
        request, _usage_page(request, contract_id, form, formset, form_token_new())
    )


@require_http_methods(["GET", "POST"])
def usage(request: HttpRequest, contract_id: int) -> HttpResponse:
    """/contracts/<id>/usage/: the usage list (browse's page) on GET, a usage batch on POST."""
    if request.method == "GET":
        return views.contract_usage(request, contract_id)
    return usage_batch_save(request, contract_id)


@permission_required(PREPARE_RECORDS, raise_exception=True)
def usage_batch_save(request: HttpRequest, contract_id: int) -> HttpResponse:
    try:
        contract = _usage_contract(contract_id)
    except DualEntryError as error:
        return views.upstream_error_response(request, error)
    references = form_references(USAGE_FORMS, contract)

    def page_for(form: RecordForm, formset: ItemFormSet) -> FormPage:
        return _usage_page(request, contract_id, form, formset)

    page = posted_form_page(request, page_for, USAGE_FORMS, references, {})
    if isinstance(page, HttpResponse):
        return page
    payload = payload_from_forms(
        kind=CONTRACTS, form=page.form, formset=page.formset, record_status=DRAFT
    )
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
    except AlreadySubmitted as done:
        messages.info(request, done.message)
        return redirect_to(request, done.result_url)
    except SaveRefused as refusal:
        return refused_response(request, page, refusal)
    messages.success(request, f"Usage proposal #{proposal.pk} saved.")
    return redirect_to(request, reverse("records:proposal_detail", kwargs={"pk": proposal.pk}))
