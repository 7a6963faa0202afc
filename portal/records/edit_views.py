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
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from dualentry_api.errors import (
    ConnectionFailed,
    DualEntryError,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from dualentry_api.records import Record, to_jsonable
from portal.approvals.selectors import is_locked, open_request_for_proposal
from portal.audit.diff import ChangeRow, change_rows
from portal.audit.selectors import events_for_record
from portal.records import selectors, views
from portal.records.forms import (
    MAX_LINES,
    FormReferences,
    ItemFormSet,
    RecordForm,
    ReferenceField,
    UsageBatchForm,
    UsageItemFormSet,
    bound_errors_hidden,
    format_money,
    validate_record_forms,
)
from portal.records.kinds import CONTRACTS, RecordKind, get_kind
from portal.records.models import Proposal
from portal.records.payloads import (
    deposit_line_amounts_known,
    initial_from_payload,
    payload_from_forms,
)
from portal.records.services import (
    AlreadySubmitted,
    SaveRefused,
    StaleRecord,
    form_token_new,
    proposal_audit_key,
    proposal_save,
    proposal_version,
    record_as_payload,
    record_save_draft,
)

logger = logging.getLogger(__name__)

PREPARE = "portal.prepare_records"
VIEW = "portal.view_records"
BASE_SALT = "portal.records.edit.base"
DRAFT = "draft"


# --- what the template gets --------------------------------------------------------------------


@dataclass
class FormPage:
    kind: RecordKind
    form: RecordForm
    formset: ItemFormSet
    title: str
    action_url: str
    cancel_url: str
    submit_label: str
    item_row_url: str
    form_token: str = ""
    version: str = ""
    base: str = ""
    problem: str = ""  # what went wrong, as a sentence (top of the form)
    problem_details: list[str] = field(default_factory=list)
    request_id: str = ""
    notices: list[str] = field(default_factory=list)
    stale_rows: list[ChangeRow] = field(default_factory=list)
    currency: str = ""

    @property
    def currency_code(self) -> str:
        if self.currency:
            return self.currency
        if "currency_iso_4217_code" in self.form.fields:
            return str(self.form["currency_iso_4217_code"].value() or "")
        return ""

    @property
    def running_total(self) -> str:
        return format_money(self.formset.running_total())

    @property
    def expected_total(self) -> str:
        expected = self.form.expected_total
        return format_money(expected) if expected is not None else ""

    @property
    def columns(self) -> list[Any]:
        """The line table's column headers (visible fields of a line)."""
        return [bound for bound in self.formset.empty_form.visible_fields()]


@dataclass(frozen=True)
class FormKind:
    """Which forms a page uses: a kind's own, or the usage batch forms."""

    form_class: type[RecordForm]
    formset_class: type[ItemFormSet]

    @classmethod
    def of(cls, kind: RecordKind) -> FormKind:
        return cls(kind.form_class(), kind.item_formset_class())


USAGE_FORMS = FormKind(UsageBatchForm, UsageItemFormSet)


def _reference_names(forms: FormKind) -> set[str]:
    item_form_class = forms.formset_class.form
    names = set()
    for form_class in (forms.form_class, item_form_class):
        for field_obj in form_class.base_fields.values():
            if isinstance(field_obj, ReferenceField):
                names.add(field_obj.reference)
    return names


def _references(forms: FormKind, contract: Record | None = None) -> FormReferences:
    return selectors.form_references(names=_reference_names(forms), contract=contract)


def _build(
    forms: FormKind,
    references: FormReferences,
    *,
    data: QueryDict | None = None,
    initial: dict | None = None,
    items_initial: list[dict] | None = None,
    expected_total: Decimal | None = None,
) -> tuple[RecordForm, ItemFormSet]:
    form = forms.form_class(
        data, initial=initial or {}, references=references, expected_total=expected_total
    )
    formset = forms.formset_class(
        data, initial=items_initial or None, references=references, company_id=form.company_id
    )
    return form, formset


def _enhance(page: FormPage) -> FormPage:
    """htmx attributes: re-render the choices when the company changes."""
    if "company_id" in page.form.fields:
        page.form.fields["company_id"].widget.attrs.update(
            {
                "hx-post": page.action_url,
                "hx-trigger": "change",
                "hx-target": "#record-form-body",
                "hx-vals": '{"_refresh": "1"}',
                "hx-sync": "closest form:abort",
            }
        )
    return page


def _render(
    request: HttpRequest, page: FormPage, *, status: int = 200, partial: str = ""
) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    if not partial and htmx and not htmx.history_restore_request:
        partial = "form_body"
    template = f"records/form.html#{partial}" if partial else "records/form.html"
    response = render(request, template, {"page": _enhance(page)}, status=status)
    if status >= 400 and status != 422:
        # static/js/portal.js swaps answers with this header (htmx leaves 4xx/5xx alone).
        response["X-Upstream-Error"] = "FormNotSaved"
    return response


def _go(request: HttpRequest, url: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _sign_base(payload: dict | None, expected_total: Decimal | None) -> str:
    if payload is None:
        return ""
    data = {
        "payload": to_jsonable(payload),
        "expected_total": str(expected_total) if expected_total is not None else None,
    }
    return signing.dumps(data, salt=BASE_SALT, compress=True)


def _unsign_base(value: str) -> tuple[dict | None, Decimal | None]:
    if not value:
        return None, None
    try:
        data = signing.loads(value, salt=BASE_SALT)
    except signing.BadSignature:
        logger.warning("edit form with a damaged base field; the diff falls back to the input")
        return None, None
    expected = data.get("expected_total")
    return data.get("payload"), Decimal(expected) if expected is not None else None


# --- failures onto the form ---------------------------------------------------------------------


def _field_error(form: Any, name: str, messages_: list[str], *, fallback_prefix: str = "") -> None:
    if name in form.fields:
        label = form.fields[name].label or name
        for message in messages_:
            form.add_error(name, f"{label}: {message}")
    else:
        prefix = f"{fallback_prefix}{name.replace('_', ' ')}: " if name else fallback_prefix
        for message in messages_:
            form.add_error(None, f"{prefix}{message}")


def _line_index(key: str, items_field: str) -> tuple[int, str] | None:
    """("obligations[2].item_id", "obligations") -> (2, "item_id")."""
    import re

    match = re.match(rf"^{re.escape(items_field)}(?:\[(\d+)\]|\.(\d+))\.?(.*)$", key)
    if not match:
        return None
    return int(match.group(1) or match.group(2)), match.group(3)


def apply_validation_errors(
    *, form: RecordForm, formset: ItemFormSet, error: ValidationFailed
) -> list[str]:
    """Put DualEntry's 422 onto the form: fields to fields, `__all__` to the top, line errors
    to the line they name. Returns the messages that fit nowhere (shown at the top)."""
    leftovers: list[str] = []
    lines = formset.line_forms()
    for message in error.non_field_errors:
        form.add_error(None, message)
    item_errors = {index: dict(fields) for index, fields in error.item_errors.items()}
    for key, field_messages in error.field_errors.items():
        located = _line_index(key, form.items_field)
        if located is not None:
            index, name = located
            item_errors.setdefault(index, {}).setdefault(name or "__all__", []).extend(
                field_messages
            )
        elif key == form.items_field:
            formset._non_form_errors.extend(field_messages)
        else:
            _field_error(form, key, field_messages)
    for index, fields in sorted(item_errors.items()):
        if 0 <= index < len(lines):
            for name, field_messages in fields.items():
                _field_error(lines[index], "" if name == "__all__" else name, field_messages)
        else:
            for name, field_messages in fields.items():
                leftovers.extend(f"Line {index + 1} {name}: {m}" for m in field_messages)
    return leftovers


def _failure_status(error: DualEntryError) -> int:
    if isinstance(error, ValidationFailed):
        return 422
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, ConnectionFailed | RateLimited):
        return 503
    if error.status is not None and error.status >= 500:
        return 502
    return 503


def _failure_sentence(error: DualEntryError, *, noun: str, creating: bool) -> str:
    what = f"the {noun}" if creating else f"your changes to the {noun}"
    if isinstance(error, ValidationFailed):
        return f"DualEntry did not accept {what}: correct what is marked below and save again."
    if isinstance(error, RateLimited):
        wait = f"in {max(1, round(error.retry_after))} seconds" if error.retry_after else "soon"
        return (
            f"DualEntry is busy right now, so {what} could not be saved. Nothing you typed is "
            f"lost: save again {wait}."
        )
    if isinstance(error, ConnectionFailed):
        if error.may_have_reached_server:
            check = (
                "Check the drafts list before saving again, so it is not created twice"
                if creating
                else "Open the record in a new tab to check before saving again"
            )
            return (
                f"DualEntry did not answer in time, so the portal cannot tell whether {what} "
                f"{'was' if creating else 'were'} saved. {check}; everything you typed is "
                "kept below."
            )
        return (
            f"The portal could not reach DualEntry, so {what} {'was' if creating else 'were'} "
            "not saved. Nothing you typed is lost: try again in a minute."
        )
    if isinstance(error, NotFound):
        return (
            f"DualEntry no longer has this {noun} (it may have been removed), so {what} could "
            "not be saved. Your input is kept below."
        )
    if error.status is not None and error.status >= 500:
        return (
            f"DualEntry had a problem on its side (HTTP {error.status}), so {what} "
            f"{'was' if creating else 'were'} not saved. Nothing you typed is lost: try saving "
            "again in a few minutes."
        )
    return f"{error.user_message} Nothing you typed is lost: {what} can be saved again later."


def _upstream_failure(
    request: HttpRequest,
    page: FormPage,
    error: DualEntryError,
    *,
    creating: bool,
) -> HttpResponse:
    logger.warning("%s %s: save failed upstream: %s", request.method, request.path, error)
    page.problem = _failure_sentence(error, noun=page.form.noun, creating=creating)
    page.request_id = error.request_id or ""
    if isinstance(error, ValidationFailed):
        page.problem_details = apply_validation_errors(
            form=page.form, formset=page.formset, error=error
        )
    response = _render(request, page, status=_failure_status(error))
    if isinstance(error, RateLimited) and error.retry_after:
        response["Retry-After"] = str(max(1, round(error.retry_after)))
    return response


def _refused(request: HttpRequest, page: FormPage, refusal: SaveRefused) -> HttpResponse:
    page.problem = refusal.message
    return _render(request, page, status=409)


# --- the generic request handling --------------------------------------------------------------


def _control(request: HttpRequest) -> str:
    """What a POST asks for besides saving: "refresh", "add_line" or "total"."""
    if request.POST.get("_partial") == "total":
        return "total"
    if request.POST.get("_refresh"):
        return "refresh"
    if request.POST.get("_add_line"):
        return "add_line"
    return ""


def _with_company_currency(data: QueryDict, references: FormReferences) -> QueryDict:
    data = data.copy()
    company = references.company(_int(data.get("company_id")))
    if company and company.currency and not data.get("currency_iso_4217_code"):
        data["currency_iso_4217_code"] = company.currency
    return data


def _with_extra_line(data: QueryDict) -> QueryDict:
    data = data.copy()
    total = _int(data.get("items-TOTAL_FORMS")) or 0
    data["items-TOTAL_FORMS"] = str(min(total + 1, MAX_LINES))
    return data


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _control_response(
    request: HttpRequest, page_for: Any, forms: FormKind, references: FormReferences, build: dict
) -> HttpResponse | None:
    """Answer a refresh / add-line / running-total post without saving (None: not one)."""
    control = _control(request)
    if not control:
        return None
    data = _with_company_currency(request.POST, references)
    if control == "add_line":
        data = _with_extra_line(data)
    form, formset = _build(forms, references, data=data, **build)
    bound_errors_hidden([form, formset])
    page = page_for(form, formset)
    if control == "total":
        return _render(request, page, partial="total")
    return _render(request, page)


def _token(request: HttpRequest) -> str:
    return request.POST.get("form_token", "")[:100]


# --- create ------------------------------------------------------------------------------------


def _create_initial(kind: RecordKind, references: FormReferences, query: QueryDict) -> dict:
    initial: dict[str, Any] = {"date": dt.date.today(), "exchange_rate": Decimal(1)}
    if kind.prepared_as_proposal:
        initial = {"start_date": dt.date.today(), "date": dt.date.today()}
    companies = references.companies or []
    company_id = _int(query.get("company_id"))
    if company_id is None and len(companies) == 1:
        company_id = companies[0].value
    company = references.company(company_id)
    if company is not None:
        initial["company_id"] = company.value
        initial["currency_iso_4217_code"] = company.currency
    return initial


@require_http_methods(["GET", "POST"])
@permission_required(PREPARE, raise_exception=True)
def record_create(request: HttpRequest, kind: RecordKind) -> HttpResponse:
    if not kind.can_create:
        raise Http404(f"DualEntry does not allow {kind.label_plural} to be created.")
    forms = FormKind.of(kind)
    references = _references(forms)
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
            form_token=token or _token(request) or form_token_new(),
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
        form, formset = _build(
            forms, references, initial=_create_initial(kind, references, request.GET)
        )
        return _render(request, page_for(form, formset, form_token_new()))

    control = _control_response(request, page_for, forms, references, {})
    if control is not None:
        return control
    form, formset = _build(forms, references, data=request.POST)
    page = page_for(form, formset)
    if not validate_record_forms(form, formset):
        page.problem = "The form has errors: correct what is marked below and save again."
        return _render(request, page, status=422)
    payload = payload_from_forms(kind=kind, form=form, formset=formset, record_status=DRAFT)
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
            return _go(request, reverse("records:proposal_detail", kwargs={"pk": proposal.pk}))
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
        return _go(request, done.result_url)
    except SaveRefused as refusal:
        return _refused(request, page, refusal)
    except DualEntryError as error:
        return _upstream_failure(request, page, error, creating=True)
    key = kind.key_of(record)
    messages.success(request, f"Draft {kind.label} {key} saved.")
    return _go(request, reverse("records:detail", kwargs={"kind": kind.slug, "key": key}))


# --- edit a DualEntry draft --------------------------------------------------------------------


def _edit_refusal(kind: RecordKind, key: str, record: Record) -> str:
    status = record.get(kind.status_field)
    if status != DRAFT:
        return (
            f"{kind.label.capitalize()} {key} is {status}: only drafts are edited here. "
            "Propose a change from its page instead."
        )
    if is_locked(kind=kind.slug, key=key):
        return (
            f"{kind.label.capitalize()} {key} is waiting for approval and cannot be edited "
            "until the request is withdrawn or rejected."
        )
    return ""


def _expected_total(kind: RecordKind, record: Record, payload: dict) -> Decimal | None:
    """A deposit whose line amounts the portal does not know: lines must add up to this."""
    if deposit_line_amounts_known(payload):
        return None
    amount = record.get(kind.amount_field)
    return amount if isinstance(amount, Decimal) else None


def _deposit_notice(kind: RecordKind, expected: Decimal | None, currency: str) -> list[str]:
    if expected is None:
        return []
    return [
        f"DualEntry does not return the line amounts of a {kind.label}, and this one was not "
        f"last saved by the portal. Type each line's amount: together they must add up to the "
        f"{kind.label}'s amount, {format_money(expected)} {currency}."
    ]


@require_http_methods(["GET", "POST"])
@permission_required(PREPARE, raise_exception=True)
def record_edit(request: HttpRequest, kind: RecordKind, key: int) -> HttpResponse:
    if not kind.can_update:
        raise Http404(
            f"DualEntry does not allow {kind.label_plural} to be changed; prepare a new "
            f"{kind.label} proposal instead."
        )
    key_text = str(key)
    detail_url = reverse("records:detail", kwargs={"kind": kind.slug, "key": key_text})
    forms = FormKind.of(kind)
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
            notices=_deposit_notice(kind, expected, currency),
            currency=currency,
            **extra,
        )

    if request.method == "GET":
        return _edit_get(request, kind, key_text, forms, page_for, detail_url)

    references = _references(forms)
    base_payload, expected_total = _unsign_base(request.POST.get("base", ""))
    initial, items_initial = initial_from_payload(kind=kind, payload=base_payload or {})
    build = {"initial": initial, "items_initial": items_initial, "expected_total": expected_total}
    control = _control_response(request, page_for, forms, references, build)
    if control is not None:
        return control
    form, formset = _build(forms, references, data=request.POST, **build)
    page = page_for(form, formset)
    if not validate_record_forms(form, formset):
        page.problem = "The form has errors: correct what is marked below and save again."
        return _render(request, page, status=422)
    payload = payload_from_forms(kind=kind, form=form, formset=formset, record_status=DRAFT)
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
        return _stale(request, page, stale, kind=kind, key=key_text, payload=payload)
    except SaveRefused as refusal:
        return _refused(request, page, refusal)
    except DualEntryError as error:
        return _upstream_failure(request, page, error, creating=False)
    messages.success(request, f"Draft {kind.label} {key_text} saved.")
    return _go(request, detail_url)


