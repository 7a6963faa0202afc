"""Attaching files through the portal, end to end against the sandbox over real HTTP."""

from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dualentry_api.client import get_client
from portal.approvals.services import approval_submit
from portal.audit import actions
from portal.audit.models import AuditEvent
from portal.records.attachments import attachments_upload, clean_file_name
from portal.records.kinds import KINDS
from tests.records import attachment_samples as samples
from tests.records.attachment_support import open_files_under
from tests.records.edit_support import sound_draft_refund

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_settings")]

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    yield
    sandbox.reset()  # attachments added here must not leak into other tests


@pytest.fixture
def upload_dir(settings, tmp_path) -> Path:
    """Uploads over 1 KB go to temporary files in this directory."""
    directory = tmp_path / "uploads"
    directory.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(directory)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    return directory


def record_number(kind: str, status: str) -> str:
    resource = getattr(get_client(), KINDS[kind].resource)
    page = resource.list(filters={"record_status": [status]}, limit=1)
    return str(page.items[0]["number"])


def upload_url(kind: str, key: str) -> str:
    return reverse("records:upload", args=[kind, key])


def attach(client, kind: str, key: str, *files, confirm: bool = True, htmx: bool = True):
    data = {"files": list(files)}
    if confirm:
        data["confirm"] = "yes"
    return client.post(upload_url(kind, key), data, **(HTMX if htmx else {}))


def file(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def attachment_names(kind: str, key: str) -> list[str]:
    resource = getattr(get_client(), KINDS[kind].resource)
    return [attachment["file_name"] for attachment in resource.get(key).get("attachments") or []]


def events(action: str, key: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, key=key).order_by("sequence"))


# --- the happy path ---------------------------------------------------------------------------


