"""When each sync is due, and enqueuing it once.

django-tasks has no scheduler. The worker command runs `enqueue_due()` every few seconds beside
the task worker. It is idempotent: a sync is enqueued only when it is due (from the kind's
`SyncState`) and no task for the same kind and mode is waiting or running, so several workers
enqueuing at once at worst add a duplicate that finds the kind's lease taken and skips.

Default intervals (seconds, settings `READMODEL_*_INTERVAL`): new records 15, drafts 20, a full
pass started every 210 (run in slices of `READMODEL_FULL_PAGES_PER_RUN` pages, the next slice
due as soon as the previous one ends), reference lists 300. With the pacing of
`sync.sync_spacing()` that keeps a kind's routes within `READMODEL_BUDGET_SHARE` (50 %) of
DualEntry's 1 request/s per route for 1,000 records per kind (`selectors.schedule_load`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from portal.readmodel.account import current_account
from portal.readmodel.models import SyncMode, SyncRun, SyncState
from portal.readmodel.registry import all_reference_specs, all_specs
from portal.readmodel.sync import REFERENCES
from portal.readmodel.tasks import sync_kind_task, sync_references_task

logger = logging.getLogger(__name__)

_INTERVALS = {
    SyncMode.NEW: ("READMODEL_NEW_INTERVAL", 15),
    SyncMode.DRAFTS: ("READMODEL_DRAFTS_INTERVAL", 20),
    SyncMode.FULL: ("READMODEL_FULL_INTERVAL", 210),
    SyncMode.REFERENCES: ("READMODEL_REFERENCES_INTERVAL", 300),
}


# Drafts first (what people work on), then new records, then the slow reconcile.
PRIORITIES = {
    SyncMode.DRAFTS: 20,
    SyncMode.NEW: 10,
    SyncMode.FULL: 0,
    SyncMode.REFERENCES: -10,
}


def _interval(mode: str) -> dt.timedelta:
    name, default = _INTERVALS[SyncMode(mode)]
    return dt.timedelta(seconds=float(getattr(settings, name, default)))


def _due(last: dt.datetime | None, mode: str, now: dt.datetime) -> bool:
    return last is None or now - last >= _interval(mode)


def due_work(*, now: dt.datetime | None = None) -> list[tuple[str, str]]:
    """(kind, mode) pairs due now; kinds backing off after failures wait."""
    now = now or timezone.now()
    states = {state.kind: state for state in SyncState.objects.filter(account=current_account())}
    due: list[tuple[str, str]] = []
    for spec in all_specs():
        state = states.get(spec.kind)
        if state is not None and state.backoff_until and state.backoff_until > now:
            continue
        if state is None or _due(state.last_new_at, SyncMode.NEW, now):
            due.append((spec.kind, SyncMode.NEW))
        if state is None or _due(state.last_drafts_at, SyncMode.DRAFTS, now):
            due.append((spec.kind, SyncMode.DRAFTS))
        # A pass under way continues at once (its pages are paced); a new one waits its turn.
        in_pass = state is not None and state.full_cursor is not None
        if state is None or in_pass or _due(state.last_full_at, SyncMode.FULL, now):
            due.append((spec.kind, SyncMode.FULL))
    if all_reference_specs():
        state = states.get(REFERENCES)
        backing_off = state is not None and state.backoff_until and state.backoff_until > now
        if not backing_off and (
            state is None or _due(state.last_full_at, SyncMode.REFERENCES, now)
        ):
            due.append((REFERENCES, SyncMode.REFERENCES))
    return due


def _pending(task_path: str, kwargs: dict[str, Any], now: dt.datetime) -> bool:
    """A task like this one waits or runs. A task claimed longer ago than a lease lasts was
    left by a crashed worker: it no longer counts."""
    lease = float(getattr(settings, "READMODEL_LEASE_SECONDS", 60))
    tasks = DBTaskResult.objects.filter(task_path=task_path)
    for name, value in kwargs.items():
        tasks = tasks.filter(**{f"args_kwargs__kwargs__{name}": value})
    waiting = tasks.filter(status="READY").exists()
    return (
        waiting
        or tasks.filter(
            status="RUNNING", started_at__gte=now - dt.timedelta(seconds=lease)
        ).exists()
    )


def enqueue_due(*, now: dt.datetime | None = None) -> list[tuple[str, str]]:
    """Enqueue every due sync not already waiting or running; what was enqueued."""
    now = now or timezone.now()
    enqueued = []
    for kind, mode in due_work(now=now):
        if mode == SyncMode.REFERENCES:
            task, kwargs = sync_references_task, {}
        else:
            task, kwargs = sync_kind_task, {"kind": kind, "mode": str(mode)}
        if _pending(task.module_path, kwargs, now):
            continue
        task.using(priority=PRIORITIES[SyncMode(mode)]).enqueue(**kwargs)
        enqueued.append((kind, str(mode)))
    if enqueued:
        logger.info("read model: enqueued %s", ", ".join(f"{k} {m}" for k, m in enqueued))
    return enqueued


def prune_history(*, now: dt.datetime | None = None) -> tuple[int, int]:
    """Drop sync runs and finished task rows older than `READMODEL_HISTORY_DAYS` (a few
    thousand of each accrue per hour); (runs, tasks) deleted. The scheduler calls it hourly."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=float(getattr(settings, "READMODEL_HISTORY_DAYS", 2)))
    runs, _ = SyncRun.objects.filter(started_at__lt=cutoff).delete()
    tasks, _ = (
        DBTaskResult.objects.filter(queue_name=sync_kind_task.queue_name)
        .finished()
        .filter(finished_at__lt=cutoff)
        .delete()
    )
    return runs, tasks
