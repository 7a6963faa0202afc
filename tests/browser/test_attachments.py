"""A preparer attaches two files to a draft refund in Chromium and sees them listed."""

import pytest
from playwright.sync_api import expect

from dualentry_api.client import get_client
from tests.records import attachment_samples as samples

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("sandbox_settings")]


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    yield
    sandbox.reset()


def draft_refund_number() -> str:
    page = get_client().customer_refunds.list(filters={"record_status": ["draft"]}, limit=1)
    return str(page.items[0]["number"])


def test_preparer_attaches_two_files_to_a_draft_refund(page, log_in, preparer, sandbox):
    key = draft_refund_number()
    log_in("preparer")
    page.goto(f"/refunds/{key}/")
    section = page.locator("#attachments")
    expect(section.get_by_role("heading", name="Attachments")).to_be_visible()
    confirm_box = section.get_by_label(f"These files belong to customer refund {key}.")
    expect(confirm_box).to_be_hidden()  # the confirmation appears once files are chosen

    section.locator("input[type=file]").set_input_files(
        [
            {
                "name": "bank confirmation.pdf",
                "mimeType": "application/pdf",
                "buffer": samples.pdf(),
            },
            {"name": "customer request.eml", "mimeType": "message/rfc822", "buffer": samples.eml()},
        ]
    )
    # The confirmation names the record and each file, and warns that it cannot be undone.
    expect(section.locator("[data-file-list]")).to_contain_text("bank confirmation.pdf")
    expect(section.locator("[data-file-list]")).to_contain_text("customer request.eml")
    expect(section).to_contain_text("DualEntry cannot remove attachments")
    submit = section.get_by_role("button", name=f"Attach 2 files to customer refund {key}")
    expect(submit).to_be_visible()

    submit.click()  # not confirmed yet: the browser keeps the form
    assert confirm_box.evaluate("box => box.validity.valueMissing")
    expect(page.locator("#attachment-report")).to_be_empty()

    # Record what the progress bar shows while htmx reports upload progress.
    page.evaluate(
        """() => {
            window.progressShown = [];
            document.addEventListener("htmx:xhr:progress", () => {
                const bar = document.querySelector("#attachments [data-progress]");
                if (bar) window.progressShown.push([bar.hidden, bar.value]);
            });
        }"""
    )
    confirm_box.check()
    submit.click()
    report = page.locator("#attachment-report")
    expect(report).to_contain_text("“bank confirmation.pdf” was attached")
    expect(report).to_contain_text("“customer request.eml” was attached")
    listed = page.locator("#attachments table.attachment-list")
    expect(listed.get_by_role("link", name="bank confirmation.pdf")).to_be_visible()
    expect(listed.get_by_role("link", name="customer request.eml")).to_be_visible()
    assert sandbox.request_count(f"/public/v2/customer-refunds/{key}/attachments/", "POST") == 2
    shown = page.evaluate("window.progressShown")
    assert shown and all(not hidden for hidden, _ in shown)
    assert shown[-1][1] == 100

    # The list is DualEntry's, not the page's memory: a reload shows the same files.
    page.reload()
    expect(page.locator("#attachments table.attachment-list")).to_contain_text(
        "customer request.eml"
    )


def test_refused_file_is_explained_next_to_the_form(page, log_in, preparer):
    key = draft_refund_number()
    log_in("preparer")
    page.goto(f"/refunds/{key}/")
    section = page.locator("#attachments")
    section.locator("input[type=file]").set_input_files(
        [{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": samples.elf()}]
    )
    section.get_by_label(f"These files belong to customer refund {key}.").check()
    section.get_by_role("button", name=f"Attach 1 file to customer refund {key}").click()
    expect(page.locator("#attachment-report")).to_contain_text(
        "“invoice.pdf” was not attached: it contains a Linux program"
    )


def test_files_dropped_on_the_drop_zone_are_attached(page, log_in, preparer):
    key = draft_refund_number()
    log_in("preparer")
    page.goto(f"/refunds/{key}/")
    section = page.locator("#attachments")
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["date,amount\\n2026-01-02,12.50\\n2026-01-03,7.00\\n"],
                                    "dropped.csv", {type: "text/csv"}));
            const zone = document.querySelector("[data-dropzone]");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
        }"""
    )
    expect(section.locator("[data-file-list]")).to_contain_text("dropped.csv")
    section.get_by_label(f"These files belong to customer refund {key}.").check()
    section.get_by_role("button", name=f"Attach 1 file to customer refund {key}").click()
    expect(page.locator("#attachment-report")).to_contain_text("“dropped.csv” was attached")
    expect(page.locator("#attachments table.attachment-list")).to_contain_text("dropped.csv")