def _edit_get(request, kind, key_text, forms, page_for, detail_url) -> HttpResponse:
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
    references = _references(forms)
    expected = _expected_total(kind, record, base_payload)
    initial, items_initial = initial_from_payload(kind=kind, payload=base_payload)
    form, formset = _build(
        forms, references, initial=initial, items_initial=items_initial, expected_total=expected
    )
    page = page_for(
        form,
        formset,
        version=selectors.record_version(record),
        base=_sign_base(base_payload, expected),
        currency=record.get("currency_iso_4217_code") or "",
    )
    return _render(request, page)


def _stale(
    request: HttpRequest,
    page: FormPage,
    stale: StaleRecord,
    *,
    kind: RecordKind,
    key: str,
    payload: dict,
) -> HttpResponse:
    """Keep the user's input; show what changed; arm the form to apply it to the new version."""
    current_expected = None
    if not deposit_line_amounts_known(stale.current_payload):
        current_expected = stale.current_total
    page.form.expected_total = current_expected
    page.notices = _deposit_notice(kind, current_expected, page.currency)
    page.problem = stale.message
    page.stale_rows = change_rows(stale.changes)
    page.version = stale.version
    page.base = _sign_base(stale.current_payload, current_expected)
    return _render(request, page, status=409)


# --- htmx: one more line -----------------------------------------------------------------------


