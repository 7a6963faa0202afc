"""Attachment checks without HTTP: type from content, name cleaning, the upload handler."""

import hashlib
import io
import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from portal.records import attachment_types as types
from portal.records.attachments import MAX_NAME_LENGTH, clean_file_name
from portal.records.upload_handlers import AttachmentUploadHandler
from tests.records import attachment_samples as samples
from tests.records.attachment_support import open_files_under


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (samples.pdf(), types.PDF),
        (samples.png(), types.PNG),
        (samples.jpeg(), types.JPEG),
        (samples.gif(), types.GIF),
        (samples.webp(), types.WEBP),
        (samples.tiff(), types.TIFF),
        (samples.csv(), types.CSV),
        (b"Name;Betrag\nM\xfcller;12,50\nSchmidt;3,00\n", types.CSV),  # cp1252, semicolons
        (samples.text(), types.TEXT),
        ("hello\r\n".encode("utf-16"), types.TEXT),
        (samples.eml(), types.EML),
        (samples.docx(), types.DOCX),
        (samples.xlsx(), types.XLSX),
        (samples.docx(macros=True), types.MACRO_OFFICE),
        (samples.plain_zip(), types.ZIP),
        (samples.elf(), types.LINUX_PROGRAM),
        (samples.windows_exe(), types.WINDOWS_PROGRAM),
        (b"#!/bin/sh\nrm -rf /\n", types.SCRIPT),
        (samples.html(), types.MARKUP),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, types.LEGACY_OFFICE),
        (bytes(range(256)) * 4, types.BINARY),
    ],
    ids=lambda value: value.name if isinstance(value, types.FileType) else None,
)
def test_type_is_detected_from_content(content, expected):
    assert types.detect_type(io.BytesIO(content)) is expected


def test_detection_ignores_names_and_restores_the_position():
    fileobj = io.BytesIO(samples.elf())
    fileobj.name = "invoice.pdf"
    fileobj.seek(5)
    assert types.detect_type(fileobj) is types.LINUX_PROGRAM
    assert fileobj.tell() == 5


def test_text_with_a_binary_tail_is_not_text():
    # The head alone looks like text; the check reads the whole file.
    content = b"harmless looking line\n" * 5000 + samples.elf()
    assert len(content) > types.HEAD_SIZE
    assert types.detect_type(io.BytesIO(content)) is types.BINARY


def test_a_zip_that_is_damaged_is_not_an_office_file():
    broken = samples.docx()[:40]
    assert types.detect_type(io.BytesIO(broken)) is types.BINARY


def test_allowed_types_follow_the_setting(settings):
    settings.ATTACHMENT_ALLOWED_TYPES = ["pdf", "JPG", ".tif"]
    assert list(types.allowed_types()) == ["pdf", "jpeg", "tiff"]


def test_unknown_allowed_type_is_a_configuration_error(settings):
    settings.ATTACHMENT_ALLOWED_TYPES = ["pdf", "exe"]
    with pytest.raises(ImproperlyConfigured, match="exe"):
        types.allowed_types()


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\maria\\scan.tif", "scan.tif"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # RTL override dropped: no disguise
        ("résumé 📎 März.pdf", "résumé 📎 März.pdf"),  # unicode kept
        ("報告書.pdf", "報告書.pdf"),
        ("  .hidden  ", "hidden"),
        ("a<b>c:d|e?f*.pdf", "a_b_c_d_e_f_.pdf"),
        ('say "hi".txt', "say _hi_.txt"),
        ("tab\there\x00and\x1bnul.csv", "tabhereandnul.csv"),
        ("zero\u200bwidth.pdf", "zerowidth.pdf"),
        ("CON.txt", "_CON.txt"),
        ("", "attachment"),
        ("...", "attachment"),
        ("e\u0301te\u0301.pdf", "été.pdf"),  # NFC
    ],
)
def test_file_names_are_cleaned(raw, cleaned):
    assert clean_file_name(raw) == cleaned


def test_absurdly_long_names_are_cut_keeping_the_extension():
    cleaned = clean_file_name("x" * 300 + ".pdf")
    assert len(cleaned) == MAX_NAME_LENGTH
    assert cleaned.endswith("x.pdf")


@given(st.text(max_size=400))
def test_any_name_cleans_to_something_safe(raw):
    cleaned = clean_file_name(raw)
    assert 0 < len(cleaned) <= MAX_NAME_LENGTH
    assert not any(ch in cleaned for ch in '/\\<>:"|?*\x00\n\r\u202e\u202d\u2066\u2067')
    assert not cleaned.startswith(".")
    assert clean_file_name(cleaned) == cleaned  # cleaning is idempotent


# --- the upload handler ------------------------------------------------------------------------


def _receive(handler: AttachmentUploadHandler, content: bytes, *, content_length: int):
    handler.handle_raw_input(None, {}, content_length, b"boundary")
    handler.new_file("files", "scan.pdf", "application/pdf", len(content))
    received = 0
    for start in range(0, len(content), handler.chunk_size):
        chunk = content[start : start + handler.chunk_size]
        handler.receive_data_chunk(chunk, received)
        received += len(chunk)
    return handler.file_complete(received)


def test_handler_hashes_while_receiving_into_an_unnamed_temporary_file(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    content = samples.pdf(size=300_000)
    upload = _receive(AttachmentUploadHandler(), content, content_length=len(content) + 500)

    assert upload.sha256 == hashlib.sha256(content).hexdigest()
    assert upload.size == len(content)
    assert not upload.over_limit
    assert os.listdir(tmp_path) == []  # no name on disk, ever
    assert len(open_files_under(tmp_path)) == 1  # but the content is in a file there
    assert upload.read() == content
    upload.close()
    assert open_files_under(tmp_path) == []  # closed: the space is freed


def test_handler_keeps_small_requests_in_memory(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    content = samples.png()
    upload = _receive(AttachmentUploadHandler(), content, content_length=len(content) + 500)
    assert isinstance(upload.file, io.BytesIO)
    assert upload.sha256 == hashlib.sha256(content).hexdigest()
    assert open_files_under(tmp_path) == []


def test_handler_drops_a_file_over_the_limit_as_soon_as_it_passes_it(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    handler = AttachmentUploadHandler(max_file_size=100_000)
    handler.handle_raw_input(None, {}, 10**6, b"boundary")
    handler.new_file("files", "big.pdf", "application/pdf", None)
    handler.receive_data_chunk(b"x" * 65536, 0)
    assert len(open_files_under(tmp_path)) == 1
    handler.receive_data_chunk(b"x" * 65536, 65536)  # passes 100 000 bytes
    assert open_files_under(tmp_path) == []
    handler.receive_data_chunk(b"x" * 65536, 131072)
    upload = handler.file_complete(196608)
    assert upload.over_limit
    assert upload.size == 196608
    assert upload.read() == b""
    assert upload.sha256 == ""


def test_interrupted_upload_leaves_nothing_open(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    handler = AttachmentUploadHandler()
    handler.handle_raw_input(None, {}, 10**6, b"boundary")
    handler.new_file("files", "scan.pdf", "application/pdf", None)
    handler.receive_data_chunk(b"%PDF-" + b"x" * 5000, 0)
    assert len(open_files_under(tmp_path)) == 1
    handler.upload_interrupted()
    assert open_files_under(tmp_path) == []
