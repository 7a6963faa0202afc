"""The sync's share of DualEntry's budget: pacing of a full reconcile, and the schedule."""

from __future__ import annotations

import itertools
import time

import pytest

from portal.readmodel import sync
from portal.readmodel.models import MirroredRecord
from portal.readmodel.selectors import schedule_load
from tests.readmodel.conftest import REFUNDS_PATH, grow_refunds

pytestmark = pytest.mark.django_db


@pytest.fixture
def documented_rates(settings):
    """DualEntry's documented rates (the suite's default lifts them); bursts stay high so the
    client's own budget never waits here: the sync's pacing is what is measured."""
    settings.DUALENTRY_ROUTE_RATE_PER_SECOND = 1.0
    settings.DUALENTRY_RATE_PER_SECOND = 5.0
    settings.READMODEL_BUDGET_SHARE = 0.5


@pytest.fixture
def simulated_clock(monkeypatch):
    """The pacer's clock and sleep, simulated: pacing is checked without waiting for it."""
    slept = [0.0]
    moments: list[float] = []

    def clock() -> float:
        return time.time() + slept[0]

    def sleep(seconds: float) -> None:
        slept[0] += seconds

    original_wait = sync.SyncPacer.wait

    def wait(pacer) -> None:
        original_wait(pacer)
        moments.append(pacer.state.last_request_at.timestamp())  # when the request went

    monkeypatch.setattr(sync, "pacer_clock", clock)
    monkeypatch.setattr(sync, "pacer_sleep", sleep)
    monkeypatch.setattr(sync.SyncPacer, "wait", wait)
    return moments


def test_a_full_reconcile_of_1000_records_stays_within_half_the_route_budget(
    fresh_sandbox, documented_rates, simulated_clock
):
    grow_refunds(fresh_sandbox, 1000)
    fresh_sandbox.clear_log()
    run = sync.sync_kind(kind="refunds", mode="full", whole_pass=True)
    assert run.ok
    assert MirroredRecord.objects.filter(kind="refunds").count() == 1000
    requests = fresh_sandbox.request_count(REFUNDS_PATH, "GET")
    assert requests == run.pages_read == 10  # 100 per page, nothing asked twice
    gaps = [later - earlier for earlier, later in itertools.pairwise(simulated_clock)]
    # 50 % of 1 request/s: at least 2 s between two requests of the sync on the route.
    assert len(simulated_clock) == requests and min(gaps) >= 2.0 - 1e-5
    rate = (requests - 1) / (simulated_clock[-1] - simulated_clock[0])
    assert rate <= 0.5 + 1e-6  # microsecond rounding of the stored request times


def test_the_spacing_also_keeps_all_kinds_within_half_the_key_budget(settings):
    settings.DUALENTRY_ROUTE_RATE_PER_SECOND = 10.0  # a generous route rate...
    settings.DUALENTRY_RATE_PER_SECOND = 5.0  # ...but the key's rate binds: 5 syncs share it
    settings.READMODEL_BUDGET_SHARE = 0.5
    assert sync.sync_spacing() == pytest.approx(5 / 2.5)


def test_the_default_schedule_fits_in_half_the_route_budget_with_1000_records_per_kind(
    documented_rates,
):
    load = schedule_load(records_per_kind=1000)
    assert load["full_pass_pages"] == 11  # 10 pages and one to confirm removals
    assert load["full_pass_seconds"] <= 210  # the pass fits in its cycle
    assert load["requests_per_second"] <= load["allowed_per_second"] == 0.5


def test_a_budget_share_of_zero_is_refused(settings):
    settings.READMODEL_BUDGET_SHARE = 0
    with pytest.raises(ValueError, match="READMODEL_BUDGET_SHARE"):
        sync.sync_spacing()


def test_a_schedule_asking_for_more_than_the_share_is_flagged(settings, documented_rates):
    from portal.readmodel.checks import check_sync_budget

    assert check_sync_budget() == []
    settings.READMODEL_DRAFTS_INTERVAL = 1
    [warning] = check_sync_budget()
    assert warning.id == "readmodel.W001" and "READMODEL_BUDGET_SHARE" in warning.msg
    settings.READMODEL_BUDGET_SHARE = 0
    assert [message.id for message in check_sync_budget()] == ["readmodel.E001"]
