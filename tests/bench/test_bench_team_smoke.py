"""The team benchmark runs: a --quick pass of a few seconds per phase (about a minute).

Not a timing test: it proves the programme starts the deployment, drives the team, reads the
sandbox's request log and reports every figure; the figures themselves are `make bench`'s.
"""

from __future__ import annotations

from tests.bench import bench_team
from tests.deploy.testing import DATABASE_URL, REDIS_URL, deployment_marks, run_database_name

pytestmark = deployment_marks(
    postgres_reason="the team benchmark runs the deployment on PostgreSQL: set DATABASE_URL",
)


def test_quick_team_benchmark_reports_every_figure(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BENCH_DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("BENCH_DATABASE_NAME", run_database_name("_bench"))
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
