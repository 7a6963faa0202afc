"""The attachment upload view: POST /<kind>/<key>/attachments/ (url name `records:upload`).

Downloads need no view of ours: DualEntry's `download_url` is a plain link the browser can
follow without the API key (the sandbox serves it without one; the spec declares no auth for
it), and the detail page is already behind the portal's log-in and view permission.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django_htmx.http import reswap, retarget

from dualentry_api.errors import DualEntryError
from portal.records.attachment_selectors import attachment_panel, may_upload_anywhere
from portal.records.attachments import attachments_upload, upload_target
from portal.records.kinds import RecordKind
from portal.records.upload_handlers import AttachmentUploadHandler

logger = logging.getLogger(__name__)

# Room for the multipart framing around the files (part headers, the CSRF field, boundaries).
MULTIPART_ALLOWANCE = 64 * 1024
TEMPLATE = "records/_attachments.html"


@csrf_exempt  # checked by csrf_protect in _upload, after our upload handler is installed
@require_POST
def upload(request: HttpRequest, kind: RecordKind, key: int | str) -> HttpResponse:
    """Attach files to a record. Checks that need no file content come before the body is read.

    CsrfViewMiddleware would read request.POST (and so every uploaded file, with Django's
    default handlers) before the view could choose how files are received; Django's documented
    way out is csrf_exempt here and csrf_protect on the part that reads the body.
    """
    key = str(key)
    if not may_upload_anywhere(user=request.user):
        raise PermissionDenied("Your role does not allow attaching files.")
    if not kind.can_upload:
        raise PermissionDenied(
            f"DualEntry API v2 does not accept attachments for {kind.label_plural}."
        )
    content_length = int(request.META.get("CONTENT_LENGTH") or 0)
    limit = settings.ATTACHMENT_MAX_REQUEST_SIZE
    if content_length > limit + MULTIPART_ALLOWANCE:
        # Refused without reading the body: nothing of it reaches memory or disk.
        return _refuse_whole(
            request,
            kind=kind,
            key=key,
            problem=(
                f"Nothing was attached: these files add up to {filesizeformat(content_length)}, "
                f"and one upload may be at most {filesizeformat(limit)}. "
                "Attach them in several uploads."
            ),
        )
    try:
        # Read the record and check the person may attach files to it before the body is read.
        record = upload_target(kind=kind, key=key, user=request.user)
    except DualEntryError as error:
        logger.warning("Attachment upload: could not read %s %s: %s", kind.slug, key, error)
        return _refuse_whole(
            request,
            kind=kind,
            key=key,
            problem=(
                f"Nothing was attached: the {kind.label} could not be read from DualEntry. "
                f"{error.user_message}"
            ),
        )
    request.upload_handlers = [AttachmentUploadHandler(request)]
    return _upload(request, kind=kind, key=key, record=record)


@csrf_protect
def _upload(request: HttpRequest, *, kind: RecordKind, key: str, record) -> HttpResponse:
    files = request.FILES.getlist("files")
    if request.POST.get("confirm") != "yes":
        for upload in files:
            upload.close()
        return _refuse_whole(
            request,
            kind=kind,
            key=key,
            problem=(
                "Nothing was attached: confirm that the files belong to this record "
                "(DualEntry cannot remove attachments once they are added)."
            ),
        )
    result = attachments_upload(
        kind=kind, key=key, files=files, user=request.user, request=request, record=record
    )
    if not request.htmx:
        for outcome in result.outcomes:
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            messages.add_message(request, level, outcome.message)
        if result.problem and not result.outcomes:
            messages.error(request, result.problem)
        return redirect(reverse("records:detail", args=[kind.slug, key]), permanent=False)
    panel = attachment_panel(
        kind=kind,
        key=key,
        record=result.record,
        user=request.user,
        outcomes=result.outcomes,
        problem=result.problem,
    )
    if result.record is None:  # DualEntry could not be read: keep the page's list and form
        return _report(request, kind=kind, key=key, panel=panel)
    status = 200 if result.uploaded else 422
    return render(
        request, TEMPLATE, {"kind": kind, "key": key, "attachments_panel": panel}, status=status
    )


def _refuse_whole(request: HttpRequest, *, kind: RecordKind, key: str, problem: str):
    """The whole upload refused before any file was looked at: say why, send nothing."""
    if not request.htmx:
        messages.error(request, problem)
        return redirect(reverse("records:detail", args=[kind.slug, key]), permanent=False)
    panel = attachment_panel(kind=kind, key=key, record=None, user=request.user, problem=problem)
    return _report(request, kind=kind, key=key, panel=panel)


def _report(request: HttpRequest, *, kind: RecordKind, key: str, panel) -> HttpResponse:
    """Only the report above the form (htmx): the list and the chosen files stay as they are."""
    response = render(
        request,
        f"{TEMPLATE}#report",
        {"kind": kind, "key": key, "attachments_panel": panel},
        status=422,
    )
    return reswap(retarget(response, "#attachment-report"), "innerHTML")
