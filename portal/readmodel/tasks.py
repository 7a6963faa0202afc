"""The sync as tasks of the task engine (django-tasks, database backend).

Each task runs one sync and returns a small summary; the scheduler (`schedule.py`) enqueues
them when due. Django 6 has this API built in: moving there is an import change
(`django_tasks` -> `django.tasks`).
"""

from __future__ import annotations

from typing import Any

from django_tasks import task

from portal.readmodel import sync
from portal.readmodel.models import SyncRun

QUEUE = "readmodel"


def _summary(run: SyncRun | None) -> dict[str, Any]:
    if run is None:
        return {"skipped": True}
    return {
        "skipped": False,
        "ok": run.ok,
        "pages_read": run.pages_read,
        "records_changed": run.records_changed,
        "records_removed": run.records_removed,
        "errors": run.errors,
    }


@task(queue_name=QUEUE)
def sync_kind_task(kind: str, mode: str) -> dict[str, Any]:
    """One sync of one record kind: mode "new", "drafts" or "full" (one slice of a pass)."""
    return _summary(sync.sync_kind(kind=kind, mode=mode))


@task(queue_name=QUEUE)
def sync_references_task() -> dict[str, Any]:
    return _summary(sync.sync_references())
