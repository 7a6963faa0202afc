"""The shared token-bucket budget: spacing, burst, max wait, sharing, key hygiene."""

from __future__ import annotations

import time

import pytest
from django.core.cache.backends.locmem import LocMemCache

from dualentry_api.errors import RateLimited
from dualentry_api.ratelimit import Bucket, Lane, RateBudget, lane_counters

from .conftest import API_KEY, Reply

ROUTE = "GET /public/v2/customer-refunds/"
OTHER_ROUTE = "GET /public/v2/customers/"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cache():
    cache = LocMemCache(f"ratelimit-test-{time.monotonic_ns()}", {})
    yield cache
    cache.clear()


def _budget(cache, clock, *, rate=5.0, burst=3, route_rate=1.0, route_burst=2, max_wait=3.0):
    return RateBudget(
        api_key=API_KEY,
        overall=Bucket(rate, burst),
        per_route=Bucket(route_rate, route_burst),
        max_wait=max_wait,
        cache=cache,
        clock=clock,
    )


def test_the_route_burst_is_free_then_requests_are_spaced_by_the_route_rate(cache):
    clock = FakeClock()
    budget = _budget(cache, clock, rate=100, burst=100)
    waits = [budget.reserve(ROUTE) for _ in range(5)]
    assert waits == [0.0, 0.0, pytest.approx(1.0), pytest.approx(2.0), pytest.approx(3.0)]


def test_tokens_refill_with_time(cache):
    clock = FakeClock()
    budget = _budget(cache, clock, rate=100, burst=100)
    budget.reserve(ROUTE)
    budget.reserve(ROUTE)
    clock.now += 1.5
    assert budget.reserve(ROUTE) == 0.0
    assert budget.reserve(ROUTE) == pytest.approx(0.5)


def test_the_overall_bucket_spans_routes(cache):
    clock = FakeClock()
    budget = _budget(cache, clock, rate=5, burst=3, route_burst=10)
    waits = [budget.reserve(route) for route in (ROUTE, OTHER_ROUTE, ROUTE, OTHER_ROUTE)]
    assert waits == [0.0, 0.0, 0.0, pytest.approx(0.2)]


def test_a_wait_longer_than_the_max_raises_and_reserves_nothing(cache):
    clock = FakeClock()
    budget = _budget(cache, clock, rate=100, burst=100, route_burst=1, max_wait=1.5)
    assert budget.reserve(ROUTE) == 0.0
    assert budget.reserve(ROUTE) == pytest.approx(1.0)
    with pytest.raises(RateLimited) as caught:
        budget.reserve(ROUTE)
    assert caught.value.retry_after == pytest.approx(2.0)
    assert "DUALENTRY_RATE_MAX_WAIT" in str(caught.value)
    assert "Try again in 2 seconds" in caught.value.user_message
    clock.now += 2.0  # the refused call reserved nothing: one slot is free again
    assert budget.reserve(ROUTE) == pytest.approx(0.0)


def test_two_processes_sharing_the_cache_share_one_budget(cache):
    clock = FakeClock()
    first, second = _budget(cache, clock), _budget(cache, clock)
    assert [first.reserve(ROUTE), second.reserve(ROUTE)] == [0.0, 0.0]
    assert second.reserve(ROUTE) == pytest.approx(1.0)


def test_cache_keys_hold_a_hash_of_the_api_key_never_the_key(cache):
    _budget(cache, FakeClock()).reserve(ROUTE)
    keys = list(cache._cache)
    assert keys
    assert not any(API_KEY in key for key in keys)


def test_a_zero_rate_disables_the_budget(cache):
    budget = _budget(cache, FakeClock(), rate=0, route_rate=0)
    assert all(budget.reserve(ROUTE) == 0.0 for _ in range(20))


def test_a_broken_cache_lets_the_request_through(caplog):
    class BrokenCache:
        def add(self, *args, **kwargs):
            raise ConnectionError("redis down")

    budget = _budget(BrokenCache(), FakeClock())
    assert budget.reserve(ROUTE) == 0.0
    assert "without budget" in caplog.text


