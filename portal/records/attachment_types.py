"""What a file really is, judged from its content, never from its name.

The portal passes attachments on to DualEntry, where colleagues and auditors open them later, so
it accepts only the document and image formats a finance team exchanges, and says plainly what a
refused file turned out to be ("contains a Windows program").

Why no library: the allowed set is small and every format in it has a fixed signature, except
the ones no magic-number library settles on its own. Office files are ZIP archives (we look at
`[Content_Types].xml` and the `word/` or `xl/` parts), and CSV, plain text and e-mail need text
heuristics. `puremagic` (the last release for Python 3.11, 1.30) ranks DOCX, XLSX and PPTX equally
for any Office file, finds nothing in CSV or text, and uses the file name to break ties, which is
what this check must not do; `filetype` is unmaintained since 2022 and `python-magic` needs the C
libmagic on every machine. The signatures below are the formats' own published ones.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.template.defaultfilters import filesizeformat

# How much of the start of a file decides its type; text checks also read the whole file.
HEAD_SIZE = 64 * 1024
_TEXT_CHUNK = 1024 * 1024
# [Content_Types].xml is a few kilobytes; anything larger is not an Office file we accept.
_CONTENT_TYPES_MAX = 1024 * 1024


@dataclass(frozen=True)
class FileType:
    """A format the portal can name. `name` is what ATTACHMENT_ALLOWED_TYPES lists."""

    name: str
    label: str  # "PDF document": read as "contains a PDF document"
    mime_type: str
    extensions: tuple[str, ...]  # the first is added to names that have none

    @property
    def extension(self) -> str:
        return self.extensions[0]

    def __str__(self) -> str:
        return self.label


def _type(name: str, label: str, mime_type: str, *extensions: str) -> FileType:
    return FileType(name, label, mime_type, extensions)


# The MIME types of Office's own formats (Excel, Word, PowerPoint) all start so.
_OFFICE_XML = "application/vnd.openxmlformats-officedocument."

# Formats that may be allowed through ATTACHMENT_ALLOWED_TYPES (the first eleven by default).
PDF = _type("pdf", "PDF document", "application/pdf", ".pdf")
PNG = _type("png", "PNG image", "image/png", ".png")
JPEG = _type("jpeg", "JPEG image", "image/jpeg", ".jpg", ".jpeg", ".jpe", ".jfif")
GIF = _type("gif", "GIF image", "image/gif", ".gif")
WEBP = _type("webp", "WebP image", "image/webp", ".webp")
TIFF = _type("tiff", "TIFF image", "image/tiff", ".tif", ".tiff")
CSV = _type("csv", "CSV table", "text/csv", ".csv", ".txt", ".tsv")
TEXT = _type("txt", "plain text file", "text/plain", ".txt", ".text", ".log", ".csv", ".tsv")
XLSX = _type("xlsx", "Excel workbook", _OFFICE_XML + "spreadsheetml.sheet", ".xlsx")
DOCX = _type("docx", "Word document", _OFFICE_XML + "wordprocessingml.document", ".docx")
EML = _type("eml", "e-mail message", "message/rfc822", ".eml")
PPTX = _type(
    "pptx", "PowerPoint presentation", _OFFICE_XML + "presentationml.presentation", ".pptx"
)
ZIP = _type("zip", "ZIP archive", "application/zip", ".zip")

ALLOWABLE_TYPES: dict[str, FileType] = {
    file_type.name: file_type
    for file_type in (PDF, PNG, JPEG, GIF, WEBP, TIFF, CSV, TEXT, XLSX, DOCX, EML, PPTX, ZIP)
}
# Aliases people write in the setting.
_ALIASES = {"jpg": "jpeg", "tif": "tiff", "text": "txt"}

# Recognised only to say what a refused file is; no setting can allow these.
WINDOWS_PROGRAM = _type("exe", "Windows program", "application/x-msdownload", ".exe")
LINUX_PROGRAM = _type("elf", "Linux program", "application/x-executable", "")
MAC_PROGRAM = _type("macho", "macOS program", "application/x-mach-binary", "")
SCRIPT = _type("script", "script", "text/x-script", ".sh")
MACRO_OFFICE = _type(
    "office-macro", "Office file with macros", "application/vnd.ms-office.macroenabled", ""
)
LEGACY_OFFICE = _type(
    "ole", "legacy Office file (.doc or .xls)", "application/x-ole-storage", ".doc"
)
MARKUP = _type("markup", "web page or markup file (HTML, SVG or XML)", "text/html", ".html")
BINARY = _type("binary", "file of an unknown binary format", "application/octet-stream", "")


def allowed_types() -> dict[str, FileType]:
    """The types ATTACHMENT_ALLOWED_TYPES names, read at call time."""
    chosen: dict[str, FileType] = {}
    unknown = []
    for raw_name in settings.ATTACHMENT_ALLOWED_TYPES:
        name = _ALIASES.get(raw_name.strip().lower().lstrip("."), raw_name.strip().lower())
        if name in ALLOWABLE_TYPES:
            chosen[name] = ALLOWABLE_TYPES[name]
        elif name:
            unknown.append(raw_name)
    if unknown:
        raise ImproperlyConfigured(
            f"ATTACHMENT_ALLOWED_TYPES names unknown types {', '.join(unknown)}; "
            f"known types are {', '.join(ALLOWABLE_TYPES)}."
        )
    return chosen


def detect_type(fileobj: IO[bytes]) -> FileType:
    """The format of a seekable binary file, from its content; the position is restored.

    Always returns a type: BINARY when nothing matched. Text formats are confirmed over the
    whole file, so a text head cannot smuggle a binary tail.
    """
    position = fileobj.tell()
    try:
        fileobj.seek(0)
        head = fileobj.read(HEAD_SIZE)
        signature_type = _by_signature(head)
        if signature_type is ZIP:
            return _zip_type(fileobj)
        if signature_type is not None:
            return signature_type
        return _text_type(fileobj, head)
    finally:
        fileobj.seek(position)


def _by_signature(head: bytes) -> FileType | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF and BigTIFF
        return TIFF
    # PDF readers accept the header anywhere in the first kilobyte.
    if b"%PDF-" in head[:1024]:
        return PDF
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ZIP
    if head.startswith(b"MZ"):
        return WINDOWS_PROGRAM
    if head.startswith(b"\x7fELF"):
        return LINUX_PROGRAM
    if head[:4] in (
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",  # universal binary (also Java class files: a program either way)
    ):
        return MAC_PROGRAM
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return LEGACY_OFFICE
    if head.startswith(b"#!"):
        return SCRIPT
    return None


def _zip_type(fileobj: IO[bytes]) -> FileType:
    """DOCX, XLSX and PPTX are ZIP archives told apart by their parts (ECMA-376 part 2)."""
    fileobj.seek(0)
    try:
        with zipfile.ZipFile(fileobj) as archive:
            names = set(archive.namelist())
            if "[Content_Types].xml" not in names:
                return ZIP
            info = archive.getinfo("[Content_Types].xml")
            if info.file_size > _CONTENT_TYPES_MAX:
                return ZIP
            content_types = archive.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError):
        # RuntimeError: encrypted entries. A damaged or locked archive is no Office file.
        return BINARY
    if b"macroEnabled" in content_types or any(
        name.lower().endswith("vbaproject.bin") for name in names
    ):
        return MACRO_OFFICE
    if "word/document.xml" in names or b"wordprocessingml.document.main" in content_types:
        return DOCX
    if "xl/workbook.xml" in names or b"spreadsheetml.sheet.main" in content_types:
        return XLSX
    if "ppt/presentation.xml" in names or b"presentationml.presentation.main" in content_types:
        return PPTX
    return ZIP


# C0 controls that never appear in text files; tab, LF, FF, CR and ^Z (old DOS end) may.
_CONTROL_BYTES = bytes(set(range(32)) - {9, 10, 12, 13, 26}) + b"\x7f"
_CONTROL_TEXT_DELETE = dict.fromkeys(_CONTROL_BYTES)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_MARKUP_START = re.compile(rb"^\s*<(?:!doctype\s+html|html|svg|\?xml|!--|script|body|head)\b", re.I)
# RFC 5322 header field: name of printable ASCII without colon, then a colon.
_HEADER_LINE = re.compile(r"^[!-9;-~]+:[ \t]?.*$")
_CONTINUATION = re.compile(r"^[ \t]+\S")
_MAIL_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "received",
    "return-path",
    "mime-version",
    "delivered-to",
    "reply-to",
    "cc",
}


def _text_type(fileobj: IO[bytes], head: bytes) -> FileType:
    encoding = _text_encoding(head)
    if encoding is None or not _whole_file_is_text(fileobj, encoding):
        return BINARY
    sample = _decode_sample(head, encoding)
    if _MARKUP_START.match(sample.encode("utf-8", "replace")):
        return MARKUP
    if _looks_like_email(sample):
        return EML
    if _looks_like_csv(sample, complete=len(head) < HEAD_SIZE):
        return CSV
    return TEXT


def _text_encoding(head: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if b"\x00" in head:  # UTF-16 without a byte-order mark, or binary
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        # Not UTF-8: spreadsheet exports from Windows are often cp1252.
        try:
            head.decode("cp1252")
        except UnicodeDecodeError:
            return None
        return "cp1252"
    return "utf-8"


def _whole_file_is_text(fileobj: IO[bytes], encoding: str) -> bool:
    fileobj.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    while chunk := fileobj.read(_TEXT_CHUNK):
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError:
            return False
        if encoding.startswith("utf-16"):
            if "\x00" in text or text.translate(_CONTROL_TEXT_DELETE) != text:
                return False
        elif chunk.translate(None, _CONTROL_BYTES) != chunk:
            return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _decode_sample(head: bytes, encoding: str) -> str:
    for bom, _ in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    return codecs.getincrementaldecoder(encoding)().decode(head, final=False)


def _looks_like_email(sample: str) -> bool:
    """A block of RFC 5322 header fields, two or more of them mail headers, then a blank line."""
    mail_headers: set[str] = set()
    for index, line in enumerate(sample.splitlines()):
        if not line.strip():
            return len(mail_headers) >= 2 and bool(mail_headers & {"from", "date", "message-id"})
        if index == 0 and line.startswith("From "):  # mbox separator line
            continue
        if index > 0 and _CONTINUATION.match(line):
            continue
        if not _HEADER_LINE.match(line):
            return False
        name = line.split(":", 1)[0].lower()
        if name in _MAIL_HEADERS:
            mail_headers.add(name)
    return False


def _looks_like_csv(sample: str, *, complete: bool) -> bool:
    """At least two rows with the same number (two or more) of delimited fields."""
    lines = sample.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the sample may end mid-row
    lines = [line for line in lines if line.strip()][:200]
    if len(lines) < 2:
        return False
    for delimiter in (",", ";", "\t", "|"):
        try:
            widths = {
                len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
            }
        except csv.Error:
            continue
        if len(widths) == 1 and widths.pop() >= 2:
            return True
    return False


# Extensions that promise a format: a name ending in one of these must hold that format.
# fmt: off
_OTHER_FORMAT_EXTENSIONS = frozenset((
    ".exe", ".dll", ".com", ".scr", ".msi", ".msp", ".bat", ".cmd", ".ps1", ".psm1", ".vbs",
    ".vbe", ".js", ".jse", ".wsf", ".wsh", ".hta", ".cpl", ".jar", ".app", ".dmg", ".pkg",
    ".deb", ".rpm", ".sh", ".bash", ".zsh", ".py", ".pl", ".rb", ".php", ".bin", ".elf", ".so",
    ".dylib", ".lnk", ".iso", ".img", ".apk", ".html", ".htm", ".xhtml", ".svg", ".xml", ".mht",
    ".mhtml", ".doc", ".xls", ".ppt", ".docm", ".xlsm", ".pptm", ".rtf", ".odt", ".ods", ".odp",
    ".7z", ".rar", ".gz", ".tgz", ".bz2", ".xz", ".tar",
))
# fmt: on


def misleading_extension(extension: str) -> bool:
    """Whether an extension promises some format (so content of another one must not wear it)."""
    extension = extension.lower()
    return extension in _OTHER_FORMAT_EXTENSIONS or any(
        extension in file_type.extensions for file_type in ALLOWABLE_TYPES.values()
    )


def extension_fits(file_name: str, file_type: FileType) -> bool:
    """Whether a name's extension is one used for this type (any case)."""
    lowered = file_name.lower()
    return any(lowered.endswith(extension) for extension in file_type.extensions if extension)


