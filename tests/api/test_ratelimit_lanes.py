"""Budget lanes on a fake clock: writes first, then people, the sync last and capped."""

from __future__ import annotations

import time

import pytest
from django.core.cache.backends.locmem import LocMemCache

from dualentry_api.errors import RateLimited
from dualentry_api.ratelimit import (
    Bucket,
    Lane,
    RateBudget,
    current_lane,
    lane_counters,
    use_lane,
)

from .conftest import API_KEY

ROUTE = "GET /public/v2/customer-refunds/{record_number}/"
OTHER_ROUTE = "GET /public/v2/customers/"
PLENTY = Bucket(1000, 1000)
ROUTE_BUCKET = Bucket(1.0, 10)  # DualEntry's documented per-route bucket


class FakeClock:
    """time.time and time.sleep in one: sleeping moves the clock, and is recorded."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def cache():
    cache = LocMemCache(f"lanes-test-{time.monotonic_ns()}", {})
    yield cache
    cache.clear()


@pytest.fixture
def clock():
    return FakeClock()


def _budget(cache, clock, *, overall=PLENTY, route=ROUTE_BUCKET, **options) -> RateBudget:
    settings = {
        "max_wait": 3.0,
        "write_max_wait": 10.0,
        "sync_max_wait": 60.0,
        "write_reserve": 0.4,
        "interactive_reserve": 0.2,
        "sync_share": 0.5,
        **options,
    }
    return RateBudget(
        api_key=API_KEY,
        overall=overall,
        per_route=route,
        cache=cache,
        clock=clock,
        sleep=clock.sleep,
        lock_sleep=clock.sleep,
        **settings,
    )


def test_interactive_reads_leave_the_write_reserve_untouched(cache, clock):
    budget = _budget(cache, clock)
    free = [budget.reserve(ROUTE, Lane.INTERACTIVE) for _ in range(6)]
    assert free == [0.0] * 6  # 10 tokens, 4 of them (0.4) kept for writes
    assert budget.reserve(ROUTE, Lane.INTERACTIVE) == pytest.approx(1.0)
    assert budget.reserve(ROUTE, Lane.WRITE) == 0.0


def test_a_write_never_waits_behind_queued_page_views(cache, clock):
    budget = _budget(cache, clock)
    waits = []
    with pytest.raises(RateLimited) as refused:
        while True:
            waits.append(budget.reserve(ROUTE, Lane.INTERACTIVE))
    assert waits == [0.0] * 6 + [pytest.approx(1.0), pytest.approx(2.0), pytest.approx(3.0)]
    assert "DUALENTRY_RATE_MAX_WAIT" in str(refused.value)
    # Page views queue at most 3 s (3 tokens) into the 4 reserved: the write goes at once.
    assert budget.reserve(ROUTE, Lane.WRITE) == 0.0
    assert clock.sleeps == []


def test_writes_wait_rather_than_fail(cache, clock):
    budget = _budget(cache, clock, route=Bucket(1.0, 1))
    waits = [budget.reserve(ROUTE, Lane.WRITE) for _ in range(11)]
    assert waits[0] == 0.0
    assert waits[-1] == pytest.approx(10.0)  # the interactive lane would have refused at 3 s
    with pytest.raises(RateLimited, match="DUALENTRY_WRITE_MAX_WAIT"):
        budget.reserve(ROUTE, Lane.WRITE)


def test_the_sync_stops_above_the_write_and_interactive_reserves(cache, clock):
    budget = _budget(cache, clock, sync_share=1.0)
    free = [budget.reserve(ROUTE, Lane.SYNC) for _ in range(4)]
    assert free == [0.0] * 4 and clock.sleeps == []  # 10 - (0.4 + 0.2) x 10
    assert budget.reserve(ROUTE, Lane.SYNC) == pytest.approx(0.0, abs=0.001)
    assert sum(clock.sleeps) == pytest.approx(1.0)  # slept until a token above 6 was free
    # People and writes still find their shares at once.
    assert budget.reserve(ROUTE, Lane.INTERACTIVE) == 0.0
    assert budget.reserve(ROUTE, Lane.WRITE) == 0.0


def test_the_sync_is_capped_at_its_share_of_the_rate(cache, clock):
    budget = _budget(cache, clock, write_reserve=0, interactive_reserve=0, sync_share=0.5)
    started = clock.now
    for _ in range(25):
        budget.reserve(ROUTE, Lane.SYNC)
    # Its own bucket: burst 5 (half of 10), then 0.5 tokens/s, although the route has 1/s.
    assert clock.now - started == pytest.approx(40.0, abs=0.01)


def test_the_sync_cap_applies_to_the_key_bucket_too(cache, clock):
    budget = _budget(
        cache, clock, overall=Bucket(4.0, 4), route=PLENTY, write_reserve=0, interactive_reserve=0
    )
    started = clock.now
    for index in range(12):
        budget.reserve(f"GET /public/v2/route-{index}/", Lane.SYNC)
    assert clock.now - started == pytest.approx(5.0, abs=0.01)  # 2 free, then 2/s


def test_the_sync_gives_up_after_its_own_max_wait(cache, clock):
    budget = _budget(cache, clock, sync_max_wait=5.0, sync_share=1.0)
    for _ in range(10):
        budget.reserve(ROUTE, Lane.WRITE)  # the route is empty: 7 s until the sync's floor
    with pytest.raises(RateLimited, match="DUALENTRY_SYNC_MAX_WAIT") as refused:
        budget.reserve(ROUTE, Lane.SYNC)
    assert refused.value.retry_after == pytest.approx(7.0)
    clock.now += 7.0
    assert budget.reserve(ROUTE, Lane.SYNC) == pytest.approx(0.0, abs=0.001)


def test_the_lane_comes_from_the_context(cache, clock):
    budget = _budget(cache, clock, route=Bucket(1.0, 10))
    for _ in range(6):
        budget.reserve(ROUTE)  # interactive by default
    with use_lane(Lane.WRITE):
        assert budget.reserve(ROUTE) == 0.0
    assert budget.reserve(ROUTE) > 0


def test_a_429_blocks_the_route_and_pauses_the_sync_longer(cache, clock):
    budget = _budget(cache, clock)
    budget.record_rate_limited(ROUTE, 2.0)
    # DualEntry's bucket is empty: it refills from the end of the block, and page views may
    # not dig into the write reserve, so they are refused at once instead of stampeding ...
    with pytest.raises(RateLimited) as refused:
        budget.reserve(ROUTE, Lane.INTERACTIVE)
    assert refused.value.retry_after == pytest.approx(2.0 + 5.0)
    # ... while a write queues behind the block for the first token, and other routes go on.
    assert budget.reserve(ROUTE, Lane.WRITE) == pytest.approx(2.0 + 1.0)
    assert budget.reserve(OTHER_ROUTE, Lane.INTERACTIVE) == 0.0
    started = clock.now
    budget.reserve(OTHER_ROUTE, Lane.SYNC)
    assert clock.now - started == pytest.approx(4.0, abs=0.01)  # twice the Retry-After


def test_a_429_without_retry_after_blocks_for_a_second(cache, clock):
    budget = _budget(cache, clock, write_reserve=0, interactive_reserve=0)
    budget.record_rate_limited(ROUTE, None)
    assert budget.reserve(ROUTE, Lane.WRITE) == pytest.approx(2.0)  # block 1 s + 1 token at 1/s


def test_counters_count_waits_and_refusals_by_lane(cache, clock):
    before = lane_counters()["lanes"]
    budget = _budget(cache, clock, route=Bucket(1.0, 10))
    for _ in range(7):
        budget.reserve(ROUTE, Lane.INTERACTIVE)
    with pytest.raises(RateLimited):
        for _ in range(5):
            budget.reserve(ROUTE, Lane.INTERACTIVE)
    after = lane_counters()["lanes"]
    interactive = {
        name: after["interactive"][name] - before["interactive"][name]
        for name in before["interactive"]
    }
    assert interactive["requests"] == 9
    assert interactive["waited"] == 3
    assert interactive["wait_seconds"] == pytest.approx(6.0)
    assert interactive["refused"] == 1


def test_reserves_must_leave_room_for_page_views():
    with pytest.raises(ValueError, match="together below 1"):
        RateBudget(
            api_key=API_KEY,
            overall=PLENTY,
            per_route=PLENTY,
            max_wait=3,
            write_reserve=0.7,
            interactive_reserve=0.3,
        )


def test_use_lane_also_decorates_a_service():
    @use_lane(Lane.WRITE)
    def approve() -> Lane:
        return current_lane()

    assert approve() is Lane.WRITE
    assert approve() is Lane.WRITE  # a fresh context each call
    assert current_lane() is Lane.INTERACTIVE
