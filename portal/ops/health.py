"""Readiness: may a load balancer send this instance traffic?

Ready means the database answers, the cache answers (it carries the shared rate budget and,
in production, sessions may live there), and every migration in the code is applied. The
worker's heartbeat is reported but does not make the web unready: pages keep answering from
what they have while the worker is restarted, and an alert on the heartbeat says so.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from portal.ops.heartbeat import worker_heartbeat_age

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


def worker_status() -> dict[str, Any]:
    try:
        beat = worker_heartbeat_age()
    except Exception as err:  # the heartbeat lives in the cache; its check reports the cause
        logger.warning("readiness: worker heartbeat unreadable: %s", err)
        return {"status": "unknown"}
    if beat is None:
        return {"status": "missing"}
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
        "worker": worker_status(),
    }
    return ready, report
