"""Attaching files to DualEntry records: checks, pass-through upload, one audit event per file.

The portal is not a file store. Each file arrives through `AttachmentUploadHandler` (memory or an
unnamed temporary file, hashed on the way in), is checked here, and is streamed on to DualEntry's
attachments endpoint. A file is closed, and its temporary copy gone, as soon as it is handled.

Each accepted file goes to DualEntry in its own request, so every file has its own outcome: one
file DualEntry refuses does not take the others with it, and the audit log can say for each file
what DualEntry answered. After a failure that would repeat for every file (DualEntry unreachable,
the key refused, the record gone, rate limited) the remaining files are not sent.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from dualentry_api.client import get_client
from dualentry_api.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    DualEntryError,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from dualentry_api.errors import PermissionDenied as UpstreamPermissionDenied
from dualentry_api.ratelimit import Lane, use_lane
from dualentry_api.records import Record
from portal.audit import actions
from portal.audit.services import audit_record
from portal.readmodel.services import mirror_record
from portal.records.attachment_selectors import upload_refusal
from portal.records.attachment_types import (
    FileType,
    allowed_types,
    content_refusal,
    detect_type,
    extension_fits,
    misleading_extension,
)
from portal.records.kinds import RecordKind
from portal.secret_input import contains_api_key

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 200
MAX_EXTENSION_LENGTH = 16
# Failures that would repeat for every remaining file: stop sending after one of these.
_STOPPING_ERRORS = (
    ConnectionFailed,
    AuthenticationFailed,
    UpstreamPermissionDenied,
    NotFound,
    RateLimited,
)
# Format characters (bidi overrides such as U+202E, zero-width), controls, surrogates,
# unassigned code points and line/paragraph separators never belong in a file name.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})
_UNSAFE_CHARACTERS = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{n}" for n in range(1, 10)}
    | {f"lpt{n}" for n in range(1, 10)}
)
_HASH_CHUNK = 1024 * 1024

CHECKED = "checked"  # passed the portal's checks, not sent yet
UPLOADED = "uploaded"
REFUSED = "refused"  # by the portal's checks: never sent
FAILED = "failed"  # sent, and DualEntry did not take it
NOT_SENT = "not_sent"  # an earlier failure made sending pointless


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file, with a sentence for the person who sent it."""

    original_name: str
    file_name: str  # the cleaned name DualEntry got (or would have got)
    size: int
    sha256: str
    content_type: str  # the detected MIME type sent to DualEntry ("" if none was detected)
    status: str  # UPLOADED | REFUSED | FAILED | NOT_SENT (CHECKED only while in progress)
    message: str
    upstream: dict | None = None

    @property
    def ok(self) -> bool:
        return self.status == UPLOADED


@dataclass
class UploadResult:
    """All files' outcomes, in the order sent, and the record as DualEntry last returned it."""

    record: Record | None
    outcomes: list[FileOutcome] = field(default_factory=list)
    problem: str = ""  # a failure that concerned the whole upload (the record could not be read)

    @property
    def uploaded(self) -> list[FileOutcome]:
        return [outcome for outcome in self.outcomes if outcome.ok]


# --- names ------------------------------------------------------------------------------------