# --- content beyond the type: archives that explode, PDFs that are something else -------------
# Office files (DOCX, XLSX, PPTX) are ZIP archives, and a ZIP archive can be built to unpack to
# gigabytes from a few hundred kilobytes ("zip bomb"), or to hide another archive inside; a file
# can start like a PDF and be a web page with scripts after the first line. Both are checked here
# on the received copy, before anything is sent to DualEntry.
#
# Why no PDF library: the question is "is this file shaped like a PDF", not "can it be parsed".
# pypdf in strict mode refuses many genuine PDFs from scanners and accounting systems (slightly
# wrong xref offsets, which every reader repairs), in lenient mode it repairs almost anything,
# and in neither mode does it look for a web page hidden in the file; parsing a hostile file is
# also more code exposed to it than the few byte patterns below, which read the file once in
# 1 MB pieces. A PDF is refused when it lacks what every PDF writer emits (objects, a
# cross-reference table or stream with `startxref`, `%%EOF` at the end) or carries HTML.

_CHUNK = 1024 * 1024
_OVERLAP = 64
# Entries smaller than this are too small for their compression ratio to mean anything.
_RATIO_GRACE = 1024 * 1024
# How deep an Office file may embed another Office file (a Word report with an Excel chart).
_MAX_NESTING = 1
_ARCHIVE_SIGNATURES = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"PK\x07\x08",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\x1f\x8b",  # gzip
    b"\xfd7zXZ\x00",
    b"BZh",
    b"MSCF",  # Windows cabinet
)
_ARCHIVE_EXTENSIONS = (
    ".zip", ".7z", ".rar", ".gz", ".tgz", ".bz2", ".xz", ".tar", ".cab", ".jar", ".docx",
    ".xlsx", ".pptx", ".docm", ".xlsm", ".pptm", ".odt", ".ods", ".odp",
)  # fmt: skip
_OFFICE_EXTENSIONS = (".docx", ".xlsx", ".pptx")
# A PDF's end: `%%EOF` within its last kilobyte (PDF 1.7, annex H, note 18; readers accept that
# much trailing data), `startxref` shortly before it.
_PDF_TAIL = 1024
_PDF_XREF_TAIL = 4096
# "12 0 obj", looked for only just before each "obj" (a regex over the whole file costs a
# second per 25 MB when the objects come late).
_PDF_OBJECT = re.compile(rb"\d+[ \t\r\n\f\x00]+\d+[ \t\r\n\f\x00]+obj(?![A-Za-z0-9])")
_PDF_XREF_STREAM = re.compile(rb"/Type\s*/XRef(?![A-Za-z0-9])")
# Matched against lower-cased bytes (cheaper than re.I over megabytes of compressed streams).
_HTML_MARKER = re.compile(rb"<(?:!doctype\s+html|html|head|body|script|iframe|svg)[\s>/]")


