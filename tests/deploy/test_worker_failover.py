"""One sync leader at a time: kill -9 the worker mid-sync, start another, the sync resumes.

Runs the deployment (tests/deploy/stack.py) with the read model's worker on PostgreSQL and a
rate-limited sandbox of 400 records per kind, with a short sync lease so the test need not wait
a minute for the dead worker's lease to expire. Marked `multiprocess`; skipped until the read
model's `manage.py run_worker` is part of the build.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import time
from urllib.parse import parse_qs

import pytest
import requests

from .stack import OUTSIDE_KEY, worker_command_available
from .testing import deployment_marks, fresh_stack

COLLECTIONS = {
    "refunds": "customer-refunds",
    "deposits": "customer-deposits",
    "credits": "customer-credits",
    "contracts": "contracts",
}
LEASE_SECONDS = 6

pytestmark = [
    *deployment_marks(
        postgres_reason="the multi-process test needs PostgreSQL: set DATABASE_URL=postgres://...",
    ),
    pytest.mark.skipif(
        not worker_command_available(),
        reason="no task worker in this build (the read model's manage.py run_worker)",
    ),
]


def _query(database_url: str, sql: str, *params) -> list[tuple]:
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as connection:
        return connection.execute(sql, params).fetchall()


def _wait_for(description: str, check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {description}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with fresh_stack(
        tmp_path_factory,
        "failover",
        instances=1,
        web_workers=1,
        records_per_kind=400,
        extra_env={
            "READMODEL_LEASE_SECONDS": str(LEASE_SECONDS),
            # Pages of 50: a full pass of a kind is several paced pages, so there is a
            # moment to kill the worker between two of them.
            "READMODEL_PAGE_SIZE": "50",
            "READMODEL_SCHEDULER_TICK": "1",
        },
    ) as running:
        yield running


def test_killed_worker_mid_sync_is_taken_over_and_the_pass_resumes(stack):
    database_url = stack.database_url

    def pass_under_way():
        rows = _query(
            database_url,
            "SELECT kind, full_cursor FROM readmodel_syncstate "
            "WHERE full_cursor > 0 AND lease_owner <> '' AND kind <> 'references'",
        )
        return rows[0] if rows else None

    kind, cursor_at_kill = _wait_for("a full pass under way", pass_under_way, timeout=90)
    os.killpg(stack.processes["worker"].pid, signal.SIGKILL)
    stack.processes["worker"].wait(timeout=10)
    killed_at = dt.datetime.now(dt.UTC)
    stack.start_worker("worker2")

    def pass_completed():
        rows = _query(
            database_url,
            "SELECT last_full_at FROM readmodel_syncstate "
            "WHERE kind = %s AND full_cursor IS NULL AND last_full_at IS NOT NULL",
            kind,
        )
        return rows[0] if rows else None

    _wait_for(f"the {kind} full pass to complete", pass_completed, timeout=150)

    # Every record of the kind is in the copy, once (the copy is keyed by account+kind+key).
    upstream_count = requests.get(
        f"{stack.sandbox_url}/public/v2/{COLLECTIONS[kind]}/",
        params={"limit": 1},
        headers={"X-API-KEY": OUTSIDE_KEY},
        timeout=10,
    ).json()["count"]
    ((copied, distinct),) = _query(
        database_url,
        "SELECT count(*), count(DISTINCT key) FROM readmodel_mirroredrecord "
        "WHERE kind = %s AND removed_upstream_at IS NULL",
        kind,
    )
    assert copied == distinct == upstream_count

    # One leader at a time: no two full runs of the kind overlap, and nothing ran beside the
    # killed run (which never finished) until its lease had expired.
    runs = _query(
        database_url,
        "SELECT started_at, finished_at FROM readmodel_syncrun "
        "WHERE kind = %s AND mode = 'full' ORDER BY started_at",
        kind,
    )
    unfinished = [started for started, finished in runs if finished is None]
    assert len(unfinished) == 1, runs
    for (_, earlier_end), (later_start, _) in itertools.pairwise(runs):
        limit = earlier_end if earlier_end is not None else killed_at
        assert later_start >= limit, runs

    # The pass resumed where the dead worker stopped instead of starting again from offset 0:
    # the full pass reads pages in a stable order without filters (the new-records sync reads
    # newest first, the drafts sync filters by status).
    assert [started for started, _ in runs if started >= killed_at], runs
    resumed_offsets = [
        int(query["offset"][0])
        for entry in stack.sandbox_requests(
            method="GET", path_prefix=f"/public/v2/{COLLECTIONS[kind]}/"
        )
        if entry["path"] == f"/public/v2/{COLLECTIONS[kind]}/"
        and entry["at"] >= killed_at.timestamp()
        and entry["status"] == 200
        for query in [parse_qs(entry["query"])]
        if "offset" in query
        and not query.get("ordering", ["-"])[0].startswith("-")
        and set(query) <= {"limit", "offset", "ordering"}
    ]
    assert resumed_offsets, "the new worker read no page of the full pass"
    assert min(resumed_offsets) >= cursor_at_kill > 0
    assert stack.processes["worker2"].poll() is None
    # The new worker beats: readiness through nginx sees it alive.
    worker = requests.get(f"{stack.url}/health/ready/", timeout=10).json()["worker"]
    assert worker["status"] == "ok"
    assert worker["worker"].endswith(f":{stack.processes['worker2'].pid}") or (
        worker["worker"] == "read model sync"
    )
