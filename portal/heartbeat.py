"""The worker's heartbeat: a timestamp in the shared cache, written every scheduler tick
(`manage.py run_worker`). Part of the portal's core so the worker (read model) can write it
and the operations layer (`portal.ops`) read it.

`/health/ready/` reports its age. The cache must be shared by the web instances and the worker
(Redis in production); with the local-memory cache of development each process has its own,
so the web cannot see the worker's heartbeat and reports it as missing.
"""

from __future__ import annotations

import time

from django.core.cache import cache

HEARTBEAT_KEY = "portal:worker-heartbeat"
# Kept well beyond any tick interval, so a stopped worker reads as "stale", not "missing".
HEARTBEAT_TTL_SECONDS = 24 * 3600


def worker_heartbeat_record(*, worker: str, now: float | None = None) -> None:
    """Mark `worker` (a name such as host:pid) alive at `now` (default: the current time)."""
    cache.set(
        HEARTBEAT_KEY,
        {"worker": worker, "at": time.time() if now is None else now},
        HEARTBEAT_TTL_SECONDS,
    )


def worker_heartbeat_age(*, now: float | None = None) -> tuple[str, float] | None:
    """(worker name, seconds since its last beat), or None if no worker ever beat."""
    beat = cache.get(HEARTBEAT_KEY)
    if not beat:
        return None
    current = time.time() if now is None else now
    return beat["worker"], max(0.0, current - float(beat["at"]))
