"""A 60 MB scan streams through the portal to DualEntry without the portal holding it in memory.

The sandbox runs in its own process here, so tracemalloc (which sees this whole process) measures
the portal alone: Django's multipart parsing, the upload handler, the checks, the audit and the
client streaming the file on.
"""

import hashlib
import os
import tracemalloc

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from dualentry_api.client import get_client
from portal.audit import actions
from portal.audit.models import AuditEvent
from tests.records.attachment_support import (
    MB,
    post_streamed,
    sandbox_process,
    write_multipart_body,
    write_pdf,
)

pytestmark = pytest.mark.django_db

FILE_SIZE = 60 * MB
GROWTH_LIMIT = 20 * MB


def _sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stored:
        while chunk := stored.read(MB):
            digest.update(chunk)
    return digest.hexdigest()


def test_60_mb_file_streams_to_dualentry_with_little_portal_memory(settings, tmp_path, preparer):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    with sandbox_process(tmp_path / "sandbox") as url:
        settings.DUALENTRY_API_URL = url
        settings.DUALENTRY_API_KEY = "sandbox-key"
        settings.ATTACHMENT_MAX_FILE_SIZE = 70 * MB
        settings.ATTACHMENT_MAX_REQUEST_SIZE = 80 * MB
        settings.FILE_UPLOAD_TEMP_DIR = str(uploads)
        cache.clear()
        refunds = get_client().customer_refunds
        key = str(refunds.list(filters={"record_status": ["draft"]}, limit=1).items[0]["number"])
        path = reverse("records:upload", args=["refunds", key])
        client = Client()
        client.force_login(preparer)

        # Warm up (imports, templates, connections) with a small file of the same kind.
        small = tmp_path / "small.pdf"
        write_pdf(small, 100_000)
        small_body = tmp_path / "small.body"
        content_type, _ = write_multipart_body(
            small_body, fields={"confirm": "yes"}, files=[("small.pdf", small, "application/pdf")]
        )
        assert (
            post_streamed(
                cookies=client.cookies, path=path, body=small_body, content_type=content_type
            ).status_code
            == 200
        )

        scan = tmp_path / "scan.pdf"
        expected_sha256 = write_pdf(scan, FILE_SIZE)
        body = tmp_path / "scan.body"
        content_type, length = write_multipart_body(
            body, fields={"confirm": "yes"}, files=[("scan.pdf", scan, "application/pdf")]
        )
        assert length > FILE_SIZE

        tracemalloc.start()
        try:
            baseline, _ = tracemalloc.get_traced_memory()
            response = post_streamed(
                cookies=client.cookies, path=path, body=body, content_type=content_type
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert response.status_code == 200, response.content.decode()[:2000]
        assert "“scan.pdf” was attached (60.0\xa0MB)." in response.content.decode()
        growth = peak - baseline
        assert growth < GROWTH_LIMIT, f"peak memory grew by {growth / MB:.1f} MB"

        # DualEntry holds the whole file, byte for byte.
        attachment = refunds.get(key)["attachments"][-1]
        assert attachment["file_name"] == "scan.pdf"
        assert attachment["file_size"] == FILE_SIZE
        stored = tmp_path / "sandbox" / "state.json.files" / f"{attachment['id']}.bin"
        assert _sha256_of(stored) == expected_sha256

    event = AuditEvent.objects.filter(action=actions.ATTACHMENT_UPLOADED, key=key).latest(
        "sequence"
    )
    assert event.changes["file_name"][1] == "scan.pdf"
    assert event.changes["sha256"][1] == expected_sha256
    assert event.changes["size"][1] == FILE_SIZE
    assert os.listdir(uploads) == []