def test_a_held_lock_is_waited_for_then_skipped(cache):
    clock = FakeClock()
    budget = _budget(cache, clock)
    cache.add(f"{budget._prefix}:lock", 1, timeout=60)

    def tick(seconds: float) -> None:
        clock.now += seconds

    budget._lock_sleep = tick
    assert budget.reserve(ROUTE) == 0.0
    assert clock.now - 1_000_000.0 >= 1.0  # waited LOCK_WAIT on the fake clock


def test_the_client_spaces_real_requests_through_the_budget(cache, api_server, make_client):
    api_server.script("GET", "/public/v2/customers/", Reply(json={"items": [], "count": 0}))
    budget = RateBudget(
        api_key=API_KEY,
        overall=Bucket(1000, 1000),
        per_route=Bucket(20.0, 1),
        max_wait=3.0,
        cache=cache,
    )
    client = make_client(rate_budget=budget, sleep=time.sleep)
    started = time.monotonic()
    for _ in range(5):
        client.customers.list()
    elapsed = time.monotonic() - started
    arrivals = [received.at for received in api_server.requests]
    assert len(arrivals) == 5
    # 20/s with a burst of 1: slots 50 ms apart, so the fifth request cannot leave before
    # 200 ms (unbudgeted, five requests take ~10 ms). The slots do not move when a thread
    # wakes late, so single gaps are not asserted: on a loaded machine a late wake-up
    # shortens the next gap, while the span stays bounded below.
    assert elapsed >= 0.19
    assert arrivals[-1] - arrivals[0] >= 0.15


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            {
                "DUALENTRY_RATE_PER_SECOND": 7,
                "DUALENTRY_RATE_BURST": 70,
                "DUALENTRY_ROUTE_RATE_PER_SECOND": 2,
                "DUALENTRY_ROUTE_RATE_BURST": 20,
                "DUALENTRY_RATE_MAX_WAIT": 1.5,
            },
            {"overall": Bucket(7.0, 70), "per_route": Bucket(2.0, 20), "max_wait": 1.5},
            id="buckets",
        ),
        pytest.param(
            {
                "DUALENTRY_WRITE_RESERVE": 0.3,
                "DUALENTRY_INTERACTIVE_RESERVE": 0.1,
                "DUALENTRY_SYNC_SHARE": 0.25,
                "DUALENTRY_WRITE_MAX_WAIT": 20,
                "DUALENTRY_SYNC_MAX_WAIT": 120,
            },
            {
                "write_reserve": 0.3,
                "interactive_reserve": 0.1,
                "sync_share": 0.25,
                "max_waits": {Lane.WRITE: 20.0, Lane.INTERACTIVE: 3.0, Lane.SYNC: 120.0},
            },
            id="lanes",
        ),
    ],
)
def test_settings_size_the_budget(settings, values, expected):
    for name, value in values.items():
        setattr(settings, name, value)
    budget = RateBudget.from_settings(API_KEY)
    assert {name: getattr(budget, name) for name in expected} == expected


def test_a_429_from_dualentry_is_reported_to_the_budget(cache, api_server, make_client, sleeps):
    api_server.script(
        "GET",
        "/public/v2/customers/",
        Reply(429, json={"success": False, "errors": {}}, headers={"Retry-After": "2"}),
        Reply(json={"items": [], "count": 0}),
    )
    clock = FakeClock()
    budget = _budget(cache, clock, rate=100, burst=100, route_rate=1.0, route_burst=10)
    before = lane_counters()["rate_limited"]
    make_client(rate_budget=budget).customers.list()
    assert lane_counters()["rate_limited"] == before + 1
    # The route's bucket stays empty until Retry-After (2 s) has passed on the budget's clock:
    # the retry took the first slot after it (3 s), so the next one is 4 s away.
    assert sleeps.calls == [2.0, pytest.approx(3.0)]
    with pytest.raises(RateLimited) as refused:
        budget.reserve("GET /public/v2/customers/")
    assert refused.value.retry_after == pytest.approx(4.0)
