"""Scheduling on the task engine, freshness selectors and `/health/`'s sync report."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from portal.readmodel import schedule, services, sync
from portal.readmodel.account import current_account
from portal.readmodel.models import SyncRun, SyncState
from portal.readmodel.registry import all_specs
from portal.readmodel.selectors import (
    kind_freshness,
    mirrored_records,
    oldest_freshness,
    sync_health,
)
from tests.readmodel.conftest import sync_now

pytestmark = pytest.mark.django_db


def _state(kind: str) -> SyncState:
    return sync.sync_state(account=current_account(), kind=kind)


def _all_synced(at: dt.datetime) -> None:
    SyncState.objects.filter(account=current_account()).update(
        last_new_at=at, last_drafts_at=at, last_full_at=at
    )


def test_everything_is_due_on_a_fresh_install():
    due = schedule.due_work()
    for spec in all_specs():
        assert {(spec.kind, mode) for mode in ("new", "drafts", "full")} <= set(due)
    assert ("references", "references") in due


def test_due_syncs_are_enqueued_once(settings):
    first = schedule.enqueue_due()
    assert len(first) == 3 * len(all_specs()) + 1
    assert schedule.enqueue_due() == []  # all still waiting
    assert DBTaskResult.objects.filter(queue_name="readmodel").count() == len(first)


def test_drafts_come_due_again_after_their_interval(settings):
    now = timezone.now()
    for spec in all_specs():
        _state(spec.kind)
    _state("references")
    _all_synced(now)
    assert schedule.due_work(now=now + dt.timedelta(seconds=5)) == []
    later = schedule.due_work(now=now + dt.timedelta(seconds=settings.READMODEL_DRAFTS_INTERVAL))
    assert {mode for _kind, mode in later} == {"new", "drafts"}


def test_a_full_pass_under_way_continues_at_once_and_backing_off_kinds_wait():
    now = timezone.now()
    for spec in all_specs():
        _state(spec.kind)
    _state("references")
    _all_synced(now)
    SyncState.objects.filter(kind="refunds").update(full_cursor=300)
    assert schedule.due_work(now=now) == [("refunds", "full")]
    SyncState.objects.filter(kind="refunds").update(backoff_until=now + dt.timedelta(minutes=1))
    assert schedule.due_work(now=now) == []


def test_a_task_left_running_by_a_crashed_worker_does_not_block_the_schedule(settings):
    schedule.enqueue_due()
    long_ago = timezone.now() - dt.timedelta(seconds=settings.READMODEL_LEASE_SECONDS + 1)
    DBTaskResult.objects.update(status="RUNNING", started_at=long_ago)
    assert len(schedule.enqueue_due()) == 3 * len(all_specs()) + 1


@pytest.mark.django_db(transaction=True)  # the worker closes and reopens its connection
def test_the_task_worker_runs_the_enqueued_syncs(fresh_sandbox):
    schedule.enqueue_due()
    call_command(
        "db_worker",
        queue_name="readmodel",
        batch=True,
        reload=False,
        startup_delay=False,
        verbosity=0,
    )
    assert not DBTaskResult.objects.exclude(status="SUCCESSFUL").exists()
    assert sync_health()["status"] == "ok"  # every kind and the reference lists filled
    assert _state("deposits").last_drafts_at is not None
    assert mirrored_records(kind="deposits").count() == len(
        fresh_sandbox.store.collection("customer-deposits")
    )


def test_old_runs_and_finished_tasks_are_pruned(settings):
    now = timezone.now()
    old = now - dt.timedelta(days=settings.READMODEL_HISTORY_DAYS, seconds=1)
    SyncRun.objects.create(account="a", kind="refunds", mode="new", started_at=old)
    SyncRun.objects.create(account="a", kind="refunds", mode="new", started_at=now)
    schedule.enqueue_due()
    waiting = DBTaskResult.objects.count()
    DBTaskResult.objects.filter(
        pk__in=list(DBTaskResult.objects.values_list("pk", flat=True)[:2])
    ).update(status="SUCCESSFUL", finished_at=old)
    assert schedule.prune_history(now=now) == (1, 2)
    assert SyncRun.objects.count() == 1
    assert DBTaskResult.objects.count() == waiting - 2


def test_freshness_before_any_sync_says_so():
    freshness = kind_freshness(kind="refunds")
    assert freshness.status == "never synced" and freshness.behind
    assert sync_health()["status"] == "never synced"


def test_freshness_is_ok_after_a_sync_and_stale_when_the_sync_falls_behind(fresh_sandbox, settings):
    sync_now()
    health = sync_health()
    assert health["status"] == "ok"
    assert set(health["kinds"]) == {spec.kind for spec in all_specs()} | {"references"}
    assert health["kinds"]["refunds"]["lag_seconds"] < 60
    SyncState.objects.filter(kind="credits").update(
        last_drafts_at=timezone.now() - dt.timedelta(seconds=settings.READMODEL_STALE_AFTER + 5)
    )
    credits = kind_freshness(kind="credits")
    assert credits.status == "stale" and "old" in credits.reason
    assert sync_health()["status"] == "stale"
    assert oldest_freshness().kind == "credits"
    assert oldest_freshness(kinds=["refunds"]).status == "ok"


def test_a_failing_sync_is_reported_with_its_reason(fresh_sandbox, settings):
    sync_now()
    fresh_sandbox.set_faults(status_for_path={"/public/v2/contracts/": 500})
    for _ in range(settings.READMODEL_FAILING_AFTER):
        assert not sync.sync_kind(kind="contracts", mode="new", force=True).ok
    contracts = kind_freshness(kind="contracts")
    assert contracts.status == "failing"
    assert "ServerError" in contracts.reason
    assert sync_health()["status"] == "failing"


def test_health_reports_sync_lag_per_kind_without_asking_dualentry(client, fresh_sandbox):
    sync_now()
    fresh_sandbox.clear_log()
    body = client.get("/health/").json()
    assert body["sync"]["status"] == "ok"
    assert body["sync"]["kinds"]["contracts"]["status"] == "ok"
    paths = {entry["path"] for entry in fresh_sandbox.requests_log}
    assert paths <= {"/public/v2/health/"}  # the sync report reads the database only


def test_sync_now_refuses_unknown_kinds():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown kind"):
        call_command("sync_now", kind=["invoices"])


def test_the_read_model_imports_neither_records_nor_approvals():
    package = Path(services.__file__).parent
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("portal.records", "portal.approvals")), (path, name)