def test_preparer_attaches_two_files_to_a_draft_refund(login_as, preparer, sandbox, upload_dir):
    key = record_number("refunds", "draft")
    before = attachment_names("refunds", key)
    scan = samples.pdf(size=50_000)
    response = attach(
        login_as(preparer),
        "refunds",
        key,
        file("bank confirmation.pdf", scan, "application/pdf"),
        file("request.eml", samples.eml(), "message/rfc822"),
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "“bank confirmation.pdf” was attached" in page
    assert "“request.eml” was attached" in page
    # The refreshed list comes from DualEntry's answer and holds both files.
    assert page.count("bank confirmation.pdf") >= 2
    assert attachment_names("refunds", key) == [*before, "bank confirmation.pdf", "request.eml"]
    # One upstream request per file, with the detected content type.
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/attachments/", "POST") == 2
    stored = sandbox.store.collection("attachments")
    by_name = {attachment["file_name"]: attachment for attachment in stored.values()}
    assert by_name["request.eml"]["content_type"] == "message/rfc822"
    assert by_name["bank confirmation.pdf"]["file_size"] == len(scan)

    uploaded = events(actions.ATTACHMENT_UPLOADED, key)
    assert [event.changes["file_name"][1] for event in uploaded] == [
        "bank confirmation.pdf",
        "request.eml",
    ]
    first = uploaded[0]
    assert first.actor == preparer
    assert first.success
    assert first.kind == "refunds"
    assert first.changes["size"][1] == len(scan)
    assert first.changes["content_type"][1] == "application/pdf"
    assert first.changes["sha256"][1] == hashlib.sha256(scan).hexdigest()
    assert first.upstream_status == 200
    assert first.upstream_method == "POST"
    assert first.upstream_request_id
    assert open_files_under(upload_dir) == []
    assert os.listdir(upload_dir) == []


def test_without_htmx_the_upload_redirects_to_the_record_with_messages(login_as, preparer):
    key = record_number("refunds", "draft")
    client = login_as(preparer)
    response = attach(client, "refunds", key, file("a.png", samples.png()), htmx=False)
    assert response.status_code == 302
    assert response["Location"] == reverse("records:detail", args=["refunds", key])
    page = client.get(response["Location"]).content.decode()
    assert "“a.png” was attached" in page


def test_an_upload_is_in_the_copy_at_once(login_as, preparer):
    from portal.readmodel.selectors import mirrored_records

    key = record_number("refunds", "draft")
    client = login_as(preparer)
    assert attach(client, "refunds", key, file("receipt.png", samples.png())).status_code == 200
    copied = mirrored_records(kind="refunds").get(key=key)  # no sync ran
    assert "receipt.png" in [item["file_name"] for item in copied.data["attachments"]]


def test_deposits_take_attachments_too(login_as, preparer):
    key = record_number("deposits", "draft")
    response = attach(login_as(preparer), "deposits", key, file("slip.jpg", samples.jpeg()))
    assert response.status_code == 200
    assert "slip.jpg" in attachment_names("deposits", key)


# --- checks -------------------------------------------------------------------------------------


def test_file_over_the_size_limit_is_refused_and_the_others_go(
    settings, login_as, preparer, sandbox, upload_dir
):
    settings.ATTACHMENT_MAX_FILE_SIZE = 100_000
    key = record_number("refunds", "draft")
    response = attach(
        login_as(preparer),
        "refunds",
        key,
        file("huge.pdf", samples.pdf(size=150_000)),
        file("small.pdf", samples.pdf(size=5_000)),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert (
        "“huge.pdf” was not attached: it is 146.5\xa0KB, and files may be at most 97.7\xa0KB."
        in (page)
    )
    assert "“small.pdf” was attached" in page
    assert "huge.pdf" not in attachment_names("refunds", key)
    refused = events(actions.ATTACHMENT_REFUSED, key)
    assert [event.changes["file_name"][1] for event in refused] == ["huge.pdf"]
    assert not refused[0].success
    assert "at most" in refused[0].error
    assert open_files_under(upload_dir) == []


def test_empty_file_is_refused(login_as, preparer, sandbox):
    key = record_number("refunds", "draft")
    response = attach(login_as(preparer), "refunds", key, file("empty.pdf", b""))
    assert response.status_code == 422
    assert "“empty.pdf” was not attached: it is empty." in response.content.decode()
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/attachments/") == 0


def test_files_together_over_the_request_limit(settings, login_as, preparer, sandbox):
    settings.ATTACHMENT_MAX_REQUEST_SIZE = 30_000
    key = record_number("refunds", "draft")
    response = attach(
        login_as(preparer),
        "refunds",
        key,
        file("one.pdf", samples.pdf(size=20_000)),
        file("two.pdf", samples.pdf(size=20_000)),
    )
    page = response.content.decode()
    assert "“one.pdf” was attached" in page
    assert "“two.pdf” was not attached: the files of one upload may add up to" in page


def test_request_far_over_the_limit_is_refused_before_reading_it(
    settings, login_as, preparer, sandbox
):
    settings.ATTACHMENT_MAX_REQUEST_SIZE = 10_000
    key = record_number("refunds", "draft")
    response = attach(login_as(preparer), "refunds", key, file("big.pdf", samples.pdf(200_000)))
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#attachment-report"
    assert "one upload may be at most" in response.content.decode()
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/") == 0  # not even a GET


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("invoice.pdf", samples.elf(), "it contains a Linux program, which cannot be attached"),
        ("invoice.pdf", samples.windows_exe(), "it contains a Windows program"),
        ("report.docx", samples.docx(macros=True), "it contains a Office file with macros"),
        ("page.txt", samples.html(), "web page or markup file"),
        ("photo.pdf", samples.png(), "it contains a PNG image, but its name ends in .pdf"),
    ],
)
def test_type_spoofed_files_are_refused(login_as, preparer, sandbox, name, content, said):
    key = record_number("refunds", "draft")
    response = attach(login_as(preparer), "refunds", key, file(name, content, "application/pdf"))
    assert response.status_code == 422
    assert said in response.content.decode()
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/attachments/") == 0
    refused = events(actions.ATTACHMENT_REFUSED, key)
    assert len(refused) == 1
    assert refused[0].changes["sha256"][1]  # the refused content is identified in the log


