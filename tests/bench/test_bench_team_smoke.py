"""The team benchmark runs: a --quick pass of a few seconds per phase (about a minute).

Not a timing test: it proves the programme starts the deployment, drives the team, reads the
sandbox's request log and reports every figure; the figures themselves are `make bench`'s.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.bench import bench_team
from tests.deploy.stack import NGINX, is_postgres, redis_reachable

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("MULTIPROCESS_REDIS_URL", "redis://127.0.0.1:6379/8")

pytestmark = [
    pytest.mark.multiprocess,
    pytest.mark.skipif(
        not is_postgres(DATABASE_URL),
        reason="the team benchmark runs the deployment on PostgreSQL: set DATABASE_URL",
    ),
    pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (make nginx)"),
    pytest.mark.skipif(
        not redis_reachable(REDIS_URL), reason=f"Redis is not reachable at {REDIS_URL}"
    ),
]


def test_quick_team_benchmark_reports_every_figure(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BENCH_DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv(
        "BENCH_DATABASE_NAME", (os.environ.get("DJANGO_TEST_DB_NAME") or "test_portal") + "_bench"
    )
    monkeypatch.setenv("BENCH_REDIS_URL", REDIS_URL)
    result = bench_team.main(["--quick", "--json", str(tmp_path / "team.json")])

    assert set(result["teams"]) == {"3", "6"}
    for team in [*result["teams"].values(), *result["scaling"].values()]:
        assert team["pages"] > 0
        assert team["upstream_429"] == 0
        assert team["upstream_within_limits"] is True
        assert team["p95_ms"] >= team["p50_ms"] > 0
    assert result["freshness"]["draft_seconds"] is not None
    assert result["freshness"]["any_record_seconds"] is not None
    assert isinstance(result["meets_target"], bool)
    assert (tmp_path / "team.json").is_file()
    printed = capsys.readouterr().out
    assert "One vs two instances" in printed
    assert "Freshness:" in printed
