"""Approval pages: the queue, the review page and its actions, submitting, change requests.

Views are thin: permissions (again checked in the services), one service or selector call,
then render or redirect (post/redirect/get). Refusals reach people as messages; a refusal on
permission grounds (`ApprovalNotAllowed`) is a 403 page with the sentence.
"""

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from dualentry_api.client import get_client
from dualentry_api.errors import DualEntryError, NotFound
from portal.approvals import selectors, services
from portal.approvals.forms import QUEUE_SORTS, DecisionForm, NoteForm, QueueFilterForm
from portal.approvals.models import ApprovalRequest
from portal.permissions import APPROVE_RECORDS, PREPARE_RECORDS, VIEW_RECORDS
from portal.readmodel.selectors import mirrored_references
from portal.records.filters import DEFAULT_PAGE_SIZE, offset_from
from portal.records.kinds import RecordKind, get_kind
from portal.records.models import Proposal
from portal.records.selectors import Pagination
from portal.records.views import form_page, upstream_failures
from portal.records.views.failures import is_partial

logger = logging.getLogger(__name__)


def _detail_url(approval_request: ApprovalRequest) -> str:
    return reverse("approvals:detail", kwargs={"pk": approval_request.pk})


def _record_url(kind: RecordKind, key: str) -> str:
    return reverse("records:detail", kwargs={"kind": kind.slug, "key": key})


def _upstream_message(request: HttpRequest, err: DualEntryError) -> None:
    logger.warning("%s %s: DualEntry call failed: %r %s", request.method, request.path, err, err)
    reference = f" (reference {err.request_id})" if err.request_id else ""
    messages.error(request, f"{err.user_message}{reference}")


def _outcome_message(request: HttpRequest, approval_request: ApprovalRequest) -> None:
    state = approval_request.state
    title = approval_request.title
    if state == ApprovalRequest.State.POSTED:
        messages.success(request, f"Approved: {title} is now applied in DualEntry.")
    elif state == ApprovalRequest.State.POST_FAILED:
        messages.error(
            request,
            f"Approved, but sending {title} to DualEntry failed: {approval_request.post_error} "
            "Retry when DualEntry is available; a retry never posts twice.",
        )
    elif state == ApprovalRequest.State.SUBMITTED:
        messages.success(
            request, "Your approval is recorded; a second approver must approve it too."
        )


# --- the queue and the review page -----------------------------------------------------------


@dataclass(frozen=True)
class QueuePage(Pagination):
    records: list[ApprovalRequest]
    count: int
    limit: int
    offset: int


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@vary_on_headers("HX-Request")
def approval_index(request: HttpRequest) -> HttpResponse:
    companies = [
        (key, name or f"#{key}")
        for key, name in mirrored_references(source="companies")
        .order_by("name")
        .values_list("key", "name")
    ]
    form = QueueFilterForm(request.GET, companies=companies, preparers=selectors.queue_preparers())
    queue = selectors.approval_queue(user=request.user, filters=form.values, sort=form.sort_value)
    offset, limit = offset_from(request.GET), form.values.get("limit") or DEFAULT_PAGE_SIZE
    page = QueuePage(list(queue[offset : offset + limit]), queue.count(), limit, offset)
    context = {
        "form": form,
        "page": page,
        "sort_links": {key: form.sort_link(key) for key in QUEUE_SORTS},
        "waiting_total": selectors.waiting_count(user=request.user),
        "mine": selectors.submitted_by(user=request.user),
        "decided": selectors.recently_decided(),
        "can_approve": request.user.has_perm(APPROVE_RECORDS),
    }
    template = "approvals/index.html#waiting" if is_partial(request) else "approvals/index.html"
    return render(request, template, context)


@require_GET
@permission_required(VIEW_RECORDS, raise_exception=True)
@upstream_failures
def approval_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        approval_request = selectors.approval_request_get(pk=pk)
    except ApprovalRequest.DoesNotExist as err:
        raise Http404(f"There is no approval request #{pk}.") from err
    review = selectors.approval_review(approval_request=approval_request, user=request.user)
    context = {
        "approval_request": approval_request,
        "kind": get_kind(approval_request.kind),
        "review": review,
        "decision_form": DecisionForm(initial={"payload_hash": approval_request.payload_hash}),
        "note_form": NoteForm(),
    }
    return render(request, "approvals/detail.html", context)