@dataclass
class _ArchiveBudget:
    """What is left of the limits while an archive (and what it embeds) is checked."""

    entries: int
    inflated: int
    max_ratio: int


def content_refusal(fileobj: IO[bytes]) -> str:
    """Why a file cannot be passed on although its type may be allowed, as the end of a
    sentence ("it would unpack to 500 MB, ..."); "" when nothing is wrong. The position is
    restored.

    ZIP-based files (Office documents included) are inspected as archives: number of entries,
    total unpacked size, compression ratio of each entry and of the whole, archives inside, every
    entry unpacked once to check it is intact. PDFs must have a PDF's structure and no HTML.
    """
    position = fileobj.tell()
    try:
        fileobj.seek(0)
        signature_type = _by_signature(fileobj.read(HEAD_SIZE))
        if signature_type is ZIP:
            budget = _ArchiveBudget(
                entries=settings.ATTACHMENT_ARCHIVE_MAX_ENTRIES,
                inflated=settings.ATTACHMENT_ARCHIVE_MAX_INFLATED_SIZE,
                max_ratio=settings.ATTACHMENT_ARCHIVE_MAX_RATIO,
            )
            return _archive_refusal(fileobj, budget, depth=0)
        if signature_type is PDF:
            return _pdf_refusal(fileobj)
        return ""
    finally:
        fileobj.seek(position)


