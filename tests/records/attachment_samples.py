"""Small, real files of every format the attachment checks know, made on the fly."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


def pdf(size: int = 0) -> bytes:
    """A minimal valid PDF, padded with a comment stream to about `size` bytes."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    tail = (
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )
    padding = max(0, size - len(head) - len(tail))
    return head + (b"%" + b"x" * 78 + b"\n") * (padding // 80) + b"%" * (padding % 80) + tail


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