class TextRefused(Exception):
    """A posted comment or note the form refuses (too long, or holding text the portal does
    not accept): the action is not taken and the person is told why."""


def _posted_text(request: HttpRequest, form_class: type[forms.Form], name: str) -> str:
    """The decision comment or note posted with an action ("" if none); raises `TextRefused`."""
    form = form_class(request.POST)
    if form.is_valid():
        return form.cleaned_data[name]
    problems = " ".join(str(error) for errors in form.errors.values() for error in errors)
    raise TextRefused(f"Nothing was done: {problems}")


@contextmanager
def _refusals_as_messages(request: HttpRequest) -> Iterator[None]:
    """A refusal on permission grounds stays a 403; other refusals (of the services, or of the
    posted text) and DualEntry failures become messages, and the block's remainder is skipped."""
    try:
        yield
    except services.ApprovalNotAllowed:
        raise
    except (TextRefused, *services.REFUSALS) as err:
        messages.error(request, str(err))
    except DualEntryError as err:
        _upstream_message(request, err)


def _act(
    request: HttpRequest, pk: int, action: Callable[[ApprovalRequest], object]
) -> HttpResponse:
    """Run one action on a request, say how it went, and go back to its page."""
    approval_request = get_object_or_404(
        ApprovalRequest.objects.select_related("submitted_by", "proposal"), pk=pk
    )
    with _refusals_as_messages(request):
        action(approval_request)
    return redirect(_detail_url(approval_request))