def test_allowed_types_are_configurable(settings, login_as, preparer):
    settings.ATTACHMENT_ALLOWED_TYPES = ["pdf"]
    key = record_number("refunds", "draft")
    response = attach(login_as(preparer), "refunds", key, file("a.png", samples.png()))
    assert "it contains a PNG image, which cannot be attached. Accepted: PDF." in (
        response.content.decode()
    )


def test_hostile_names_are_cleaned_or_refused_with_messages(login_as, preparer, sandbox):
    key = record_number("refunds", "draft")
    long_name = "q" * 300 + ".csv"
    response = attach(
        login_as(preparer),
        "refunds",
        key,
        file("../../etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n"),
        file(long_name, samples.csv()),
        file("harmless\u202efdp.exe", samples.pdf()),
    )
    page = response.content.decode()
    names = attachment_names("refunds", key)
    # Django drops the folders; the portal adds the extension of what the file contains.
    assert "passwd.txt" in names
    assert "“passwd.txt” (renamed from “passwd”) was attached" in page
    # 300 characters: Django cuts to 255, the portal to 200, keeping the extension.
    cut = clean_file_name(long_name)
    assert len(cut) == 200 and cut.endswith(".csv")
    assert cut in names
    # The RTL override that made "…exe.pdf" show is gone, so the name says .exe: refused.
    assert (
        "“harmlessfdp.exe” was not attached: it contains a PDF document, but its name ends in .exe"
        in (page)
    )
    assert not any("\u202e" in name or "/" in name for name in names)


# --- partial failures and upstream errors ----------------------------------------------------


def test_one_refused_file_among_three_does_not_stop_the_others(login_as, preparer, sandbox):
    key = record_number("refunds", "draft")
    response = attach(
        login_as(preparer),
        "refunds",
        key,
        file("a.pdf", samples.pdf()),
        file("b.pdf", samples.elf()),
        file("c.xlsx", samples.xlsx()),
    )
    assert response.status_code == 200
    statuses = [
        line.split('data-outcome="')[1].split('"')[0]
        for line in response.content.decode().splitlines()
        if "data-outcome=" in line
    ]
    assert statuses == ["uploaded", "refused", "uploaded"]  # in the order chosen
    names = attachment_names("refunds", key)
    assert "a.pdf" in names and "c.xlsx" in names and "b.pdf" not in names


def _seed_failing_request(number: int, of: int, rate: float = 0.5) -> int:
    """A sandbox error_seed whose draws fail exactly the `number`-th of `of` API requests."""
    for seed in range(10_000):
        draws = random.Random(seed)
        if [draws.random() < rate for _ in range(of)] == [i == number - 1 for i in range(of)]:
            return seed
    raise AssertionError("no seed found")


def test_upstream_failure_of_one_file_among_three(login_as, preparer, sandbox, upload_dir):
    key = record_number("refunds", "draft")
    # Requests: GET the refund, then one POST per file; the third request (file two) fails.
    sandbox.set_faults(error_rate=0.5, error_seed=_seed_failing_request(3, of=4))
    response = attach(
        login_as(preparer),
        "refunds",
        key,
        file("one.pdf", samples.pdf(size=3000)),
        file("two.pdf", samples.pdf(size=3000)),
        file("three.pdf", samples.pdf(size=3000)),
    )
    sandbox.clear_faults()
    page = response.content.decode()
    assert response.status_code == 200
    assert "“one.pdf” was attached" in page
    assert "“two.pdf” was not attached: DualEntry had a problem on its side." in page
    assert "attach it again once DualEntry works" in page
    assert "“three.pdf” was attached" in page  # a 500 is not a reason to give up the rest
    names = attachment_names("refunds", key)
    assert "one.pdf" in names and "three.pdf" in names and "two.pdf" not in names
    failed = [event for event in events(actions.ATTACHMENT_UPLOADED, key) if not event.success]
    assert [event.changes["file_name"][1] for event in failed] == ["two.pdf"]
    assert failed[0].upstream_status == 500
    assert open_files_under(upload_dir) == []