def clean_file_name(raw_name: str) -> str:
    """A file name safe to pass on and show: no folders, no invisible or control characters, no
    characters that break headers or file systems, at most MAX_NAME_LENGTH characters with the
    extension kept. Letters of every script (and emoji) are kept."""
    name = unicodedata.normalize("NFC", raw_name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = _UNSAFE_CHARACTERS.sub("_", name)
    name = " ".join(name.split()).strip(" .")  # leading dots would hide the file on Unix
    stem, extension = split_extension(name)
    if stem.split(".")[0].lower() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    stem = stem or "attachment"
    if len(stem) + len(extension) > MAX_NAME_LENGTH:
        stem = stem[: MAX_NAME_LENGTH - len(extension)].rstrip(" .") or "attachment"
    return stem + extension


def split_extension(name: str) -> tuple[str, str]:
    """("report", ".pdf"); a dot that starts no plausible extension stays in the stem."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or not suffix.isalnum() or len(suffix) > MAX_EXTENSION_LENGTH:
        return name, ""
    return stem, f".{suffix}"


def _name_for_type(name: str, file_type: FileType) -> tuple[str, str]:
    """The name to send for content of `file_type`, or a refusal sentence.

    A name whose extension belongs to another known format ("scan.exe" holding a JPEG, "x.pdf"
    holding text) is refused: whoever opens it later would be misled. A name without a known
    extension gets the type's own ("scan.2024" -> "scan.2024.pdf").
    """
    if extension_fits(name, file_type):
        return name, ""
    _, extension = split_extension(name)
    if extension and misleading_extension(extension):
        return name, (
            f"it contains a {file_type.label}, but its name ends in {extension}. "
            f"Rename it to end in {file_type.extension} and attach it again."
        )
    stem = name[: MAX_NAME_LENGTH - len(file_type.extension)].rstrip(" .")
    return stem + file_type.extension, ""


# --- the service ------------------------------------------------------------------------------


def upload_target(*, kind: RecordKind, key: str, user) -> Record:
    """The record `user` would attach files to, read from DualEntry.

    Raises PermissionDenied (with the reason as a sentence) when this user may not attach files
    to it, and DualEntryError when it cannot be read. The upload view calls this before reading
    the request body, so a refused upload never puts a byte of it on the portal's disk.
    """
    if not kind.can_upload:
        raise PermissionDenied(_unsupported(kind))
    with use_lane(Lane.WRITE):  # the read that belongs to the upload
        record = getattr(get_client(), kind.resource).get(str(key))
    refusal = upload_refusal(kind=kind, record=record, user=user)
    if refusal:
        raise PermissionDenied(refusal)
    return record


def attachments_upload(
    *,
    kind: RecordKind,
    key: str,
    files: Sequence[Any],
    user,
    request: HttpRequest | None = None,
    record: Record | None = None,
) -> UploadResult:
    """Check each file, send the acceptable ones to DualEntry one by one, audit each file.

    `files` are Django UploadedFile objects (ideally from `AttachmentUploadHandler`, which
    hashed them already). `record` is the record as `upload_target` returned it; without it the
    record is read here. Every file is closed before this returns. Raises PermissionDenied
    (after auditing each file as refused) when the user may not attach files to this record.
    """
    key = str(key)
    try:
        with use_lane(Lane.WRITE):
            result = _upload(
                kind=kind, key=key, files=files, user=user, request=request, record=record
            )
        if result.uploaded and result.record is not None:
            mirror_record(kind=kind.slug, record=result.record)  # the copy lists the new files
        return result
    finally:
        for upload in files:
            upload.close()


def _unsupported(kind: RecordKind) -> str:
    return f"DualEntry API v2 does not accept attachments for {kind.label_plural}."


def _upload(*, kind, key, files, user, request, record) -> UploadResult:
    audit = _Auditor(kind=kind, key=key, user=user, request=request)
    if not kind.can_upload:
        for upload in files:
            audit.refused(_unchecked(upload, REFUSED, _unsupported(kind)))
        raise PermissionDenied(_unsupported(kind))
    if not files:
        return UploadResult(record=record, problem="Choose at least one file to attach.")

    resource = getattr(get_client(), kind.resource)
    if record is None:
        try:
            record = resource.get(key)
        except DualEntryError as error:
            logger.warning("Attachment upload: could not read %s %s: %s", kind.slug, key, error)
            problem = (
                f"Nothing was attached: the {kind.label} could not be read from DualEntry. "
                f"{error.user_message}"
            )
            result = UploadResult(record=None, problem=problem)
            for upload in files:
                outcome = _unchecked(upload, NOT_SENT, problem, upstream=error.upstream)
                audit.failed(outcome, error=str(error))
                result.outcomes.append(outcome)
            return result
    audit.company_id = record.get("company_id")

    # Enforced here too, whoever calls: the view's early check is a courtesy to the disk.
    refusal = upload_refusal(kind=kind, record=record, user=user)
    if refusal:
        for upload in files:
            audit.refused(_unchecked(upload, REFUSED, refusal))
        raise PermissionDenied(refusal)

    result = UploadResult(record=record)
    outcomes: list[FileOutcome | None] = [None] * len(files)
    accepted: list[tuple[int, Any, FileOutcome]] = []
    request_total = 0
    for index, upload in enumerate(files):
        checked = _check(upload, request_total=request_total)
        if checked.status == REFUSED:
            audit.refused(checked)
            outcomes[index] = checked
            upload.close()
        else:
            request_total += checked.size
            accepted.append((index, upload, checked))

    stop_reason = ""
    for index, upload, checked in accepted:
        if stop_reason:
            message = (
                f"“{checked.file_name}” was not sent, because DualEntry failed on an earlier "
                f"file: {stop_reason} Attach it again once DualEntry works."
            )
            outcome = replace(checked, status=NOT_SENT, message=message)
            audit.failed(outcome, error=outcome.message)
        else:
            outcome, returned, stop_reason = _send(
                resource, key=key, upload=upload, checked=checked
            )
            if returned is not None:
                result.record = returned
                audit.uploaded(outcome)
            else:
                audit.failed(outcome, error=outcome.message)
        upload.close()  # its temporary copy goes now, not at the end of the request
        outcomes[index] = outcome
    result.outcomes = [outcome for outcome in outcomes if outcome is not None]
    return result


def _check(upload, *, request_total: int) -> FileOutcome:
    """Check one file: an outcome with status CHECKED or REFUSED."""
    original = str(upload.name or "")
    name = clean_file_name(original)
    size = int(upload.size or 0)
    max_file_size = settings.ATTACHMENT_MAX_FILE_SIZE
    max_request_size = settings.ATTACHMENT_MAX_REQUEST_SIZE

    def outcome(status: str, message: str, **details: str) -> FileOutcome:
        return FileOutcome(
            original_name=original,
            file_name=name,
            size=size,
            sha256=details.get("sha256", ""),
            content_type=details.get("content_type", ""),
            status=status,
            message=message,
        )

    def refuse(reason: str, **details: str) -> FileOutcome:
        return outcome(REFUSED, f"“{original or name}” was not attached: {reason}", **details)

    if contains_api_key(original):
        # Refused like any text holding the key (portal.secret_input); the name stays out of
        # the outcome the audit log records, so nothing shows it redacted.
        return FileOutcome(
            original_name="",
            file_name="(name not accepted)",
            size=size,
            sha256="",
            content_type="",
            status=REFUSED,
            message=(
                "A file was not attached: its name contains a sequence of characters the portal "
                "does not accept. Rename it and attach it again."
            ),
        )
    if getattr(upload, "over_limit", False) or size > max_file_size:
        return refuse(
            f"it is {filesizeformat(size)}, and files may be at most "
            f"{filesizeformat(max_file_size)}."
        )
    if size == 0:
        return refuse("it is empty.")
    if request_total + size > max_request_size:
        return refuse(
            f"the files of one upload may add up to {filesizeformat(max_request_size)}. "
            "Attach it in a separate upload."
        )
    sha256 = getattr(upload, "sha256", "") or _sha256(upload)
    # Before the type: naming an Office file means opening its archive, so its limits go first.
    refusal = content_refusal(upload)
    if refusal:
        return refuse(refusal, sha256=sha256)
    file_type = detect_type(upload)
    allowed = allowed_types()
    if file_type.name not in allowed:
        names = ", ".join(sorted({t.extension.lstrip(".").upper() for t in allowed.values()}))
        return refuse(
            f"it contains a {file_type.label}, which cannot be attached. Accepted: {names}.",
            sha256=sha256,
            content_type=file_type.mime_type,
        )
    name, mismatch = _name_for_type(name, file_type)
    if mismatch:
        return refuse(mismatch, sha256=sha256, content_type=file_type.mime_type)
    renamed = f" (renamed from “{original}”)" if original and name != original else ""
    return outcome(CHECKED, f"“{name}”{renamed}", sha256=sha256, content_type=file_type.mime_type)


def _send(
    resource, *, key: str, upload, checked: FileOutcome
) -> tuple[FileOutcome, Record | None, str]:
    """Stream one file to DualEntry: its outcome, the record DualEntry returned (None on
    failure), and why the files after it should not be sent ("" to go on sending)."""
    fileobj: IO[bytes] = upload
    fileobj.seek(0)
    try:
        record = resource.upload_attachments(
            key, files=[(checked.file_name, fileobj, checked.content_type)]
        )
    except ValidationFailed as error:
        logger.info("DualEntry refused attachment %s: %s", checked.file_name, error)
        reasons = " ".join(
            [*error.non_field_errors, *(m for ms in error.field_errors.values() for m in ms)]
        )
        message = (
            f"DualEntry refused “{checked.file_name}”: {reasons or error.user_message} "
            "Check the file and attach it again."
        )
        return replace(checked, status=FAILED, message=message, upstream=error.upstream), None, ""
    except DualEntryError as error:
        logger.warning("Attachment upload of %s failed: %s", checked.file_name, error)
        if isinstance(error, ConnectionFailed) and error.may_have_reached_server:
            message = (
                f"“{checked.file_name}” may not have been attached: the connection to DualEntry "
                "broke while sending it. Reload the page and check the list before attaching "
                "it again."
            )
        else:
            message = (
                f"“{checked.file_name}” was not attached: {error.user_message} "
                "The portal kept no copy; attach it again once DualEntry works."
            )
        stop_reason = error.user_message if isinstance(error, _STOPPING_ERRORS) else ""
        outcome = replace(checked, status=FAILED, message=message, upstream=error.upstream)
        return outcome, None, stop_reason
    upstream = record.upstream.as_dict() if record.upstream else None
    outcome = replace(
        checked,
        status=UPLOADED,
        message=f"{checked.message} was attached ({filesizeformat(checked.size)}).",
        upstream=upstream,
    )
    return outcome, record, ""


def _unchecked(upload, status: str, message: str, *, upstream: dict | None = None) -> FileOutcome:
    """The outcome of a file refused or not sent before its own checks ran."""
    original = str(upload.name or "")
    return FileOutcome(
        original_name=original,
        file_name=clean_file_name(original),
        size=int(upload.size or 0),
        sha256=getattr(upload, "sha256", "") or "",
        content_type="",
        status=status,
        message=message,
        upstream=upstream,
    )


def _sha256(upload) -> str:
    """SHA-256 of a file that did not come through AttachmentUploadHandler."""
    digest = hashlib.sha256()
    upload.seek(0)
    while chunk := upload.read(_HASH_CHUNK):
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


# --- audit ------------------------------------------------------------------------------------


@dataclass
class _Auditor:
    """One audit event per file, all about the same record and request."""

    kind: RecordKind
    key: str
    user: Any
    request: HttpRequest | None
    company_id: Any = None

    def uploaded(self, outcome: FileOutcome) -> None:
        self._write(
            actions.ATTACHMENT_UPLOADED,
            outcome,
            summary=f"Attached “{outcome.file_name}” ({filesizeformat(outcome.size)})",
        )

    def refused(self, outcome: FileOutcome) -> None:
        self._write(
            actions.ATTACHMENT_REFUSED,
            outcome,
            summary=f"Refused attachment “{outcome.original_name or outcome.file_name}”",
            success=False,
            error=outcome.message,
        )

    def failed(self, outcome: FileOutcome, *, error: str) -> None:
        self._write(
            actions.ATTACHMENT_UPLOADED,
            outcome,
            summary=f"Attaching “{outcome.file_name}” failed",
            success=False,
            error=error,
        )

    def _write(self, action: str, outcome: FileOutcome, *, summary: str, **extra: Any) -> None:
        audit_record(
            actor=self.user,
            action=action,
            kind=self.kind.slug,
            key=self.key,
            company_id=self.company_id,
            summary=f"{summary} on {self.kind.label} {self.key}",
            after={
                "file_name": outcome.file_name,
                "original_name": outcome.original_name,
                "size": outcome.size,
                "sha256": outcome.sha256,
                "content_type": outcome.content_type,
                "outcome": outcome.status,
            },
            upstream=outcome.upstream,
            request=self.request,
            **extra,
        )
