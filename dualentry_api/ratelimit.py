"""A client-side rate budget shared by every portal process through Django's cache.

DualEntry documents token buckets per API key: about 5 requests/s overall (burst 50) and
1 request/s per route (burst 10). Before each request the client reserves one token from the
key's overall bucket and one from the route's bucket (route = method + path template, e.g.
``GET /public/v2/customer-refunds/{record_number}/``). A bucket may go below zero: that is a
reservation, and the caller sleeps until its token exists.

Lanes (``use_lane``) decide how deep a request may dig into each bucket:

- ``WRITE`` (writes and the reads that belong to them) may take every token, and waits up to
  ``DUALENTRY_WRITE_MAX_WAIT`` (10 s) rather than fail.
- ``INTERACTIVE`` (a person waiting for a page) may not take a bucket below the write reserve,
  ``DUALENTRY_WRITE_RESERVE`` (0.4) of its burst, and fails fast with ``RateLimited`` when its
  slot is more than ``DUALENTRY_RATE_MAX_WAIT`` (3 s) away.
- ``SYNC`` (the background sync) may not take a bucket below the write reserve plus the
  interactive reserve, ``DUALENTRY_INTERACTIVE_RESERVE`` (0.2) of the burst, and is also capped
  by buckets of its own at ``DUALENTRY_SYNC_SHARE`` (0.5) of the key's and the route's rate. It
  never queues ahead: it takes a token only when one is free now, else sleeps and tries again,
  for up to ``DUALENTRY_SYNC_MAX_WAIT`` (60 s).

Why that keeps writes from waiting: an interactive request reserves at most
``DUALENTRY_RATE_MAX_WAIT`` seconds ahead, i.e. at most rate x max wait tokens below its
floor; with the defaults that is 3 of the route's 4 reserved tokens and 15 of the key's 20,
so a write always finds a token at once. The sync never goes below its own floor at all.

When DualEntry answers 429 anyway (another client on the same key, a lower limit than
documented), ``record_rate_limited`` empties the route's bucket until ``Retry-After`` has
passed, so later requests on that route queue one by one behind the block instead of
stampeding when it lifts, and pauses the sync lane on every route for twice as long, so pages
and writes go first.

``lane_counters()`` gives per-process counts by lane (requests, waits, seconds waited,
refusals, 429s recorded), cheap enough to read for metrics.

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
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dualentry_api.errors import RateLimited

__all__ = ["Bucket", "Lane", "RateBudget", "current_lane", "lane_counters", "use_lane"]

logger = logging.getLogger("dualentry_api")

LOCK_TIMEOUT = 2  # seconds; a crashed holder's lock disappears after this
LOCK_WAIT = 1.0  # seconds to wait for the lock before going ahead unbudgeted
STATE_TTL = 3600  # idle buckets are full again long before this; let the cache drop them
SYNC_HORIZON = 0.001  # seconds: how far ahead the sync lane may reserve


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


@dataclass
class _LaneCount:
    requests: int = 0
    waited: int = 0
    wait_seconds: float = 0.0
    refused: int = 0


@dataclass
class _Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    lanes: dict[Lane, _LaneCount] = field(default_factory=lambda: {x: _LaneCount() for x in Lane})
    rate_limited: int = 0

    def count(self, lane: Lane, *, wait: float = 0.0, refused: bool = False) -> None:
        with self.lock:
            count = self.lanes[lane]
            if refused:
                count.refused += 1
                return
            count.requests += 1
            if wait > 0:
                count.waited += 1
                count.wait_seconds += wait


_counters = _Counters()


def lane_counters() -> dict[str, Any]:
    """This process's budget counters: per lane, and the 429s DualEntry answered."""
    with _counters.lock:
        return {
            "lanes": {
                lane.name.lower(): {
                    "requests": count.requests,
                    "waited": count.waited,
                    "wait_seconds": round(count.wait_seconds, 3),
                    "refused": count.refused,
                }
                for lane, count in _counters.lanes.items()
            },
            "rate_limited": _counters.rate_limited,
        }


def key_fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class _Slot:
    """One bucket a request draws from, and how low this lane may take it."""

    key: str
    bucket: Bucket
    floor: float


_MAX_WAIT_SETTING = {
    Lane.WRITE: "DUALENTRY_WRITE_MAX_WAIT",
    Lane.INTERACTIVE: "DUALENTRY_RATE_MAX_WAIT",
    Lane.SYNC: "DUALENTRY_SYNC_MAX_WAIT",
}


