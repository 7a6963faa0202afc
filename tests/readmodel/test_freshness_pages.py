"""Every page says how old the copy is (footer) and warns, with the reason, when the sync is
behind or failing (banner); `/health/` says the same per kind."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from portal.readmodel import sync
from portal.readmodel.models import SyncState

from .conftest import sync_now

pytestmark = pytest.mark.django_db

PAGE = "/approvals/"  # a page that reads only the portal's database


def test_every_page_says_how_old_the_copy_is(fresh_sandbox, login_as, viewer):
    sync_now()
    html = login_as(viewer).get(PAGE).content.decode()
    assert 'id="data-freshness"' in html
    assert "DualEntry data as of" in html
    assert 'id="freshness-banner"' not in html  # all fresh: no warning


def test_before_the_first_sync_the_banner_says_the_copy_is_not_filled(
    fresh_sandbox, login_as, viewer
):
    html = login_as(viewer).get(PAGE).content.decode()
    assert 'id="freshness-banner"' in html
    assert "have not been copied from DualEntry yet" in html
    assert "DualEntry data: not copied yet" in html


def test_a_failing_sync_shows_a_banner_with_its_age_and_reason(
    fresh_sandbox, settings, login_as, viewer
):
    sync_now()
    fresh_sandbox.set_faults(status_for_path={"/public/v2/customer-refunds/": 503})
    for _ in range(settings.READMODEL_FAILING_AFTER):
        assert not sync.sync_kind(kind="refunds", mode="new", force=True).ok
    six_minutes_ago = timezone.now() - dt.timedelta(minutes=6)
    SyncState.objects.filter(kind="refunds").update(
        last_new_at=six_minutes_ago, last_drafts_at=six_minutes_ago
    )
    page = login_as(viewer)

    html = page.get(PAGE).content.decode()
    assert "Customer refunds have not synced for 6 min: the last 3 syncs failed:" in html
    assert "message-error" in html
    health = page.get("/health/").json()["sync"]
    assert health["status"] == "failing"
    assert health["kinds"]["refunds"]["status"] == "failing"

    # A contract's page is about contracts (and names): the refunds' trouble is not its news.
    fresh_sandbox.clear_faults()
    contract_page = page.get("/contracts/").content.decode()
    assert "Customer refunds have not synced" not in contract_page


def test_a_sync_that_falls_behind_shows_a_warning(fresh_sandbox, settings, login_as, viewer):
    sync_now()
    behind = timezone.now() - dt.timedelta(seconds=settings.READMODEL_STALE_AFTER + 240)
    SyncState.objects.filter(kind="credits").update(last_drafts_at=behind)
    html = login_as(viewer).get(PAGE).content.decode()
    assert "Customer credits have not synced for 6 min." in html
    assert "message-warning" in html
