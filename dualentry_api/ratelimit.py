"""A client-side rate budget shared by every portal process through Django's cache.

DualEntry documents token buckets per API key: about 5 requests/s overall (burst 50) and
1 request/s per route (burst 10). Before each request the client reserves one token from the
key's overall bucket and one from the route's bucket (route = method + path template, e.g.
``GET /public/v2/customer-refunds/{record_number}/``). A bucket may go below zero: that is a
reservation, and the caller sleeps until its token exists. If the longest wait would exceed
``DUALENTRY_RATE_MAX_WAIT`` seconds nothing is reserved and ``RateLimited`` is raised, so a
page fails fast with a sentence instead of hanging.

Atomicity: Django's cache API has no compare-and-set, so each reservation runs under a short
lock taken with ``cache.add`` (atomic on Redis ``SET NX`` and on locmem, which is per process
anyway). The lock covers only read-compute-write of the two buckets (a few cache round trips),
never the sleep. It expires after ``LOCK_TIMEOUT`` seconds, so a process killed while holding it
cannot wedge the others. If the lock cannot be had within ``LOCK_WAIT`` seconds, or the cache
itself fails, the request goes ahead unbudgeted and a warning is logged: the budget is a
courtesy that avoids 429s, DualEntry's own limiter is the real guard and GETs retry a 429.
Clocks: ``time.time()`` so that processes agree; hosts sharing one Redis need synced clocks.

Cache keys hold a SHA-256 prefix of the API key, never the key itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dualentry_api.errors import RateLimited

__all__ = ["Bucket", "Lane", "RateBudget", "current_lane", "use_lane"]

logger = logging.getLogger("dualentry_api")

LOCK_TIMEOUT = 2  # seconds; a crashed holder's lock disappears after this
LOCK_WAIT = 1.0  # seconds to wait for the lock before going ahead unbudgeted
STATE_TTL = 3600  # idle buckets are full again long before this; let the cache drop them


class Lane(enum.IntEnum):
    """Who a request is for, in priority order (lower value = served first).

    WRITE: writes and the reads that belong to a write (stale check, read-back, GET before an
    edit). INTERACTIVE: a person waiting for a page. SYNC: the background read-model sync.
    """

    WRITE = 0
    INTERACTIVE = 1
    SYNC = 2


_current_lane: contextvars.ContextVar[Lane] = contextvars.ContextVar(
    "dualentry_lane", default=Lane.INTERACTIVE
)


def current_lane() -> Lane:
    """The lane requests made now are charged to (INTERACTIVE unless ``use_lane`` says)."""
    return _current_lane.get()


@contextlib.contextmanager
def use_lane(lane: Lane) -> Iterator[None]:
    """Charge every DualEntry request made inside the block to ``lane``."""
    token = _current_lane.set(lane)
    try:
        yield
    finally:
        _current_lane.reset(token)


@dataclass(frozen=True)
class Bucket:
    rate: float  # tokens per second; 0 disables the bucket
    burst: int

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0


def key_fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:24]


class RateBudget:
    """Token buckets for one API key: one overall, one per route.

    ``reserve(route)`` returns how many seconds to sleep before sending (0.0 mostly) or raises
    ``RateLimited``. ``cache`` is a Django cache (``caches["default"]`` when None).
    """

    def __init__(
        self,
        *,
        api_key: str,
        overall: Bucket,
        per_route: Bucket,
        max_wait: float,
        cache: Any = None,
        clock: Callable[[], float] = time.time,
        lock_sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._prefix = f"dualentry-rate:{key_fingerprint(api_key)}"
        self.overall = overall
        self.per_route = per_route
        self.max_wait = max_wait
        self._cache = cache
        self._clock = clock
        self._lock_sleep = lock_sleep

    @classmethod
    def from_settings(cls, api_key: str, **kwargs: Any) -> RateBudget:
        from django.conf import settings

        return cls(
            api_key=api_key,
            overall=Bucket(
                float(getattr(settings, "DUALENTRY_RATE_PER_SECOND", 5.0)),
                int(getattr(settings, "DUALENTRY_RATE_BURST", 50)),
            ),
            per_route=Bucket(
                float(getattr(settings, "DUALENTRY_ROUTE_RATE_PER_SECOND", 1.0)),
                int(getattr(settings, "DUALENTRY_ROUTE_RATE_BURST", 10)),
            ),
            max_wait=float(getattr(settings, "DUALENTRY_RATE_MAX_WAIT", 3.0)),
            **kwargs,
        )

    @property
    def cache(self) -> Any:
        if self._cache is None:
            from django.core.cache import caches

            self._cache = caches["default"]
        return self._cache

    def _route_key(self, route: str) -> str:
        # Routes contain spaces and braces, which memcached keys cannot.
        return f"{self._prefix}:route:{hashlib.sha1(route.encode()).hexdigest()[:16]}"

    def reserve(self, route: str) -> float:
        """Reserve a token for ``route``; the seconds to wait before sending."""
        buckets = [
            (key, bucket)
            for key, bucket in (
                (f"{self._prefix}:all", self.overall),
                (self._route_key(route), self.per_route),
            )
            if bucket.enabled
        ]
        if not buckets:
            return 0.0
        lock_key = f"{self._prefix}:lock"
        try:
            if not self._acquire(lock_key):
                logger.warning("Rate budget lock busy; sending %s without budget", route)
                return 0.0
            try:
                return self._reserve_locked(route, buckets)
            finally:
                self.cache.delete(lock_key)
        except RateLimited:
            raise
        except Exception:  # the cache backend's own errors (Redis down) are not ours to type
            logger.warning(
                "Rate budget cache unavailable; sending %s without budget", route, exc_info=True
            )
            return 0.0

    def _acquire(self, lock_key: str) -> bool:
        deadline = self._clock() + LOCK_WAIT
        delay = 0.001
        while not self.cache.add(lock_key, 1, timeout=LOCK_TIMEOUT):
            if self._clock() >= deadline:
                return False
            self._lock_sleep(delay)
            delay = min(delay * 2, 0.02)
        return True

    def _reserve_locked(self, route: str, buckets: list[tuple[str, Bucket]]) -> float:
        now = self._clock()
        stored = self.cache.get_many([key for key, _ in buckets])
        updated: dict[str, tuple[float, float]] = {}
        wait = 0.0
        for key, bucket in buckets:
            tokens, stamp = stored.get(key, (float(bucket.burst), now))
            tokens = min(float(bucket.burst), tokens + max(0.0, now - stamp) * bucket.rate) - 1.0
            if tokens < 0:
                wait = max(wait, -tokens / bucket.rate)
            updated[key] = (tokens, now)
        if wait > self.max_wait:
            raise RateLimited(
                f"Rate budget for {route} exhausted: the next slot is {wait:.1f} s away, "
                f"more than DUALENTRY_RATE_MAX_WAIT={self.max_wait:g} s",
                retry_after=wait,
                method=route.split(" ", 1)[0],
                path=route.split(" ", 1)[-1],
            )
        self.cache.set_many(updated, timeout=STATE_TTL)
        return wait
