"""What the benchmarks share: percentiles, the child process that measures, JSON output.

Benchmarks that measure the portal run the measuring in a child process with its own
temporary SQLite database and settings (`child_environment`, `run_child`), so a bench
runner's process is left alone. Not a benchmark itself (run_all.py runs `bench_*.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def percentile(samples: list[float], share: float) -> float:
    """The nearest-rank percentile: `share` 0.95 gives the p95 sample."""
    ordered = sorted(samples)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def latency_stats(samples: list[float]) -> dict[str, float]:
    """p50, p95 and max of millisecond samples, rounded to 0.01 ms."""
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(percentile(samples, 0.95), 2),
        "max_ms": round(max(samples), 2),
    }


def child_environment(workdir: Path, *, allowed_hosts: str, **extra: str) -> dict[str, str]:
    """The measuring child's environment: production settings (DEBUG off) served over plain
    HTTP on loopback, a SQLite database in `workdir`, a generous rate budget (a local sandbox
    has nothing to protect), plus `extra`."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DJANGO_SECRET_KEY": "bench-only-secret",
            "DJANGO_DEBUG": "off",
            "DJANGO_STATIC_MANIFEST": "off",
            "DJANGO_ALLOWED_HOSTS": allowed_hosts,
            "DJANGO_SECURE_COOKIES": "off",
            "DJANGO_SECURE_SSL_REDIRECT": "off",
            "AUDIT_HMAC_KEY": "bench-only-audit-key-of-at-least-32-characters",
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "CACHE_URL": "locmemcache://bench",
            "LOG_LEVEL": "WARNING",
            "DUALENTRY_RATE_PER_SECOND": "10000",
            "DUALENTRY_RATE_BURST": "10000",
            "DUALENTRY_ROUTE_RATE_PER_SECOND": "10000",
            "DUALENTRY_ROUTE_RATE_BURST": "10000",
            **extra,
        }
    )
    return env


def run_child(
    script: str | Path, workdir: Path, args: list[str], env: dict[str, str]
) -> dict[str, Any]:
    """Run `script --child <workdir>/result.json *args` from the project root; its result."""
    out = workdir / "result.json"
    command = [sys.executable, str(Path(script).resolve()), "--child", str(out), *args]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return json.loads(out.read_text())


def write_json(result: dict[str, Any], path: Path | None) -> None:
    """Write `result` as indented JSON to `path` (nothing if None), creating its folder."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def main_with_child(
    parser: argparse.ArgumentParser,
    argv: list[str] | tuple[str, ...],
    *,
    measure: Callable[[argparse.Namespace], dict[str, Any]],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    print_table: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """The `main` of a benchmark that measures in a child process (`run_child`).

    Adds `--json` and the hidden `--child` to the benchmark's own options and parses `argv`.
    In the child, `measure` and leave the result where `run_child` reads it; in the runner,
    `run` (which starts the child), print the table and write the JSON. Returns the result.
    """
    parser.add_argument("--json", type=Path, help="write the result as JSON to this file")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv))
    if args.child:
        result = measure(args)
        args.child.write_text(json.dumps(result))
        return result
    result = run(args)
    print_table(result)
    write_json(result, args.json)
    return result
