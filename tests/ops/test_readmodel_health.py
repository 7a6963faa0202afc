"""With the read model installed: sync runs count as the worker's heartbeat, lag per kind is
reported by /health/ready/ and /metrics. Skipped in a build without the read model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

pytestmark = pytest.mark.skipif(
    not apps.is_installed("portal.readmodel"), reason="the read model is not in this build"
)


@pytest.fixture(autouse=True)
def _no_cache_heartbeat():
    from django.core.cache import cache

    cache.clear()


def test_a_recent_sync_run_is_the_workers_heartbeat(client, db):
    sync_run = apps.get_model("readmodel", "SyncRun")
    sync_run.objects.create(
        account="acct",
        kind="refunds",
        mode="drafts",
        started_at=timezone.now() - timedelta(seconds=5),
    )
    worker = client.get("/health/ready/").json()["worker"]
    assert worker["status"] == "ok"
    assert worker["worker"] == "read model sync"
    assert 4 <= worker["seconds_since_heartbeat"] < 30


def test_an_old_sync_run_makes_the_worker_stale(client, db, settings):
    settings.WORKER_HEARTBEAT_STALE_AFTER = 60
    sync_run = apps.get_model("readmodel", "SyncRun")
    sync_run.objects.create(
        account="acct", kind="refunds", mode="new", started_at=timezone.now() - timedelta(hours=1)
    )
    assert client.get("/health/ready/").json()["worker"]["status"] == "stale"


def test_sync_lag_per_kind_and_mode_in_readiness_and_metrics(client, db):
    sync_state = apps.get_model("readmodel", "SyncState")
    now = timezone.now()
    sync_state.objects.create(
        account="acct",
        kind="refunds",
        last_new_at=now - timedelta(seconds=10),
        last_drafts_at=now - timedelta(seconds=20),
    )
    lag = client.get("/health/ready/").json()["sync_lag_seconds"]["refunds"]
    assert 9 <= lag["new"] < 30
    assert 19 <= lag["drafts"] < 40
    assert lag["full"] is None
    page = client.get("/metrics").content.decode()
    assert 'portal_sync_lag_seconds{kind="refunds",mode="full"} -1.0' in page
    assert 'portal_sync_lag_seconds{kind="refunds",mode="new"}' in page