def test_upstream_5xx_leaves_nothing_on_disk(login_as, preparer, sandbox, upload_dir):
    key = record_number("refunds", "draft")
    sandbox.set_faults(status_for_path={f"/public/v2/customer-refunds/{key}/attachments/": 503})
    response = attach(
        login_as(preparer),
        "refunds",
        key,
        file("scan.pdf", samples.pdf(size=400_000)),
        file("scan2.pdf", samples.pdf(size=400_000)),
    )
    page = response.content.decode()
    assert response.status_code == 422
    assert "“scan.pdf” was not attached: DualEntry is not responding." in page
    assert "The portal kept no copy; attach it again once DualEntry works." in page
    assert "“scan2.pdf” was not attached" in page
    assert os.listdir(upload_dir) == []
    assert open_files_under(upload_dir) == []
    assert [e.upstream_status for e in events(actions.ATTACHMENT_UPLOADED, key)] == [503, 503]


def test_unreachable_dualentry_stops_after_the_first_file(settings, login_as, preparer, sandbox):
    key = record_number("refunds", "draft")
    path = f"/public/v2/customer-refunds/{key}/attachments/"
    sandbox.set_faults(drop_connection_for_path=[path])
    response = attach(
        login_as(preparer),
        "refunds",
        key,
        file("one.pdf", samples.pdf()),
        file("two.pdf", samples.pdf()),
    )
    page = response.content.decode()
    assert "“one.pdf” may not have been attached: the connection to DualEntry broke" in page
    assert "“two.pdf” was not sent, because DualEntry failed on an earlier file" in page
    assert sandbox.request_count(path) == 1


def test_record_that_cannot_be_read_attaches_nothing(login_as, preparer, sandbox):
    key = record_number("refunds", "draft")
    sandbox.set_faults(status_for_path={f"/public/v2/customer-refunds/{key}/": 500})
    response = attach(login_as(preparer), "refunds", key, file("a.pdf", samples.pdf()))
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#attachment-report"
    assert "Nothing was attached: the customer refund could not be read from DualEntry." in (
        response.content.decode()
    )


def test_upload_needs_the_confirmation(login_as, preparer, sandbox):
    key = record_number("refunds", "draft")
    response = attach(
        login_as(preparer), "refunds", key, file("a.pdf", samples.pdf()), confirm=False
    )
    assert response.status_code == 422
    assert "confirm that the files belong to this record" in response.content.decode()
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/attachments/") == 0


# --- who may attach what --------------------------------------------------------------------


def test_viewer_gets_403(login_as, viewer, sandbox):
    key = record_number("refunds", "draft")
    response = attach(login_as(viewer), "refunds", key, file("a.pdf", samples.pdf()))
    assert response.status_code == 403
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/") == 0


def test_preparer_cannot_attach_to_a_posted_refund(login_as, preparer, sandbox):
    key = record_number("refunds", "posted")
    response = attach(login_as(preparer), "refunds", key, file("a.pdf", samples.pdf()))
    assert response.status_code == 403
    assert "only approvers can attach files to it" in response.content.decode()
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/attachments/") == 0
    # Refused before the body was read: the refusal is in the log, the file never arrived.
    denied = AuditEvent.objects.get(action=actions.PERMISSION_DENIED)
    assert denied.actor == preparer
    assert "only approvers can attach files" in denied.error


def test_service_refuses_a_posted_refund_to_a_preparer_and_audits_each_file(preparer, sandbox):
    key = record_number("refunds", "posted")
    with pytest.raises(PermissionDenied, match="only approvers"):
        attachments_upload(
            kind=KINDS["refunds"], key=key, files=[file("a.pdf", samples.pdf())], user=preparer
        )
    refused = events(actions.ATTACHMENT_REFUSED, key)
    assert [event.changes["file_name"][1] for event in refused] == ["a.pdf"]
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/attachments/") == 0