@require_POST
@permission_required(APPROVE_RECORDS, raise_exception=True)
def approval_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Two steps, both POSTs (no JavaScript needed): the decide form's button shows the
    confirmation page restating what will happen; only its button (`confirmed=1`) approves."""
    try:
        comment = _posted_text(request, DecisionForm, "comment")
        payload_hash = _posted_text(request, DecisionForm, "payload_hash")
    except TextRefused as err:
        messages.error(request, str(err))
        return redirect(reverse("approvals:detail", kwargs={"pk": pk}))
    if request.POST.get("confirmed") != "1":
        return _approve_confirmation(request, pk, comment=comment, payload_hash=payload_hash)

    def approve(approval_request: ApprovalRequest) -> None:
        approval_request = services.approval_approve(
            approval_request=approval_request,
            user=request.user,
            comment=comment,
            request=request,
            payload_hash=payload_hash,
        )
        _outcome_message(request, approval_request)

    return _act(request, pk, approve)


def _approve_confirmation(
    request: HttpRequest, pk: int, *, comment: str, payload_hash: str
) -> HttpResponse:
    approval_request = get_object_or_404(
        ApprovalRequest.objects.select_related("submitted_by", "proposal"), pk=pk
    )
    # Approving what one prepared (submitted, created, edited, attached to, proposed) is a
    # permission refusal (403), at this step already: the same rule the approve service keeps.
    services.refuse_preparer(approval_request, request.user)
    review = selectors.approval_review(approval_request=approval_request, user=request.user)
    if not review.can_approve:
        messages.error(
            request, review.approve_blocked or "This request cannot be approved by you now."
        )
        return redirect(_detail_url(approval_request))
    context = {
        "approval_request": approval_request,
        "kind": get_kind(approval_request.kind),
        "review": review,
        "comment": comment,
        "payload_hash": payload_hash or approval_request.payload_hash,
    }
    return render(request, "approvals/approve_confirm.html", context)


_ActionBody = Callable[[HttpRequest, ApprovalRequest, str], None]


def _action(
    permission: str, *, text_from: tuple[type[forms.Form], str] | None = None
) -> Callable[[_ActionBody], Callable[[HttpRequest, int], HttpResponse]]:
    """Make a POST-only view for people with `permission` from an action's body, so each action
    reads as what it does: `body(request, approval_request, text)` runs inside `_act`, with the
    comment or note posted in the field `text_from` names ("" when it takes none)."""

    def decorate(body: _ActionBody) -> Callable[[HttpRequest, int], HttpResponse]:
        @require_POST
        @permission_required(permission, raise_exception=True)
        @functools.wraps(body)
        def view(request: HttpRequest, pk: int) -> HttpResponse:
            def action(approval_request: ApprovalRequest) -> None:
                text = _posted_text(request, *text_from) if text_from else ""
                body(request, approval_request, text)

            return _act(request, pk, action)

        return view

    return decorate


@_action(APPROVE_RECORDS, text_from=(DecisionForm, "comment"))
def approval_reject(request: HttpRequest, approval_request: ApprovalRequest, comment: str) -> None:
    services.approval_reject(
        approval_request=approval_request, user=request.user, comment=comment, request=request
    )
    messages.success(request, f"Rejected: {approval_request.title}. The preparer is told why.")


@_action(PREPARE_RECORDS, text_from=(NoteForm, "note"))
def approval_withdraw(request: HttpRequest, approval_request: ApprovalRequest, note: str) -> None:
    services.approval_withdraw(
        approval_request=approval_request, user=request.user, comment=note, request=request
    )
    messages.success(request, f"Withdrawn: {approval_request.title} can be edited again.")


@_action(VIEW_RECORDS)
def approval_retry(request: HttpRequest, approval_request: ApprovalRequest, _text: str) -> None:
    approval_request = services.approval_retry(
        approval_request=approval_request, user=request.user, request=request
    )
    _outcome_message(request, approval_request)


@_action(VIEW_RECORDS, text_from=(NoteForm, "note"))
def approval_comment(request: HttpRequest, approval_request: ApprovalRequest, note: str) -> None:
    services.approval_comment_add(approval_request=approval_request, user=request.user, text=note)
    messages.success(request, "Comment added.")


# --- submitting ------------------------------------------------------------------------------


def _submit(
    request: HttpRequest, submit: Callable[[str], ApprovalRequest], *, back_url: str
) -> HttpResponse:
    """Submit with the posted note; on success go to the request, otherwise back with why."""
    with _refusals_as_messages(request):
        approval_request = submit(_posted_text(request, NoteForm, "note"))
        messages.success(request, f"Submitted {approval_request.title} for approval.")
        return redirect(_detail_url(approval_request))
    return redirect(back_url)


@require_POST
@permission_required(PREPARE_RECORDS, raise_exception=True)
def submit_record(request: HttpRequest, kind: RecordKind, key: int) -> HttpResponse:
    key_text = str(key)

    def submit(note: str) -> ApprovalRequest:
        try:
            return services.approval_submit(
                kind=kind, key=key_text, user=request.user, request=request, note=note
            )
        except NotFound as err:
            raise Http404(f"DualEntry has no {kind.label} {key_text}.") from err

    return _submit(request, submit, back_url=_record_url(kind, key_text))


@require_POST
@permission_required(PREPARE_RECORDS, raise_exception=True)
def submit_proposal(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = get_object_or_404(Proposal, pk=pk)

    def submit(note: str) -> ApprovalRequest:
        return services.approval_submit(
            kind=proposal.kind, proposal=proposal, user=request.user, request=request, note=note
        )

    back_url = reverse("records:proposal_detail", kwargs={"pk": proposal.pk})
    return _submit(request, submit, back_url=back_url)


# --- change requests and archiving -----------------------------------------------------------


def _open_request_refusal(kind: RecordKind, key: str) -> tuple[str, str] | None:
    """(message, where to go) when the record already has an open request: one at a time."""
    open_request = selectors.open_request_for(kind=kind.slug, key=key)
    if open_request is None:
        return None
    return (
        f"{kind.label.capitalize()} {key} already has an open approval request.",
        _detail_url(open_request),
    )


def _change_refusal(kind: RecordKind, key: str, record) -> tuple[str, str]:
    """(message, where to go) when a record cannot take a change request now."""
    open_refusal = _open_request_refusal(kind, key)
    if open_refusal:
        return open_refusal
    status = record.get(kind.status_field)
    if status != "posted":
        return (
            f"{kind.label.capitalize()} {key} is {status}: change requests are for posted "
            "records; edit a draft directly.",
            _record_url(kind, key),
        )
    return "", ""


def _archive_refusal(kind: RecordKind, key: str, record) -> tuple[str, str]:
    open_refusal = _open_request_refusal(kind, key)
    if open_refusal:
        return open_refusal
    if record.get(kind.status_field) == "archived":
        return f"{kind.label.capitalize()} {key} is already archived.", _record_url(kind, key)
    return "", ""


PROPOSE_CHANGE = form_page.RecordPageText(
    title="Propose a change to {label} {key}",
    url_name="approvals:change_record",
    submit_label="Submit change for approval",
    notices=(
        "The change is kept in the portal and applied in DualEntry only after another person "
        "approves it.",
    ),
)


@require_http_methods(["GET", "POST"])
@permission_required(PREPARE_RECORDS, raise_exception=True)
@upstream_failures
def change_record(request: HttpRequest, kind: RecordKind, key: int) -> HttpResponse:
    """A posted record in the edit form; saving files a change request (nothing is sent to
    DualEntry until another person approves it). Reuses the edit pages' forms and template."""
    if not kind.can_update:
        raise Http404(f"DualEntry does not allow {kind.label_plural} to be changed.")
    key_text = str(key)

    if request.method == "GET":
        record = getattr(get_client(), kind.resource).get(key_text)
        refusal, go_to = _change_refusal(kind, key_text, record)
        if refusal:
            messages.info(request, refusal)
            return redirect(go_to)
        payload = selectors.current_payload(kind=kind, key=key_text, record=record)
        form, formset, expected = form_page.record_forms(kind, record, payload)
        state = form_page.loaded_state(record, payload, expected)
        page = form_page.record_page(PROPOSE_CHANGE, kind, key_text, (form, formset), state)
        return form_page.render_form_page(request, page)

    form, formset, control, base_payload = form_page.posted_record_forms(request, kind)
    state = form_page.posted_state(request)
    page = form_page.record_page(PROPOSE_CHANGE, kind, key_text, (form, formset), state)
    payload = form_page.valid_body(request, page, control, record_status="posted", again="submit")
    if isinstance(payload, HttpResponse):
        return payload
    try:
        approval_request = services.change_request_submit(
            kind=kind,
            key=key_text,
            payload=payload,
            base_payload=base_payload,
            user=request.user,
            request=request,
        )
    except services.ApprovalNotAllowed:
        raise
    except services.REFUSALS as err:
        page.problem = str(err)
        return form_page.render_form_page(request, page, status=409)
    except DualEntryError as error:
        return form_page.upstream_failure_response(request, page, error, creating=False)
    messages.success(request, f"Submitted the {approval_request.title} for approval.")
    return form_page.redirect_to(request, _detail_url(approval_request))