class RateBudget:
    """Token buckets for one API key: one overall, one per route, and the sync lane's caps.

    ``reserve(route)`` returns how many seconds to sleep before sending (0.0 mostly) or raises
    ``RateLimited``; the lane is the calling context's (``use_lane``) unless given. ``cache`` is
    a Django cache (``caches["default"]`` when None). Without reserves and with a sync share of
    1 (the constructor's defaults) every lane behaves alike; ``from_settings`` turns them on.
    """

    def __init__(
        self,
        *,
        api_key: str,
        overall: Bucket,
        per_route: Bucket,
        max_wait: float,
        write_max_wait: float | None = None,
        sync_max_wait: float | None = None,
        write_reserve: float = 0.0,
        interactive_reserve: float = 0.0,
        sync_share: float = 1.0,
        cache: Any = None,
        clock: Callable[[], float] = time.time,
        lock_sleep: Callable[[float], None] = time.sleep,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if write_reserve < 0 or interactive_reserve < 0 or write_reserve + interactive_reserve >= 1:
            raise ValueError(
                "DUALENTRY_WRITE_RESERVE and DUALENTRY_INTERACTIVE_RESERVE are shares of the "
                "burst: each at least 0, together below 1."
            )
        if not 0 < sync_share <= 1:
            raise ValueError("DUALENTRY_SYNC_SHARE must be above 0 and at most 1.")
        self._prefix = f"dualentry-rate:{key_fingerprint(api_key)}"
        self.overall = overall
        self.per_route = per_route
        self.max_wait = max_wait
        self.max_waits = {
            Lane.WRITE: max_wait if write_max_wait is None else write_max_wait,
            Lane.INTERACTIVE: max_wait,
            Lane.SYNC: max_wait if sync_max_wait is None else sync_max_wait,
        }
        self.write_reserve = write_reserve
        self.interactive_reserve = interactive_reserve
        self.sync_share = sync_share
        self._cache = cache
        self._clock = clock
        self._lock_sleep = lock_sleep
        self._sleep = sleep

    @classmethod
    def from_settings(cls, api_key: str, **kwargs: Any) -> RateBudget:
        from django.conf import settings

        def number(name: str, default: float) -> float:
            return float(getattr(settings, name, default))

        return cls(
            api_key=api_key,
            overall=Bucket(
                number("DUALENTRY_RATE_PER_SECOND", 5.0),
                int(getattr(settings, "DUALENTRY_RATE_BURST", 50)),
            ),
            per_route=Bucket(
                number("DUALENTRY_ROUTE_RATE_PER_SECOND", 1.0),
                int(getattr(settings, "DUALENTRY_ROUTE_RATE_BURST", 10)),
            ),
            max_wait=number("DUALENTRY_RATE_MAX_WAIT", 3.0),
            write_max_wait=number("DUALENTRY_WRITE_MAX_WAIT", 10.0),
            sync_max_wait=number("DUALENTRY_SYNC_MAX_WAIT", 60.0),
            write_reserve=number("DUALENTRY_WRITE_RESERVE", 0.4),
            interactive_reserve=number("DUALENTRY_INTERACTIVE_RESERVE", 0.2),
            sync_share=number("DUALENTRY_SYNC_SHARE", 0.5),
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

    def floor(self, lane: Lane, bucket: Bucket) -> float:
        """The fewest tokens ``lane`` may leave in a shared ``bucket``."""
        reserved = {
            Lane.WRITE: 0.0,
            Lane.INTERACTIVE: self.write_reserve,
            Lane.SYNC: self.write_reserve + self.interactive_reserve,
        }[lane]
        return round(reserved * bucket.burst, 6)  # 0.4 x 10 + 0.2 x 10 is 6.000000000000001

    def _slots(self, route: str, lane: Lane) -> list[_Slot]:
        route_key = self._route_key(route)
        slots = [
            _Slot(f"{self._prefix}:all", self.overall, self.floor(lane, self.overall)),
            _Slot(route_key, self.per_route, self.floor(lane, self.per_route)),
        ]
        if lane is Lane.SYNC and self.sync_share < 1:
            slots += [
                _Slot(f"{self._prefix}:sync:all", self._sync_bucket(self.overall), 0.0),
                _Slot(f"{route_key}:sync", self._sync_bucket(self.per_route), 0.0),
            ]
        return [slot for slot in slots if slot.bucket.enabled]

    def _sync_bucket(self, bucket: Bucket) -> Bucket:
        return Bucket(bucket.rate * self.sync_share, max(1, int(bucket.burst * self.sync_share)))

    def reserve(self, route: str, lane: Lane | None = None) -> float:
        """Reserve a token for ``route`` in ``lane``; the seconds to wait before sending."""
        lane = current_lane() if lane is None else lane
        slots = self._slots(route, lane)
        if not slots:
            return 0.0
        max_wait = self.max_waits[lane]
        # The sync takes only a token that is free now (give or take a rounding error); the
        # other lanes queue for theirs.
        horizon = SYNC_HORIZON if lane is Lane.SYNC else max_wait
        started = self._clock()
        while True:
            remaining = max_wait - (self._clock() - started)
            try:
                wait, committed = self._locked(route, slots, lane, horizon)
            except _CacheTrouble:
                return 0.0
            if wait > remaining + (0.0 if committed else 1e-9):
                _counters.count(lane, refused=True)
                raise self._refusal(route, lane, wait)
            if committed:
                slept = self._clock() - started
                _counters.count(lane, wait=slept + wait)
                return wait
            self._sleep(wait)

    def _refusal(self, route: str, lane: Lane, wait: float) -> RateLimited:
        setting = _MAX_WAIT_SETTING[lane]
        return RateLimited(
            f"Rate budget for {route} ({lane.name.lower()} lane) exhausted: the next slot is "
            f"{wait:.1f} s away, more than {setting}={self.max_waits[lane]:g} s",
            retry_after=wait,
            method=route.split(" ", 1)[0],
            path=route.split(" ", 1)[-1],
        )

    def _locked(
        self, route: str, slots: list[_Slot], lane: Lane, horizon: float
    ) -> tuple[float, bool]:
        """Under the lock: (wait, True) when a slot was reserved, (wait, False) to come back."""
        lock_key = f"{self._prefix}:lock"
        try:
            if not self._acquire(lock_key):
                logger.warning("Rate budget lock busy; sending %s without budget", route)
                raise _CacheTrouble
            try:
                return self._reserve_locked(slots, lane, horizon)
            finally:
                self.cache.delete(lock_key)
        except _CacheTrouble:
            raise
        except Exception as err:  # the cache backend's own errors (Redis down) are not ours
            logger.warning(
                "Rate budget cache unavailable; sending %s without budget", route, exc_info=True
            )
            raise _CacheTrouble from err

    def _acquire(self, lock_key: str) -> bool:
        deadline = self._clock() + LOCK_WAIT
        delay = 0.001
        while not self.cache.add(lock_key, 1, timeout=LOCK_TIMEOUT):
            if self._clock() >= deadline:
                return False
            self._lock_sleep(delay)
            delay = min(delay * 2, 0.02)
        return True

    def _reserve_locked(self, slots: list[_Slot], lane: Lane, horizon: float) -> tuple[float, bool]:
        now = self._clock()
        keys = [slot.key for slot in slots]
        pause_key = f"{self._prefix}:sync-paused-until"
        stored = self.cache.get_many([*keys, pause_key] if lane is Lane.SYNC else keys)
        updated: dict[str, tuple[float, float]] = {}
        wait = max(0.0, stored.get(pause_key, now) - now)
        for slot in slots:
            bucket = slot.bucket
            tokens, stamp = stored.get(slot.key, (float(bucket.burst), now))
            # A stamp in the future is a block (a 429's Retry-After): no refill before it.
            start = max(now, stamp)
            tokens = min(float(bucket.burst), tokens + max(0.0, now - stamp) * bucket.rate)
            tokens -= 1.0
            wait = max(wait, start - now + max(0.0, slot.floor - tokens) / bucket.rate)
            updated[slot.key] = (tokens, start)
        if wait > horizon:
            return wait, False
        self.cache.set_many(updated, timeout=STATE_TTL)
        return wait, True

    def record_rate_limited(self, route: str, retry_after: float | None) -> None:
        """DualEntry answered 429: block the route until ``Retry-After``, the sync twice as long."""
        blocked_for = max(1.0, retry_after or 0.0)
        with _counters.lock:
            _counters.rate_limited += 1
        lock_key = f"{self._prefix}:lock"
        try:
            if not self._acquire(lock_key):
                return
            try:
                now = self._clock()
                route_key = self._route_key(route)
                pause_key = f"{self._prefix}:sync-paused-until"
                stored = self.cache.get_many([route_key, pause_key])
                tokens, stamp = stored.get(route_key, (0.0, now))
                self.cache.set_many(
                    {
                        route_key: (min(tokens, 0.0), max(stamp, now + blocked_for)),
                        pause_key: max(stored.get(pause_key, now), now + 2 * blocked_for),
                    },
                    timeout=STATE_TTL,
                )
            finally:
                self.cache.delete(lock_key)
        except Exception:  # the cache backend's own errors (Redis down) are not ours to type
            logger.warning("Rate budget cache unavailable; 429 on %s not recorded", route)


class _CacheTrouble(Exception):
    """The shared cache could not be used: the request goes ahead unbudgeted."""
