"""The record form page: what every create/edit/propose page in `records/form.html` shares.

A page is a `FormPage` (the forms plus what the template shows around them). This module holds
small helpers the form views call in order, top to bottom: build or bind the forms
(`build_forms`, `posted_forms`), answer the htmx control posts (`control_response`: company
change, add a line, running total), render the page (`render_form_page`), sign the body a form
was loaded with (`sign_base`), and turn a refused or failed save into the form again with a
sentence above the user's unchanged input (`invalid_response`, `refused_response`,
`stale_response`, `upstream_failure_response`).

Non-422 failure answers carry `X-Upstream-Error` so static/js/portal.js swaps them in too.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core import signing
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from dualentry_api.errors import (
    DualEntryError,
    RateLimited,
    ValidationFailed,
)
from dualentry_api.records import Record, to_jsonable
from portal.audit.diff import ChangeRow, change_rows
from portal.records import money_rules, selectors
from portal.records.attachment_selectors import AttachmentPanel
from portal.records.forms import (
    MAX_LINES,
    FormReferences,
    ItemFormSet,
    RecordForm,
    RecordForms,
    bound_errors_hidden,
    format_money,
    parse_int,
    validate_record_forms,
)
from portal.records.kinds import RecordKind
from portal.records.payloads import (
    deposit_line_amounts_known,
    initial_from_payload,
    payload_from_forms,
)
from portal.records.services import AlreadySubmitted, SaveRefused, StaleRecord
from portal.records.views.failures import upstream_failure

logger = logging.getLogger(__name__)

BASE_SALT = "portal.records.edit.base"


# --- what the template gets --------------------------------------------------------------------


@dataclass
class FormPage:
    """Everything `records/form.html` shows: the forms, where they post, and what to say."""

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
    # The record's attachments section, shown below the form (edit pages of kinds that take
    # attachments, on GET, where the record is at hand).
    attachments: AttachmentPanel | None = None
    # The DualEntry record being edited ("" for a new one): it never reserves against itself.
    record_key: str = ""

    @property
    def picks_sources(self) -> bool:
        """Lines pick other records (a refund's credits): they follow the chosen customer."""
        return bool(self.formset.form.source_kind)

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


def form_references(forms: RecordForms, contract: Record | None = None) -> FormReferences:
    """The choices for the forms (a usage batch also needs its `contract`); lines that apply
    other records (refund credits, deposit payments) pick them from the read model."""
    references = selectors.form_references(names=forms.reference_names(), contract=contract)
    if forms.line.source_kind:
        references.source_options = money_rules.open_sources
    return references


def build_forms(
    forms: RecordForms,
    references: FormReferences,
    *,
    data: QueryDict | None = None,
    initial: dict | None = None,
    items_initial: list[dict] | None = None,
    expected_total: Decimal | None = None,
) -> tuple[RecordForm, ItemFormSet]:
    """The header form and its line formset, bound to `data` when posted."""
    form = forms.header(
        data, initial=initial or {}, references=references, expected_total=expected_total
    )
    formset = forms.formset(
        data,
        initial=items_initial or None,
        form_kwargs={
            "references": references,
            "company_id": form.company_id,
            "customer_id": form.chosen_customer_id(),
        },
    )
    return form, formset


def _enhance(page: FormPage) -> FormPage:
    """htmx attributes: re-render the choices when the company changes (and, where lines
    pick the customer's credits, when the customer changes)."""
    watched = ["company_id"]
    if page.formset.form.source_kind:
        watched.append("customer_id")
    for name in watched:
        if name not in page.form.fields:
            continue
        page.form.fields[name].widget.attrs.update(
            {
                "hx-post": page.action_url,
                "hx-trigger": "change",
                "hx-target": "#record-form-body",
                "hx-vals": '{"_refresh": "1"}',
                "hx-sync": "closest form:abort",
            }
        )
    return page


def render_form_page(
    request: HttpRequest, page: FormPage, *, status: int = 200, partial: str = ""
) -> HttpResponse:
    """The page, or for htmx the form body (or the named `partial`)."""
    htmx = getattr(request, "htmx", None)
    if not partial and htmx and not htmx.history_restore_request:
        partial = "form_body"
    template = f"records/form.html#{partial}" if partial else "records/form.html"
    response = render(request, template, {"page": _enhance(page)}, status=status)
    if status >= 400 and status != 422:
        # static/js/portal.js swaps answers with this header (htmx leaves 4xx/5xx alone).
        response["X-Upstream-Error"] = "FormNotSaved"
    return response


def redirect_to(request: HttpRequest, url: str) -> HttpResponse:
    """Redirect after a save: a client redirect for htmx, a plain one otherwise."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def sign_base(payload: dict | None, expected_total: Decimal | None) -> str:
    """The hidden `base` field: the body the form was loaded with, signed ("" for none)."""
    if payload is None:
        return ""
    data = {
        "payload": to_jsonable(payload),
        "expected_total": str(expected_total) if expected_total is not None else None,
    }
    return signing.dumps(data, salt=BASE_SALT, compress=True)


def unsign_base(value: str) -> tuple[dict | None, Decimal | None]:
    """(payload, expected total) from a posted `base` field; (None, None) if absent or damaged."""
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


def upstream_failure_response(
    request: HttpRequest,
    page: FormPage,
    error: DualEntryError,
    *,
    creating: bool,
) -> HttpResponse:
    """The form again, with a sentence saying how DualEntry failed (and its field errors)."""
    logger.warning("%s %s: save failed upstream: %s", request.method, request.path, error)
    status, page.problem = upstream_failure(error, noun=page.form.noun, creating=creating)
    page.request_id = error.request_id or ""
    if isinstance(error, ValidationFailed):
        page.problem_details = apply_validation_errors(
            form=page.form, formset=page.formset, error=error
        )
    response = render_form_page(request, page, status=status)
    if isinstance(error, RateLimited) and error.retry_after:
        response["Retry-After"] = str(max(1, round(error.retry_after)))
    return response


def stale_response(
    request: HttpRequest, page: FormPage, stale: StaleRecord, *, expected_total: Decimal | None
) -> HttpResponse:
    """The form again (409) with the user's input, what changed meanwhile, and armed to apply
    the input to the current version (`expected_total`: a deposit's total to add up to)."""
    page.problem = stale.message
    page.stale_rows = change_rows(stale.changes)
    page.version = stale.version
    page.base = sign_base(stale.current_payload, expected_total)
    return render_form_page(request, page, status=409)


def refused_response(request: HttpRequest, page: FormPage, refusal: SaveRefused) -> HttpResponse:
    """The answer to a save the portal refused: a create form saved before goes to the first
    submission's result; otherwise the form again (409) with the reason."""
    if isinstance(refusal, AlreadySubmitted):
        messages.info(request, refusal.message)
        return redirect_to(request, refusal.result_url)
    page.problem = refusal.message
    return render_form_page(request, page, status=409)


# --- a posted form ------------------------------------------------------------------------------


def _control(request: HttpRequest) -> str:
    """What a POST asks for besides saving: "refresh", "add_line" or "total" ("" to save)."""
    if request.POST.get("_partial") == "total":
        return "total"
    if request.POST.get("_refresh"):
        return "refresh"
    if request.POST.get("_add_line"):
        return "add_line"
    return ""


def _with_company_currency(data: QueryDict, references: FormReferences) -> QueryDict:
    data = data.copy()
    company = references.company(parse_int(data.get("company_id")))
    if company and company.currency and not data.get("currency_iso_4217_code"):
        data["currency_iso_4217_code"] = company.currency
    return data


def _with_extra_line(data: QueryDict) -> QueryDict:
    data = data.copy()
    total = parse_int(data.get("items-TOTAL_FORMS")) or 0
    data["items-TOTAL_FORMS"] = str(min(total + 1, MAX_LINES))
    return data


def loaded_forms(
    forms: RecordForms,
    references: FormReferences,
    *,
    kind: RecordKind,
    payload: dict,
    expected_total: Decimal | None = None,
) -> tuple[RecordForm, ItemFormSet]:
    """The forms filled in from a body (a record or proposal being edited), unbound."""
    initial, items_initial = initial_from_payload(kind=kind, payload=payload)
    return build_forms(
        forms,
        references,
        initial=initial,
        items_initial=items_initial,
        expected_total=expected_total,
    )


def posted_forms(
    request: HttpRequest,
    forms: RecordForms,
    references: FormReferences,
    *,
    kind: RecordKind | None = None,
    start: dict | None = None,
    expected_total: Decimal | None = None,
) -> tuple[RecordForm, ItemFormSet, str]:
    """The forms bound to the POST, and the control it asks for ("" when it means to save).

    `start` is the body the form was loaded with (an edit: what "changed" is measured from).
    A control post (company changed, add a line, running total) re-renders the form without
    saving: its data gets the company's currency (and one more line), its errors stay hidden.
    """
    control = _control(request)
    data = request.POST
    if control:
        data = _with_company_currency(data, references)
        if control == "add_line":
            data = _with_extra_line(data)
    initial, items_initial = (
        initial_from_payload(kind=kind, payload=start) if kind and start else ({}, [])
    )
    form, formset = build_forms(
        forms,
        references,
        data=data,
        initial=initial,
        items_initial=items_initial,
        expected_total=expected_total,
    )
    if control:
        bound_errors_hidden([form, formset])
        _fill_amounts_from_pickers(formset)
    return form, formset, control


def _fill_amounts_from_pickers(formset: ItemFormSet) -> None:
    """Without JavaScript: a line whose credit (or payment...) was chosen and whose amount is
    empty gets what that record has left when the form comes back (portal.js does it live)."""
    for line in formset.forms:
        amount_name = line.add_prefix("amount")
        if "amount" not in line.fields or str(line.data.get(amount_name, "")).strip():
            continue
        for name, field_obj in line.fields.items():
            available = getattr(field_obj.widget, "available", None)
            chosen = str(line.data.get(line.add_prefix(name), "") or "")
            if available and chosen in available:
                line.data[amount_name] = available[chosen]
                break


def record_forms(
    kind: RecordKind, record: Record, payload: dict
) -> tuple[RecordForm, ItemFormSet, Decimal | None]:
    """The forms over a DualEntry record's body (`payload`, as `record_as_payload` builds it),
    and the total a deposit's lines must add up to when DualEntry did not give their amounts
    (None otherwise; the signed `base` carries it)."""
    expected = expected_total_for(kind, record, payload)
    form, formset = loaded_forms(
        kind.forms, form_references(kind.forms), kind=kind, payload=payload, expected_total=expected
    )
    return form, formset, expected


def posted_record_forms(
    request: HttpRequest, kind: RecordKind
) -> tuple[RecordForm, ItemFormSet, str, dict | None]:
    """`posted_forms` for a form over an existing DualEntry record (edit a draft, propose a
    change), started from the signed body it was loaded with; that body comes back last (None
    if the form lost it)."""
    base_payload, expected = unsign_base(request.POST.get("base", ""))
    form, formset, control = posted_forms(
        request,
        kind.forms,
        form_references(kind.forms),
        kind=kind,
        start=base_payload,
        expected_total=expected,
    )
    return form, formset, control, base_payload


def posted_state(request: HttpRequest) -> dict[str, str]:
    """What a posted form carries back to its page: the version and signed body it was loaded
    with, and the currency typed."""
    return {
        "version": request.POST.get("version", ""),
        "base": request.POST.get("base", ""),
        "currency": request.POST.get("currency_iso_4217_code", ""),
    }


def loaded_state(
    record: Record, payload: dict, expected_total: Decimal | None, *, version: str = ""
) -> dict[str, str]:
    """What a form over `record` carries from its GET to its POST (`posted_state` reads it
    back): the record's `version` ("" where the save checks none), the body the form was
    loaded with, signed, and the record's currency."""
    return {
        "version": version,
        "base": sign_base(payload, expected_total),
        "currency": record.get("currency_iso_4217_code") or "",
    }


@dataclass(frozen=True)
class RecordPageText:
    """What a form over an existing DualEntry record says and where it posts: `title` is
    formatted with the kind's `label` and the record's `key`; `url_name` takes them as `kind`
    and `key`."""

    title: str
    url_name: str
    submit_label: str
    notices: tuple[str, ...] = ()


def record_page(
    text: RecordPageText,
    kind: RecordKind,
    key: str,
    forms: tuple[RecordForm, ItemFormSet],
    state: dict[str, str],
) -> FormPage:
    """The page of a form over an existing DualEntry record (edit a draft, propose a change),
    with the `state` it was loaded with (`loaded_state`, `posted_state`): cancelling goes back
    to the record, a deposit DualEntry gave no line amounts for asks for them, and what the
    record applies already counts as available to it."""
    form, formset = forms
    currency = state.get("currency", "")
    return FormPage(
        kind=kind,
        form=form,
        formset=formset,
        title=text.title.format(label=kind.label, key=key),
        action_url=reverse(text.url_name, kwargs={"kind": kind.slug, "key": key}),
        cancel_url=reverse("records:detail", kwargs={"kind": kind.slug, "key": key}),
        submit_label=text.submit_label,
        item_row_url=reverse("records:item_row", kwargs={"kind": kind.slug}),
        version=state.get("version", ""),
        base=state.get("base", ""),
        notices=[*text.notices, *deposit_notice(kind, form.expected_total, currency)],
        currency=currency,
        record_key=key,
    )


def valid_body(
    request: HttpRequest, page: FormPage, control: str, *, record_status: str, again: str = "save"
) -> dict | HttpResponse:
    """The body to save from a valid posted form, or the answer to a post that saves nothing:
    the running total or the form again for a control post, the form with its errors (422) for
    an invalid one (`again` is the verb of the error sentence)."""
    if control == "total":
        return render_form_page(request, page, partial="total")
    if control:
        return render_form_page(request, page)
    if not validate_record_forms(page.form, page.formset) or not money_rules_pass(page):
        page.problem = page.problem or (
            f"The form has errors: correct what is marked below and {again} again."
        )
        return render_form_page(request, page, status=422)
    return payload_from_forms(
        kind=page.kind, form=page.form, formset=page.formset, record_status=record_status
    )


def sources_locked(request: HttpRequest, page: FormPage, control: str):
    """The lock on the credits and records the posted lines apply (`money_rules.lock_sources`),
    held while the form is checked and saved; a control post saves nothing and locks nothing."""
    return money_rules.lock_sources(kind_slug=page.kind.slug, data={} if control else request.POST)


def seen(request: HttpRequest, base_payload: dict | None) -> dict[str, Any]:
    """What a posted form over an existing record proves it saw, for the save's stale check:
    the version it was loaded with (a form without one cannot prove it saw the current record,
    and is refused) and the body it started from (None if it lost it)."""
    return {"expected_version": request.POST.get("version", ""), "base_payload": base_payload}


def money_rules_pass(page: FormPage) -> bool:
    """The money rules (`portal.records.money_rules`) on valid forms: each broken rule is
    put on the line and field it concerns. False if any is broken."""
    kind = page.kind
    if kind.slug not in money_rules.KIND_SOURCE_FIELDS:
        return True
    form, formset = page.form, page.formset
    references = form.references
    names = {
        "companies": {option.value: option.label for option in references.companies or []},
        "customers": {option.value: option.label for option in references.customers or []},
    }
    try:
        check = money_rules.check_record(
            kind_slug=kind.slug,
            header=form.cleaned_data,
            lines=formset.lines(),
            exclude_key=page.record_key,
            names=names,
        )
    except DualEntryError as error:
        logger.warning("money rules: sources unavailable: %s", error)
        page.problem = (
            "The credits and records these lines apply could not be checked: DualEntry did "
            f"not answer ({error}). Nothing was saved; try again in a moment."
        )
        return False
    line_forms = formset.line_forms()
    for problem in check.problems:
        if problem.line is None:
            form.add_error(problem.field if problem.field in form.fields else None, problem.message)
        else:
            line_forms[problem.line].add_error(problem.field, problem.message)
    return check.ok


def posted_form_token(request: HttpRequest) -> str:
    """The exactly-once token a create form posted ("" if none)."""
    return request.POST.get("form_token", "")[:100]


# --- deposits without line amounts ---


def expected_total_for(kind: RecordKind, record: Record, payload: dict) -> Decimal | None:
    """A deposit whose line amounts the portal does not know: lines must add up to this."""
    if deposit_line_amounts_known(payload):
        return None
    amount = record.get(kind.amount_field)
    return amount if isinstance(amount, Decimal) else None


def deposit_notice(kind: RecordKind, expected: Decimal | None, currency: str) -> list[str]:
    """The notice asking for line amounts that add up to `expected` (none if not needed)."""
    if expected is None:
        return []
    return [
        f"DualEntry does not return the line amounts of a {kind.label}, and this one was not "
        f"last saved by the portal. Type each line's amount: together they must add up to the "
        f"{kind.label}'s amount, {format_money(expected)} {currency}."
    ]
