"""Small, real files of every format the attachment checks know, made on the fly."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


def pdf(size: int = 0) -> bytes:
    """A minimal valid PDF (objects, xref table, trailer, startxref, %%EOF), padded with
    comment lines to about `size` bytes."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    catalog = b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    pages = b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    fixed = len(head) + len(catalog) + len(pages) + 160
    padding_size = max(0, size - fixed)
    padding = (b"%" + b"x" * 78 + b"\n") * (padding_size // 80) + b"%" * (padding_size % 80)
    if padding_size % 80:
        padding += b"\n"
    body = head + padding + catalog
    pages_at = len(body)
    body += pages
    xref_at = len(body)
    xref = (
        b"xref\n0 3\n0000000000 65535 f \n"
        + b"%010d 00000 n \n" % (len(head) + len(padding))
        + b"%010d 00000 n \n" % pages_at
    )
    trailer = b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return body + xref + trailer


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\x00" * 64
        + b"\xff\xd9"
    )


def gif() -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def webp() -> bytes:
    body = b"WEBPVP8L" + struct.pack("<I", 10) + b"\x2f\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tiff() -> bytes:
    return b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32


def _zip(parts: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Override PartName="/{part}" ContentType="{type}"/></Types>'
)


def docx(*, macros: bool = False) -> bytes:
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    if macros:
        main = "application/vnd.ms-word.document.macroEnabled.main+xml"
    parts = {
        "[Content_Types].xml": _CONTENT_TYPES.format(part="word/document.xml", type=main),
        "word/document.xml": "<w:document/>",
    }
    if macros:
        parts["word/vbaProject.bin"] = b"\x00" * 16
    return _zip(parts)


def xlsx() -> bytes:
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    return _zip(
        {
            "[Content_Types].xml": _CONTENT_TYPES.format(part="xl/workbook.xml", type=main),
            "xl/workbook.xml": "<workbook/>",
        }
    )


def plain_zip() -> bytes:
    return _zip({"readme.txt": "hello"})


def csv() -> bytes:
    return b"date,amount,memo\n2026-01-02,12.50,refund\n2026-01-03,7.00,fee\n"


def text() -> bytes:
    return "Customer called on 2 March asking for the refund.\nÄnderung bestätigt.\n".encode()


def eml() -> bytes:
    return (
        b"From: Maria Lopez <maria@example.com>\r\nTo: finance@example.com\r\n"
        b"Subject: Refund request\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
        b"Message-ID: <abc@example.com>\r\n\r\nPlease refund invoice 1042.\r\n"
    )


def elf() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200


def windows_exe() -> bytes:
    return (
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
        + b"\x00" * 44
        + b"PE\x00\x00"
        + b"\x00" * 200
    )


def html() -> bytes:
    return b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def pdf_headed_html() -> bytes:
    """A polyglot: a PDF header line, then a web page with a script (opened as HTML in a
    browser, sniffed as a PDF by its first bytes)."""
    return b"%PDF-1.4\n" + html() + b"\n%%EOF\n"


def pdf_with_script_page() -> bytes:
    """A PDF with every structural part, carrying a web page in an uncompressed stream."""
    valid = pdf()
    page = b"3 0 obj\n<< /Length 70 >>\nstream\n" + html() + b"\nendstream\nendobj\n"
    at = valid.index(b"xref\n")
    return valid[:at] + page + valid[at:]


def zip_bomb_xlsx(*, inflated_mb: int = 500) -> bytes:
    """An Excel workbook with one sheet of zeros that unpacks to `inflated_mb` MB from well
    under 1 MB, written a megabyte at a time (nothing near that size is held in memory)."""
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "[Content_Types].xml", _CONTENT_TYPES.format(part="xl/workbook.xml", type=main)
        )
        archive.writestr("xl/workbook.xml", "<workbook/>")
        megabyte = b"0" * (1024 * 1024)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            for _ in range(inflated_mb):
                sheet.write(megabyte)
    return buffer.getvalue()


def xlsx_with_nested_zip() -> bytes:
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    return _zip(
        {
            "[Content_Types].xml": _CONTENT_TYPES.format(part="xl/workbook.xml", type=main),
            "xl/workbook.xml": "<workbook/>",
            "xl/media/image1.png": plain_zip(),  # an archive wearing an image's name
        }
    )


def docx_with_embedded_xlsx(embedded: bytes | None = None) -> bytes:
    """A Word document with an Excel chart's workbook embedded, as Word saves charts."""
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    return _zip(
        {
            "[Content_Types].xml": _CONTENT_TYPES.format(part="word/document.xml", type=main),
            "word/document.xml": "<w:document/>",
            "word/embeddings/Microsoft_Excel_Worksheet.xlsx": embedded or xlsx(),
        }
    )


def xlsx_with_many_entries(count: int) -> bytes:
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": _CONTENT_TYPES.format(part="xl/workbook.xml", type=main),
        "xl/workbook.xml": "<workbook/>",
    }
    parts.update({f"xl/media/part{index}.xml": "<x/>" for index in range(count)})
    return _zip(parts)
