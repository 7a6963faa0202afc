"""What is inside an upload: archives that explode or nest, PDFs that are something else.

The checks run on the received copy before anything goes to DualEntry: unit tests call
`content_refusal` directly, the end-to-end ones post through the upload view to the sandbox and
count what reached it.
"""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dualentry_api.client import get_client
from portal.audit import actions
from portal.audit.models import AuditEvent
from portal.records import attachment_types as types
from portal.records.kinds import KINDS
from tests.records import attachment_samples as samples

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    return samples.zip_bomb_xlsx(inflated_mb=500)


def refusal(content: bytes) -> str:
    return types.content_refusal(io.BytesIO(content))


# --- archives -----------------------------------------------------------------------------------


def test_zip_bomb_is_small_on_disk_and_refused_without_unpacking_it(zip_bomb):
    assert len(zip_bomb) < 1024 * 1024
    with zipfile.ZipFile(io.BytesIO(zip_bomb)) as archive:
        assert sum(entry.file_size for entry in archive.infolist()) > 500 * 1000 * 1000
    started = time.perf_counter()
    reason = refusal(zip_bomb)
    assert time.perf_counter() - started < 2  # decided from the directory, not by inflating
    assert "would unpack to 500.0\xa0MB, more than the 256.0\xa0MB" in reason


def test_compression_ratio_is_limited_per_entry(settings):
    settings.ATTACHMENT_ARCHIVE_MAX_INFLATED_SIZE = 1024 * 1024 * 1024
    reason = refusal(samples.zip_bomb_xlsx(inflated_mb=20))
    assert "compressed" in reason and "times (its part “xl/worksheets/sheet1.xml”)" in reason
    assert "at most 100 times" in reason


def test_compression_limit_is_configurable(settings):
    settings.ATTACHMENT_ARCHIVE_MAX_RATIO = 2000
    assert refusal(samples.zip_bomb_xlsx(inflated_mb=20)) == ""


def test_archive_nested_in_an_office_file_is_refused():
    reason = refusal(samples.xlsx_with_nested_zip())
    assert "another compressed archive (“xl/media/image1.png”) packed inside it" in reason


def test_workbook_embedded_in_a_word_document_is_accepted_and_checked_too():
    assert refusal(samples.docx_with_embedded_xlsx()) == ""
    reason = refusal(samples.docx_with_embedded_xlsx(samples.xlsx_with_nested_zip()))
    assert "“xl/media/image1.png”" in reason


def test_too_many_entries_is_refused(settings):
    settings.ATTACHMENT_ARCHIVE_MAX_ENTRIES = 50
    reason = refusal(samples.xlsx_with_many_entries(60))
    assert "a compressed package of 62 files, more than the 50 the portal checks" in reason
    assert refusal(samples.xlsx_with_many_entries(40)) == ""


def test_damaged_entry_is_refused():
    content = bytearray(samples.xlsx())
    at = content.index(b"xl/workbook.xml") + len("xl/workbook.xml")  # first local entry's data
    content[at : at + 4] = b"\xff\xff\xff\xff"
    assert "it is damaged" in refusal(bytes(content))


@pytest.mark.parametrize(
    "content",
    [samples.xlsx(), samples.docx(), samples.docx(macros=True), samples.plain_zip()],
    ids=["xlsx", "docx", "docm", "zip"],
)
def test_ordinary_archives_pass(content):
    assert refusal(content) == ""


# --- PDF ---------------------------------------------------------------------------------------


def test_genuine_pdfs_pass():
    assert refusal(samples.pdf()) == ""
    assert refusal(samples.pdf(size=3 * 1024 * 1024)) == ""


def test_pdf_headed_web_page_is_refused():
    reason = refusal(samples.pdf_headed_html())
    assert reason.startswith("it starts like a PDF document, but it holds web-page code (HTML)")
    assert types.detect_type(io.BytesIO(samples.pdf_headed_html())) is types.PDF  # the old check


def test_pdf_with_a_script_page_inside_is_refused():
    assert "web-page code (HTML)" in refusal(samples.pdf_with_script_page())


@pytest.mark.parametrize(
    ("content", "finding"),
    [
        (b"%PDF-1.7\nhello there, nothing else\n", "does not end the way every PDF ends"),
        (b"%PDF-1.7\njust words\nstartxref\n0\n%%EOF\n", "none of the objects"),
        (
            b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
            "lacks the index (cross-reference table)",
        ),
        (
            b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\nstartxref\n9\n%%EOF\n",
            "lacks the index (cross-reference table)",
        ),
        (samples.pdf() + b"\n" * 2000, "does not end the way every PDF ends"),
    ],
    ids=["no-eof", "no-objects", "no-xref", "only-startxref", "eof-far-from-end"],
)
def test_pdf_without_a_pdf_structure_is_refused(content, finding):
    assert finding in refusal(content)


def test_a_pdf_with_a_cross_reference_stream_passes():
    content = (
        b"%PDF-1.5\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
        b"2 0 obj\n<< /Type /XRef /Size 3 /W [1 2 1] /Length 0 >>\nstream\n\nendstream\nendobj\n"
        b"startxref\n52\n%%EOF\n"
    )
    assert refusal(content) == ""


def test_other_formats_are_not_inspected():
    assert refusal(samples.png()) == "" and refusal(samples.csv()) == ""


# --- through the upload view, against the sandbox ----------------------------------------------


def _draft_refund() -> str:
    page = get_client().customer_refunds.list(filters={"record_status": ["draft"]}, limit=1)
    return str(page.items[0]["number"])


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_settings")
def test_zip_bomb_and_polyglot_never_reach_dualentry(login_as, preparer, sandbox, zip_bomb):
    key = _draft_refund()
    files = [
        SimpleUploadedFile("figures.xlsx", zip_bomb, content_type=XLSX_TYPE),
        SimpleUploadedFile("receipt.pdf", samples.pdf_headed_html(), "application/pdf"),
        SimpleUploadedFile("ledger.xlsx", samples.xlsx_with_nested_zip(), content_type=XLSX_TYPE),
        SimpleUploadedFile("fine.pdf", samples.pdf(), "application/pdf"),
    ]
    try:
        response = login_as(preparer).post(
            reverse("records:upload", args=["refunds", key]),
            {"files": files, "confirm": "yes"},
            HTTP_HX_REQUEST="true",
        )
        page = response.content.decode()
        assert response.status_code == 200
        assert "“figures.xlsx” was not attached: it would unpack to 500.0\xa0MB" in page
        assert "“receipt.pdf” was not attached: it starts like a PDF document" in page
        assert "“ledger.xlsx” was not attached: it has another compressed archive" in page
        assert "“fine.pdf” was attached" in page
        path = f"/public/v2/{KINDS['refunds'].resource.replace('_', '-')}/{key}/attachments/"
        assert sandbox.request_count(path, "POST") == 1
        refused = AuditEvent.objects.filter(action=actions.ATTACHMENT_REFUSED, key=key)
        assert {event.changes["file_name"][1] for event in refused} == {
            "figures.xlsx",
            "receipt.pdf",
            "ledger.xlsx",
        }
    finally:
        sandbox.reset()
