"""Readiness: may a load balancer send this instance traffic?

Ready means the database answers, the cache answers (it carries the shared rate budget and,
in production, sessions may live there), and every migration in the code is applied. The
worker's heartbeat is reported but does not make the web unready: pages keep answering from
what they have while the worker is restarted, and an alert on the heartbeat says so.

The worker's liveness is the later of its heartbeat in the cache and the start of the latest
read-model sync run; sync lag is read from the read model's sync state. Both look the read
model's tables up by app label (`apps.get_model`), so this module does not import the layer
above it, and answer "no read model" when it is not installed.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from portal.heartbeat import worker_heartbeat_age

logger = logging.getLogger(__name__)

_migrations_complete = False


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as err:
        logger.warning("readiness: database check failed: %s", err)
        return "unavailable"
    return "ok"


def check_cache() -> str:
    """Write, read back and delete a throwaway key (a cache that drops writes is not ready)."""
    probe_key = f"portal:ready-probe:{uuid.uuid4().hex}"
    try:
        cache.set(probe_key, "1", 10)
        answered = cache.get(probe_key)
        cache.delete(probe_key)
    except Exception as err:  # each cache backend raises its own errors (redis, memcached, ...)
        logger.warning("readiness: cache check failed: %s", err)
        return "unavailable"
    return "ok" if answered == "1" else "unavailable"


def check_migrations() -> str:
    """ "ok", "pending" (migrations the code has that the database lacks) or "unavailable".

    Once complete it stays complete for this process: migrations are not unapplied under a
    running release, and loading the migration graph costs tens of milliseconds.
    """
    global _migrations_complete
    if _migrations_complete:
        return "ok"
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as err:
        logger.warning("readiness: migration check failed: %s", err)
        return "unavailable"
    if plan:
        return "pending"
    _migrations_complete = True
    return "ok"


READ_MODEL_APP = "portal.readmodel"
SYNC_MODES = ("new", "drafts", "full")


def _read_model_installed() -> bool:
    return apps.is_installed(READ_MODEL_APP)


def latest_sync_run_age() -> float | None:
    """Seconds since the latest read-model sync run started (None: none, or no read model)."""
    if not _read_model_installed():
        return None
    sync_run = apps.get_model("readmodel", "SyncRun")
    started = sync_run.objects.order_by("-started_at").values_list("started_at", flat=True)
    latest = started.first()
    return None if latest is None else max(0.0, (timezone.now() - latest).total_seconds())


def sync_lag_seconds() -> dict[str, dict[str, float | None]]:
    """Per kind and sync mode, seconds since that sync last succeeded (None: never)."""
    if not _read_model_installed():
        return {}
    sync_state = apps.get_model("readmodel", "SyncState")
    now = timezone.now()
    lags: dict[str, dict[str, float | None]] = {}
    for state in sync_state.objects.exclude(kind="references"):
        kind_lags = lags.setdefault(state.kind, dict.fromkeys(SYNC_MODES))
        for mode in SYNC_MODES:
            when = getattr(state, f"last_{mode}_at")
            if when is None:
                continue
            lag = max(0.0, (now - when).total_seconds())
            previous = kind_lags[mode]
            kind_lags[mode] = lag if previous is None else min(previous, lag)
    return lags


def worker_status() -> dict[str, Any]:
    unreadable = False
    try:
        beat = worker_heartbeat_age()
    except Exception as err:  # the heartbeat lives in the cache; its check reports the cause
        logger.warning("readiness: worker heartbeat unreadable: %s", err)
        beat, unreadable = None, True
    run_age = latest_sync_run_age()
    if run_age is not None and (beat is None or run_age < beat[1]):
        beat = ("read model sync", run_age)
    if beat is None:
        return {"status": "unknown" if unreadable else "missing"}
    worker, age = beat
    stale_after = float(getattr(settings, "WORKER_HEARTBEAT_STALE_AFTER", 60))
    return {
        "status": "ok" if age <= stale_after else "stale",
        "worker": worker,
        "seconds_since_heartbeat": round(age, 1),
    }


def readiness() -> tuple[bool, dict[str, Any]]:
    """(ready?, the report `/health/ready/` answers with)."""
    database = check_database()
    cache_status = check_cache()
    migrations = check_migrations() if database == "ok" else "unknown"
    ready = database == "ok" and cache_status == "ok" and migrations == "ok"
    report = {
        "ready": ready,
        "database": database,
        "cache": cache_status,
        "migrations": migrations,
        "worker": worker_status() if database == "ok" else {"status": "unknown"},
    }
    if database == "ok" and _read_model_installed():
        report["sync_lag_seconds"] = {
            kind: {mode: None if lag is None else round(lag, 1) for mode, lag in modes.items()}
            for kind, modes in sync_lag_seconds().items()
        }
    return ready, report