def _size_of(fileobj: IO[bytes]) -> int:
    fileobj.seek(0, io.SEEK_END)
    size = fileobj.tell()
    fileobj.seek(0)
    return size


def _archive_refusal(fileobj: IO[bytes], budget: _ArchiveBudget, *, depth: int) -> str:
    archive_size = _size_of(fileobj)
    declared_entries = _declared_entry_count(fileobj)
    # Checked before zipfile reads the directory: a million entries cost memory to list.
    if declared_entries is not None and declared_entries > budget.entries:
        return _too_many_entries(declared_entries)
    try:
        with zipfile.ZipFile(fileobj) as archive:
            entries = archive.infolist()
            if len(entries) > budget.entries:
                return _too_many_entries(len(entries))
            budget.entries -= len(entries)
            declared_total = sum(entry.file_size for entry in entries)
            if declared_total > budget.inflated:
                return _too_big(declared_total)
            for entry in entries:
                ratio = entry.file_size / max(entry.compress_size, 1)
                if entry.file_size > _RATIO_GRACE and ratio > budget.max_ratio:
                    return _too_compressed(ratio, entry.filename)
            overall = declared_total / max(archive_size, 1)
            if declared_total > _RATIO_GRACE and overall > budget.max_ratio:
                return _too_compressed(overall, "")
            budget.inflated -= declared_total
            for entry in entries:
                refusal = _entry_refusal(archive, entry, budget, depth=depth)
                if refusal:
                    return refusal
    except RuntimeError:  # zipfile's way of saying an entry is encrypted
        return (
            "it is password-protected, so the portal cannot check what is inside. "
            "Remove the password and attach it again."
        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error):
        return _damaged()
    return ""


