"""Reads for attachments: who may attach files to which record, and the panel a detail page shows.

The permission rule lives here once; the upload service enforces it and the panel uses it to
decide whether to offer the upload form (the view checks again, never only the template).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from portal.approvals.models import ApprovalRequest
from portal.permissions import APPROVE_RECORDS, PREPARE_RECORDS
from portal.records.attachment_types import allowed_types
from portal.records.kinds import RecordKind


def may_upload_anywhere(*, user) -> bool:
    """Whether the user may attach files to some record (the upload view's first gate)."""
    return user.has_perm(PREPARE_RECORDS) or user.has_perm(APPROVE_RECORDS)


def upload_refusal(*, kind: RecordKind, record: Mapping[str, Any] | None, user) -> str:
    """Why `user` may not attach files to `record`, as a sentence; "" when they may.

    Drafts take attachments from those who prepare records. Attachments cannot be removed
    through the API, and a posted record is in the books: only approvers (who decide on changes
    to posted records) may add evidence to it. Archived records take none, and neither do
    records with an open approval request.
    """
    if not kind.can_upload:
        return f"DualEntry API v2 does not accept attachments for {kind.label_plural}."
    status = str((record or {}).get(kind.status_field) or "")
    if (
        record is not None
        and ApprovalRequest.objects.open_for(kind.slug, kind.key_of(record)).exists()
    ):
        # Posting sends the approved body, attachments as they were when it was submitted:
        # a file added meanwhile would be dropped from the record by that PUT.
        return (
            f"This {kind.label} is waiting for an approval decision. Attach files after it "
            "is decided or withdrawn: the version being approved would not keep them."
        )
    if status == "draft":
        if user.has_perm(PREPARE_RECORDS):
            return ""
        return f"Only preparers can attach files to a draft {kind.label}."
    if status == "posted":
        if user.has_perm(APPROVE_RECORDS):
            return ""
        return (
            f"This {kind.label} is posted: only approvers can attach files to it. "
            "Ask an approver to add the files."
        )
    if status:
        return f"This {kind.label} is {status}; files can no longer be attached to it."
    return f"The status of this {kind.label} is unknown, so files cannot be attached to it."


@dataclass(frozen=True)
class AttachmentItem:
    id: Any
    file_name: str
    file_size: int | None
    download_url: str  # "" when DualEntry gave none (or one that is not a web address)


@dataclass(frozen=True)
class AttachmentPanel:
    """Everything `records/_attachments.html` shows."""

    kind: RecordKind
    key: str
    record_label: str  # "customer refund 1042"
    items: list[AttachmentItem]
    can_upload: bool  # the form is offered
    refusal: str  # why not, when the kind takes attachments but this user or record does not
    supported: bool  # the kind takes attachments at all
    max_file_size: int
    max_request_size: int
    accept: str  # the file input's accept attribute: extensions and MIME types
    type_names: list[str] = field(default_factory=list)  # "PDF", "PNG", ... for the help text
    record_loaded: bool = True  # False when DualEntry could not be asked for the record
    outcomes: list[Any] = field(default_factory=list)  # FileOutcome of the upload just made
    problem: str = ""  # a failure of the whole upload, as a sentence


def attachment_items(*, record: Mapping[str, Any] | None) -> list[AttachmentItem]:
    """The record's attachments in the order DualEntry lists them."""
    record = record or {}
    # Contracts list theirs under contract_attachments (set when the contract is created).
    attachments = record.get("attachments") or record.get("contract_attachments") or []
    items = []
    for attachment in attachments:
        url = str(attachment.get("download_url") or "")
        # Only web addresses become links: a javascript: or data: URL never reaches a page.
        if urlsplit(url).scheme not in ("http", "https"):
            url = ""
        size = attachment.get("file_size")
        items.append(
            AttachmentItem(
                id=attachment.get("id"),
                file_name=str(attachment.get("file_name") or "(no name)"),
                file_size=int(size) if size is not None else None,
                download_url=url,
            )
        )
    return items


def attachment_panel(
    *,
    kind: RecordKind,
    key: str,
    record: Mapping[str, Any] | None,
    user,
    outcomes: list[Any] | None = None,
    problem: str = "",
) -> AttachmentPanel:
    """The attachments section of a detail page, optionally with the outcome of an upload."""
    refusal = upload_refusal(kind=kind, record=record, user=user) if record is not None else ""
    types = list(allowed_types().values())
    accept = sorted(
        {extension for file_type in types for extension in file_type.extensions}
        | {file_type.mime_type for file_type in types}
    )
    return AttachmentPanel(
        kind=kind,
        key=str(key),
        record_label=f"{kind.label} {key}",
        items=attachment_items(record=record),
        can_upload=record is not None and not refusal,
        refusal=refusal,
        supported=kind.can_upload,
        max_file_size=settings.ATTACHMENT_MAX_FILE_SIZE,
        max_request_size=settings.ATTACHMENT_MAX_REQUEST_SIZE,
        accept=",".join(accept),
        type_names=[file_type.extension.lstrip(".").upper() for file_type in types],
        record_loaded=record is not None,
        outcomes=list(outcomes or []),
        problem=problem,
    )