@require_GET
@permission_required(PREPARE, raise_exception=True)
def item_row(request: HttpRequest, kind: RecordKind) -> HttpResponse:
    """A blank line for the formset (htmx), numbered after the current last one."""
    usage_contract = _int(request.GET.get("usage_contract"))
    forms = USAGE_FORMS if usage_contract is not None else FormKind.of(kind)
    contract = None
    if usage_contract is not None:
        try:
            contract = selectors.record_get(kind=CONTRACTS, key=usage_contract)
        except DualEntryError as error:
            return views.upstream_error_response(request, error)
    references = _references(forms, contract)
    index = _int(request.GET.get("items-TOTAL_FORMS")) or 0
    if not 0 <= index < MAX_LINES:
        return HttpResponse(
            f'<tr><td colspan="20" class="field-error">A record can have at most {MAX_LINES} '
            "lines.</td></tr>",
            status=422,
        )
    formset = forms.formset_class(
        references=references, company_id=_int(request.GET.get("company_id"))
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


def _proposal_forms(proposal: Proposal) -> tuple[RecordKind, FormKind]:
    kind = get_kind(proposal.kind)
    if proposal.action == Proposal.Action.UPSERT_USAGE:
        return kind, USAGE_FORMS
    return kind, FormKind.of(kind)


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
    if open_request_for_proposal(proposal=proposal) is not None:
        return (
            f"Proposal #{proposal.pk} is waiting for approval and cannot be edited until the "
            "request is withdrawn or rejected."
        )
    return ""


@require_GET
@permission_required(VIEW, raise_exception=True)
def proposal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = get_object_or_404(Proposal, pk=pk)
    kind, forms = _proposal_forms(proposal)
    try:
        references = _references(forms)
    except DualEntryError:
        references = FormReferences()
    form = forms.form_class(references=references, initial={})
    item_form_class = forms.formset_class.form
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
    approval_request = open_request_for_proposal(proposal=proposal)
    refusal = _proposal_editable(proposal)
    context = {
        "kind": kind,
        "proposal": proposal,
        "title": _proposal_title(proposal),
        "header": header,
        "columns": columns,
        "lines": lines,
        "approval_request": approval_request,
        "can_edit": request.user.has_perm(PREPARE) and not refusal,
        "can_submit": request.user.has_perm(PREPARE) and not refusal,
        "key": proposal_audit_key(proposal),  # for the history section's audit-log link
        "history": events_for_record(kind=kind.slug, key=proposal_audit_key(proposal)),
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
@permission_required(PREPARE, raise_exception=True)
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
    references = _references(forms, contract)
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
        form, formset = _build(forms, references, initial=initial, items_initial=items_initial)
        page = page_for(
            form,
            formset,
            version=proposal_version(proposal),
            base=_sign_base(proposal.payload, None),
        )
        return _render(request, page)

    base_payload, _expected = _unsign_base(request.POST.get("base", ""))
    initial, items_initial = initial_from_payload(
        kind=kind, payload=base_payload or proposal.payload
    )
    build = {"initial": initial, "items_initial": items_initial}
    control = _control_response(request, page_for, forms, references, build)
    if control is not None:
        return control
    form, formset = _build(forms, references, data=request.POST, **build)
    page = page_for(form, formset)
    if not validate_record_forms(form, formset):
        page.problem = "The form has errors: correct what is marked below and save again."
        return _render(request, page, status=422)
    record_status = proposal.payload.get("record_status") or DRAFT
    payload = payload_from_forms(kind=kind, form=form, formset=formset, record_status=record_status)
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
        page.base = _sign_base(stale.current_payload, None)
        return _render(request, page, status=409)
    except SaveRefused as refusal_:
        return _refused(request, page, refusal_)
    messages.success(request, f"Proposal #{proposal.pk} saved.")
    return _go(request, detail_url)


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
        form_token=token or _token(request) or form_token_new(),
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
@permission_required(PREPARE, raise_exception=True)
def usage_batch_new(request: HttpRequest, contract_id: int) -> HttpResponse:
    """The usage batch form (it posts to the contract's usage page)."""
    try:
        contract = _usage_contract(contract_id)
    except DualEntryError as error:
        return views.upstream_error_response(request, error)
    references = _references(USAGE_FORMS, contract)
    form, formset = _build(USAGE_FORMS, references)
    return _render(request, _usage_page(request, contract_id, form, formset, form_token_new()))


@require_http_methods(["GET", "POST"])
def usage(request: HttpRequest, contract_id: int) -> HttpResponse:
    """/contracts/<id>/usage/: the usage list (browse's page) on GET, a usage batch on POST."""
    if request.method == "GET":
        return views.contract_usage(request, contract_id)
    return usage_batch_save(request, contract_id)


@permission_required(PREPARE, raise_exception=True)
def usage_batch_save(request: HttpRequest, contract_id: int) -> HttpResponse:
    try:
        contract = _usage_contract(contract_id)
    except DualEntryError as error:
        return views.upstream_error_response(request, error)
    references = _references(USAGE_FORMS, contract)

    def page_for(form: RecordForm, formset: ItemFormSet) -> FormPage:
        return _usage_page(request, contract_id, form, formset)

    control = _control_response(request, page_for, USAGE_FORMS, references, {})
    if control is not None:
        return control
    form, formset = _build(USAGE_FORMS, references, data=request.POST)
    page = page_for(form, formset)
    if not validate_record_forms(form, formset):
        page.problem = "The form has errors: correct what is marked below and save again."
        return _render(request, page, status=422)
    payload = payload_from_forms(kind=CONTRACTS, form=form, formset=formset, record_status=DRAFT)
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
        return _go(request, done.result_url)
    except SaveRefused as refusal:
        return _refused(request, page, refusal)
    messages.success(request, f"Usage proposal #{proposal.pk} saved.")
    return _go(request, reverse("records:proposal_detail", kwargs={"pk": proposal.pk}))