def _entry_refusal(
    archive: zipfile.ZipFile, entry: zipfile.ZipInfo, budget: _ArchiveBudget, *, depth: int
) -> str:
    """Unpack one entry (zipfile stops at its declared size and checks its CRC) and refuse it
    when it is an archive itself, except an Office file embedded in an Office file (a Word
    report with an Excel chart), which is checked by the same rules."""
    if entry.is_dir():
        return ""
    lowered = entry.filename.lower()
    with archive.open(entry) as member:
        head = member.read(_CHUNK)
        chunk = head
        while chunk:
            chunk = member.read(_CHUNK)
    if not (head.startswith(_ARCHIVE_SIGNATURES) or lowered.endswith(_ARCHIVE_EXTENSIONS)):
        return ""
    embedded_office = "embeddings/" in lowered and lowered.endswith(_OFFICE_EXTENSIONS)
    if not embedded_office or depth >= _MAX_NESTING or _by_signature(head) is not ZIP:
        return _nested(entry.filename)
    with tempfile.SpooledTemporaryFile(max_size=2 * _CHUNK) as spool, archive.open(entry) as member:
        while chunk := member.read(_CHUNK):
            spool.write(chunk)
        return _archive_refusal(spool, budget, depth=depth + 1)


def _declared_entry_count(fileobj: IO[bytes]) -> int | None:
    """The entry count the end-of-central-directory record states (None when not found or
    ZIP64, where zipfile reads the real count)."""
    size = _size_of(fileobj)
    tail_size = min(size, 22 + 65535)
    fileobj.seek(size - tail_size)
    tail = fileobj.read(tail_size)
    fileobj.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    total = int.from_bytes(tail[at + 10 : at + 12], "little")
    return None if total == 0xFFFF else total