def test_approver_may_attach_to_a_posted_refund(login_as, approver):
    key = record_number("refunds", "posted")
    response = attach(login_as(approver), "refunds", key, file("proof.pdf", samples.pdf()))
    assert response.status_code == 200
    assert "proof.pdf" in attachment_names("refunds", key)


def test_approver_cannot_attach_to_a_draft(login_as, approver):
    key = record_number("refunds", "draft")
    response = attach(login_as(approver), "refunds", key, file("a.pdf", samples.pdf()))
    assert response.status_code == 403
    assert "Only preparers can attach files to a draft" in response.content.decode()


def test_archived_records_take_no_attachments(login_as, admin_user):
    key = record_number("refunds", "archived")
    response = attach(login_as(admin_user), "refunds", key, file("a.pdf", samples.pdf()))
    assert response.status_code == 403
    assert "files can no longer be attached to it" in response.content.decode()


@pytest.mark.parametrize("kind", ["credits", "contracts"])
def test_kinds_without_upload_refuse_it(login_as, admin_user, sandbox, kind):
    response = attach(login_as(admin_user), kind, "1", file("a.pdf", samples.pdf()))
    assert response.status_code == 403
    assert "DualEntry API v2 does not accept attachments for" in response.content.decode()
    assert sandbox.request_count() == 0


# --- the detail page ------------------------------------------------------------------------


def test_detail_page_offers_upload_on_a_draft_refund(login_as, preparer):
    key = record_number("refunds", "draft")
    page = login_as(preparer).get(reverse("records:detail", args=["refunds", key])).content
    page = page.decode()
    assert f'hx-post="{upload_url("refunds", key)}"' in page
    assert 'name="files" multiple' in page
    assert f"These files belong to customer refund {key}." in page
    assert "DualEntry cannot remove attachments" in page


def test_detail_page_lists_attachments_with_download_links(login_as, viewer, sandbox):
    key = record_number("refunds", "draft")
    get_client().customer_refunds.upload_attachments(
        key, files=[("listed.pdf", io.BytesIO(samples.pdf()), "application/pdf")]
    )
    page = login_as(viewer).get(reverse("records:detail", args=["refunds", key])).content.decode()
    assert "listed.pdf" in page
    assert f'href="{sandbox.url}/__sandbox__/attachments/' in page
    assert "hx-post" not in page.split('id="attachments"')[1].split("</section>")[0]


def test_posted_refund_page_tells_a_preparer_who_may_attach(login_as, preparer):
    key = record_number("refunds", "posted")
    page = login_as(preparer).get(reverse("records:detail", args=["refunds", key])).content
    section = page.decode().split('id="attachments"')[1].split("</section>")[0]
    assert "only approvers can attach files to it" in section
    assert "<form" not in section


@pytest.mark.parametrize(
    ("kind", "label"), [("credits", "customer credits"), ("contracts", "contracts")]
)
def test_credit_and_contract_pages_say_there_is_no_upload(login_as, admin_user, kind, label):
    resource = getattr(get_client(), KINDS[kind].resource)
    record = resource.list(limit=1).items[0]
    key = KINDS[kind].key_of(record)
    page = login_as(admin_user).get(reverse("records:detail", args=[kind, key])).content.decode()
    section = page.split('id="attachments"')[1].split("</section>")[0]
    assert f"DualEntry API v2 does not accept attachments for {label}" in section
    assert "<form" not in section


def test_record_waiting_for_approval_takes_no_attachments(login_as, preparer, sandbox):
    key = str(sound_draft_refund(sandbox))  # one the money rules let through to approval
    approval_submit(kind="refunds", key=key, user=preparer)
    response = attach(login_as(preparer), "refunds", key, file("a.pdf", samples.pdf()))
    assert response.status_code == 403
    assert "waiting for an approval decision" in response.content.decode()
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/attachments/") == 0
    page = login_as(preparer).get(reverse("records:detail", args=["refunds", key])).content
    section = page.decode().split('id="attachments"')[1].split("</section>")[0]
    assert "waiting for an approval decision" in section
    assert "<form" not in section
