"""Create and edit pages of DualEntry drafts: one create view and one edit view for every kind,
plus the htmx "one more line" row. One template, `records/form.html`.

Each view reads top to bottom: bind the posted forms, build the body, call one service, turn
its exceptions into the page. The save button posts the whole form (htmx swaps the form body;
without JavaScript it is a plain post/redirect/get). Whatever goes wrong, the form comes back
with everything the user typed and a sentence saying what happened: 422 for validation errors
(ours or DualEntry's), 409 when the record changed or is locked, 502/503 when DualEntry failed.

Hidden fields: `form_token` (create: exactly-once, see services), `version` (edit: the record's
version when the form was loaded) and `base` (edit: the signed body the form was loaded with,
for "what changed meanwhile" and a deposit's expected total).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from dualentry_api.errors import DualEntryError, NotFound
from dualentry_api.ratelimit import Lane
from portal.permissions import PREPARE_RECORDS
from portal.records import selectors
from portal.records.attachment_selectors import attachment_panel
from portal.records.forms import (
    MAX_LINES,
    FormReferences,
    ItemFormSet,
    RecordForm,
    parse_int,
)
from portal.records.kinds import CONTRACTS, RecordKind
from portal.records.models import Proposal
from portal.records.payloads import deposit_line_amounts_known
from portal.records.services import (
    SaveRefused,
    StaleRecord,
    form_token_new,
    proposal_save,
    record_refresh,
    record_save_draft,
)
from portal.records.views import form_page
from portal.records.views.failures import upstream_error_response

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


def _create_page(
    kind: RecordKind, form: RecordForm, formset: ItemFormSet, token: str
) -> form_page.FormPage:
    proposal = kind.prepared_as_proposal
    return form_page.FormPage(
        kind=kind,
        form=form,
        formset=formset,
        title=f"New {kind.label}" + (" proposal" if proposal else " draft"),
        action_url=reverse("records:create", kwargs={"kind": kind.slug}),
        cancel_url=reverse("records:list", kwargs={"kind": kind.slug}),
        submit_label="Save proposal" if proposal else "Save draft",
        item_row_url=reverse("records:item_row", kwargs={"kind": kind.slug}),
        form_token=token,
        notices=(
            [
                "DualEntry cannot change a contract once it exists, so a new contract is "
                "kept in the portal as a proposal until it is approved; approval creates it."
            ]
            if proposal
            else []
        ),
    )


@require_http_methods(["GET", "POST"])
@permission_required(PREPARE_RECORDS, raise_exception=True)
def record_create(request: HttpRequest, kind: RecordKind) -> HttpResponse:
    if not kind.can_create:
        raise Http404(f"DualEntry does not allow {kind.label_plural} to be created.")
    references = form_page.form_references(kind.forms)
    if request.method == "GET":
        initial = _create_initial(kind, references, request.GET)
        form, formset = form_page.build_forms(kind.forms, references, initial=initial)
        page = _create_page(kind, form, formset, form_token_new())
        return form_page.render_form_page(request, page)

    form, formset, control = form_page.posted_forms(request, kind.forms, references)
    page = _create_page(
        kind, form, formset, form_page.posted_form_token(request) or form_token_new()
    )
    with form_page.sources_locked(request, page, control):
        payload = form_page.valid_body(request, page, control, record_status=DRAFT)
        if isinstance(payload, HttpResponse):
            return payload
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
            else:
                record = record_save_draft(
                    kind=kind,
                    key=None,
                    payload=payload,
                    user=request.user,
                    request=request,
                    form_token=page.form_token,
                )
        except SaveRefused as refusal:
            return form_page.refused_response(request, page, refusal)
        except DualEntryError as error:
            return form_page.upstream_failure_response(request, page, error, creating=True)
    if kind.prepared_as_proposal:
        messages.success(request, f"Contract proposal #{proposal.pk} saved.")
        return form_page.redirect_to(
            request, reverse("records:proposal_detail", kwargs={"pk": proposal.pk})
        )
    key = kind.key_of(record)
    messages.success(request, f"Draft {kind.label} {key} saved.")
    return form_page.redirect_to(
        request, reverse("records:detail", kwargs={"kind": kind.slug, "key": key})
    )


# --- edit a DualEntry draft --------------------------------------------------------------------


EDIT_DRAFT = form_page.RecordPageText(
    title="Edit draft {label} {key}", url_name="records:edit", submit_label="Save draft"
)


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

    if request.method == "GET":
        try:
            # Live, in the write lane: the form must start from what DualEntry holds now.
            record = record_refresh(kind=kind, key=key_text, lane=Lane.WRITE)
            editability = selectors.draft_editability(kind=kind, key=key_text, record=record)
            if not editability.editable:
                messages.warning(request, editability.refusal)
                return redirect(detail_url)
            payload = selectors.record_as_payload(kind=kind, key=key_text, record=record)
        except NotFound as error:
            raise Http404(f"DualEntry has no {kind.label} {key_text}.") from error
        except DualEntryError as error:
            return upstream_error_response(request, error)
        form, formset, expected = form_page.record_forms(kind, record, payload)
        state = form_page.loaded_state(
            record, payload, expected, version=selectors.record_version(record)
        )
        page = form_page.record_page(EDIT_DRAFT, kind, key_text, (form, formset), state)
        if kind.can_upload:
            page.attachments = attachment_panel(
                kind=kind, key=key_text, record=record, user=request.user
            )
        return form_page.render_form_page(request, page)

    form, formset, control, base_payload = form_page.posted_record_forms(request, kind)
    state = form_page.posted_state(request)
    page = form_page.record_page(EDIT_DRAFT, kind, key_text, (form, formset), state)
    with form_page.sources_locked(request, page, control):
        payload = form_page.valid_body(request, page, control, record_status=DRAFT)
        if isinstance(payload, HttpResponse):
            return payload
        try:
            record_save_draft(
                kind=kind,
                key=key_text,
                payload=payload,
                user=request.user,
                request=request,
                **form_page.seen(request, base_payload),
            )
        except StaleRecord as stale:
            # Arm the form for the current version; a deposit's lines must add up to its total.
            known = deposit_line_amounts_known(stale.current_payload)
            current_expected = None if known else stale.current_total
            form.expected_total = current_expected
            page.notices = form_page.deposit_notice(kind, current_expected, page.currency)
            return form_page.stale_response(request, page, stale, expected_total=current_expected)
        except SaveRefused as refusal:
            return form_page.refused_response(request, page, refusal)
        except DualEntryError as error:
            return form_page.upstream_failure_response(request, page, error, creating=False)
    messages.success(request, f"Draft {kind.label} {key_text} saved.")
    return form_page.redirect_to(request, detail_url)


# --- htmx: one more line -----------------------------------------------------------------------


@require_GET
@permission_required(PREPARE_RECORDS, raise_exception=True)
def item_row(request: HttpRequest, kind: RecordKind) -> HttpResponse:
    """A blank line for the formset (htmx), numbered after the current last one."""
    usage_contract = parse_int(request.GET.get("usage_contract"))
    contract = None
    forms = kind.forms
    if usage_contract is not None:
        try:
            contract = selectors.record_get(kind=CONTRACTS, key=usage_contract)
        except DualEntryError as error:
            return upstream_error_response(request, error)
        forms = CONTRACTS.usage_forms
    references = form_page.form_references(forms, contract)
    index = parse_int(request.GET.get("items-TOTAL_FORMS")) or 0
    if not 0 <= index < MAX_LINES:
        return HttpResponse(
            f'<tr><td colspan="20" class="field-error">A record can have at most {MAX_LINES} '
            "lines.</td></tr>",
            status=422,
        )
    formset = forms.formset(
        form_kwargs={
            "references": references,
            "company_id": parse_int(request.GET.get("company_id")),
            "customer_id": parse_int(request.GET.get("customer_id")),
        }
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