def _too_many_entries(count: int) -> str:
    limit = settings.ATTACHMENT_ARCHIVE_MAX_ENTRIES
    return (
        f"it is a compressed package of {count:,} files, more than the {limit:,} the portal "
        "checks; genuine documents hold far fewer. Ask the sender for the documents themselves."
    )


def _too_big(size: int) -> str:
    limit = filesizeformat(settings.ATTACHMENT_ARCHIVE_MAX_INFLATED_SIZE)
    return (
        f"it would unpack to {filesizeformat(size)}, more than the {limit} the portal accepts. "
        "Files built like this are meant to overwhelm the computers that open them; if it is "
        "genuine, split it into smaller files."
    )


def _too_compressed(ratio: float, entry_name: str) -> str:
    where = f" (its part “{entry_name}”)" if entry_name else ""
    return (
        f"it is compressed {ratio:,.0f} times{where}, where genuine documents are compressed at "
        f"most {settings.ATTACHMENT_ARCHIVE_MAX_RATIO:,} times. Files built like this are meant "
        "to overwhelm the computers that open them."
    )


def _nested(entry_name: str) -> str:
    return (
        f"it has another compressed archive (“{entry_name}”) packed inside it, which the portal "
        "cannot check. Attach the documents themselves instead."
    )


def _damaged() -> str:
    return "it is damaged and its contents cannot be read. Save it again and attach the new copy."


def _pdf_refusal(fileobj: IO[bytes]) -> str:
    size = _size_of(fileobj)
    fileobj.seek(max(0, size - _PDF_XREF_TAIL))
    tail = fileobj.read()
    has_object = has_endobj = has_xref = False
    previous = b""
    fileobj.seek(0)
    while chunk := fileobj.read(_CHUNK):
        window = previous + chunk
        if _HTML_MARKER.search(window.lower()):
            return _not_a_pdf("it holds web-page code (HTML)")
        has_object = has_object or _has_keyword(window, b"obj", _PDF_OBJECT, before=48)
        has_endobj = has_endobj or b"endobj" in window
        has_xref = has_xref or _has_xref(window)
        previous = chunk[-_OVERLAP:]
    if b"%%EOF" not in tail[-_PDF_TAIL:]:
        return _not_a_pdf("it does not end the way every PDF ends")
    if not (has_object and has_endobj):
        return _not_a_pdf("it has none of the objects a PDF is made of")
    if not has_xref or b"startxref" not in tail:
        return _not_a_pdf("it lacks the index (cross-reference table) every PDF has")
    return ""


def _has_keyword(window: bytes, keyword: bytes, pattern: re.Pattern, *, before: int) -> bool:
    """Whether `pattern` matches ending at one of the places `keyword` occurs in `window`."""
    at = window.find(keyword)
    while at >= 0:
        if pattern.search(window, max(0, at - before), at + len(keyword) + 1):
            return True
        at = window.find(keyword, at + len(keyword))
    return False


def _has_xref(window: bytes) -> bool:
    """A cross-reference table ("xref", not the "startxref" pointer) or an xref stream."""
    at = window.find(b"xref")
    while at >= 0:
        if window[max(0, at - 5) : at] != b"start" and not window[at + 4 : at + 5].isalnum():
            return True
        at = window.find(b"xref", at + 4)
    return _has_keyword(window, b"/XRef", _PDF_XREF_STREAM, before=24)


def _not_a_pdf(finding: str) -> str:
    return (
        f"it starts like a PDF document, but {finding}, so it is not a genuine PDF. "
        "Save or print it to PDF again and attach the new copy."
    )
