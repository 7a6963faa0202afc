"""In Chromium: the footer says how old DualEntry's copy is, and a stale detail page refreshes
its record in the background (htmx lazy load) without a reload."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from portal.readmodel.models import MirroredRecord
from portal.readmodel.sync import sync_all_now

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_stale_detail_page_swaps_in_the_live_record_and_the_footer_says_how_old_data_is(
    page, log_in, viewer, sandbox_settings, sandbox
):
    sandbox.reset()
    sync_all_now(full=True)
    refund = next(
        refund
        for refund in sorted(
            sandbox.store.collection("customer-refunds").values(), key=lambda r: r["number"]
        )
        if refund["record_status"] == "draft"
    )
    number = refund["number"]
    sandbox.outside.edit("customer-refunds", number, memo="Edited in DualEntry meanwhile")
    MirroredRecord.objects.filter(kind="refunds", key=str(number)).update(
        seen_at=timezone.now() - dt.timedelta(minutes=5)
    )

    log_in("viewer")
    footer = page.locator("#data-freshness")
    expect(footer).to_contain_text("DualEntry data as of")
    expect(page.locator("#freshness-banner")).to_have_count(0)

    sandbox.clear_log()
    page.goto(f"/refunds/{number}/")
    record = page.locator("#record")
    expect(record).to_contain_text("Edited in DualEntry meanwhile")  # swapped in by htmx
    expect(page.locator("#record-as-of")).not_to_contain_text("Checking DualEntry")
    expect(page.locator("#record-as-of")).to_contain_text("DualEntry data as of")
    assert page.url.endswith(f"/refunds/{number}/")  # no reload, no redirect
    refreshed = [e for e in sandbox.requests_log if e["path"].endswith(f"/{number}/")]
    assert len(refreshed) == 1  # one live read, by the lazy refresh
    copied = MirroredRecord.objects.get(kind="refunds", key=str(number))
    assert copied.memo == "Edited in DualEntry meanwhile"