@require_http_methods(["GET", "POST"])
@permission_required(PREPARE_RECORDS, raise_exception=True)
@upstream_failures
def archive_record(request: HttpRequest, kind: RecordKind, key: int) -> HttpResponse:
    """Confirm archiving a record; submitting files an archive request (nothing is sent)."""
    key_text = str(key)
    if not kind.can_update:
        raise Http404(f"DualEntry does not allow {kind.label_plural} to be archived.")
    form = NoteForm(request.POST if request.method == "POST" else None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            approval_request = services.archive_request_submit(
                kind=kind,
                key=key_text,
                user=request.user,
                request=request,
                note=form.cleaned_data["note"],
            )
        except services.ApprovalNotAllowed:
            raise
        except services.REFUSALS as err:
            error = str(err)
        else:
            messages.success(request, f"Submitted the {approval_request.title} for approval.")
            return redirect(_detail_url(approval_request))
    record = getattr(get_client(), kind.resource).get(key_text)
    if request.method == "GET":
        refusal, go_to = _archive_refusal(kind, key_text, record)
        if refusal:
            messages.info(request, refusal)
            return redirect(go_to)
    context = {"kind": kind, "key": key_text, "record": record, "form": form, "error": error}
    return render(request, "approvals/archive.html", context, status=422 if error else 200)
