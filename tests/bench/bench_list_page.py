"""Benchmark: a 100-row list page (/refunds/?limit=100) against the sandbox.

Measures, for the portal's list view served in-process through Django's test client:

- upstream calls per page with a cold reference cache (cleared before every request) and a
  warm one (target: exactly 1, the list itself);
- portal time = wall time of the request minus the time spent in upstream calls (each call's
  duration as the client logs it), p50 and p95, cold and warm (target: warm p95 < 25 ms).

The sandbox runs in its own process (`manage.py run_sandbox`) with enough refunds for a full
100-row page; the portal runs in a child process with a temporary SQLite database, so a bench
runner's process (and its Django settings, if any) is left alone.

    python tests/bench/bench_list_page.py [--rounds 200] [--cold-rounds 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import (  # noqa: E402
    child_environment,
    latency_stats,
    run_child,
    write_json,
)

TARGET_WARM_CALLS = 1
TARGET_P95_MS = 25.0
PAGE_URL = "/refunds/?limit=100"
ROWS = 100


# --- the child: does the measuring ---------------------------------------------------------


class UpstreamCalls(logging.Handler):
    """Collects the duration of every upstream call from the client's log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.durations_ms: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        duration = getattr(record, "duration_ms", None)
        if duration is not None:
            self.durations_ms.append(float(duration))


def _seed_enough_refunds(state_dir: Path) -> None:
    """A sandbox state with more than a page of refunds (the seed has fewer than 100)."""
    from dualentry_api.sandbox.seed import Seed
    from dualentry_api.sandbox.store import Store

    state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(state_file=state_dir / "state.json", seed=Seed())
    refunds = list(store.collection("customer-refunds").values())
    copies = []
    for index in range(max(0, ROWS + 20 - len(refunds))):
        refund = copy.deepcopy(refunds[index % len(refunds)])
        refund["number"] = store.next_number("customer-refunds")
        refund["internal_id"] = store.next_id()
        copies.append(refund)
    store.save_many("customer-refunds", copies)
    store.close()


def _measure(rounds: int, cold_rounds: int, workdir: Path) -> dict[str, Any]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import override_settings

    from portal.roles import VIEWER, sync_role_groups
    from tests.records.attachment_support import SANDBOX_KEY, sandbox_process

    call_command("migrate", verbosity=0, interactive=False)
    sync_role_groups()
    user = get_user_model().objects.create_user("bench-viewer", password="unused-password")
    user.groups.add(Group.objects.get(name=VIEWER))
    browser = Client()
    browser.force_login(user)

    calls = UpstreamCalls()
    client_log = logging.getLogger("dualentry_api")
    client_log.setLevel(logging.INFO)  # the INFO line per call is part of the portal's cost
    client_log.addHandler(calls)
    client_log.propagate = False

    _seed_enough_refunds(workdir / "sandbox")

    def page(*, cold: bool) -> tuple[float, int, float, float]:
        """(portal ms, upstream calls, upstream ms, portal CPU ms) for one page view."""
        if cold:
            cache.clear()
        calls.durations_ms.clear()
        cpu_started = time.process_time()
        started = time.perf_counter()
        response = browser.get(PAGE_URL)
        wall_ms = (time.perf_counter() - started) * 1000
        cpu_ms = (time.process_time() - cpu_started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"the list page answered HTTP {response.status_code}")
        rows = response.content.decode().split("<tbody>", 1)[1].count("<tr>")
        if rows != ROWS:
            raise RuntimeError(f"the list page has {rows} rows, not {ROWS}")
        upstream_ms = sum(calls.durations_ms)
        return wall_ms - upstream_ms, len(calls.durations_ms), upstream_ms, cpu_ms

    with (
        sandbox_process(workdir / "sandbox") as sandbox_url,
        override_settings(DUALENTRY_API_URL=sandbox_url, DUALENTRY_API_KEY=SANDBOX_KEY),
    ):
        for _ in range(5):  # warm-up: imports, templates, connections, specs
            page(cold=True)
            page(cold=False)
        samples: dict[str, dict[str, list[float]]] = {
            state: {"portal": [], "calls": [], "upstream": [], "cpu": []}
            for state in ("cold", "warm")
        }
        # Cold and warm runs apart: a cold page right before a warm one leaves the sandbox
        # process busy (three answers to finish and log) while the warm page is measured.
        for state, wanted in (("cold", cold_rounds), ("warm", rounds)):
            for _ in range(wanted):
                portal_ms, call_count, upstream_ms, cpu_ms = page(cold=state == "cold")
                samples[state]["portal"].append(portal_ms)
                samples[state]["calls"].append(call_count)
                samples[state]["upstream"].append(upstream_ms)
                samples[state]["cpu"].append(cpu_ms)

    result: dict[str, Any] = {
        "benchmark": "list page, 100 rows (/refunds/?limit=100) against the sandbox",
        "rounds": {"cold": cold_rounds, "warm": rounds},
    }
    for state, values in samples.items():
        result[state] = {
            "upstream_calls_per_page": max(values["calls"]),
            "upstream_calls_min": min(values["calls"]),
            "portal_ms": latency_stats(values["portal"]),
            "upstream_ms": latency_stats(values["upstream"]),
            # CPU time of the portal process for the request: what the page costs when the
            # machine is busy with other work too (wall time then includes waiting for a core).
            "portal_cpu_ms": latency_stats(values["cpu"]),
        }
    warm = result["warm"]
    result.update(
        {
            "target_warm_calls": TARGET_WARM_CALLS,
            "target_p95_ms": TARGET_P95_MS,
            "meets_target": warm["upstream_calls_per_page"] == TARGET_WARM_CALLS
            and warm["upstream_calls_min"] == TARGET_WARM_CALLS
            and warm["portal_ms"]["p95_ms"] < TARGET_P95_MS,
        }
    )
    result["summary"] = (
        f"warm: {warm['upstream_calls_per_page']} call/page, portal p50 "
        f"{warm['portal_ms']['p50_ms']:.1f} ms, p95 {warm['portal_ms']['p95_ms']:.1f} ms; "
        f"cold: {result['cold']['upstream_calls_per_page']} calls/page"
    )
    return result


# --- the parent: runs the child, prints, writes JSON ---------------------------------------


def run(rounds: int = 200, cold_rounds: int = 30) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-list-page-") as tmp:
        workdir = Path(tmp)
        env = child_environment(workdir, allowed_hosts="testserver,127.0.0.1,localhost")
        args = ["--rounds", str(rounds), "--cold-rounds", str(cold_rounds)]
        return run_child(__file__, workdir, args, env)


def print_table(result: dict[str, Any]) -> None:
    rounds = result["rounds"]
    print(f"{result['benchmark']} ({rounds['warm']} warm, {rounds['cold']} cold rounds)")
    header = (
        "cache",
        "calls/page",
        "portal p50",
        "portal p95",
        "upstream p50",
        "CPU p50",
        "CPU p95",
    )
    print(
        f"{header[0]:6} {header[1]:>10} {header[2]:>11} {header[3]:>11} {header[4]:>13} "
        f"{header[5]:>10} {header[6]:>10}"
    )
    for state in ("cold", "warm"):
        row = result[state]
        calls = (
            str(row["upstream_calls_per_page"])
            if row["upstream_calls_min"] == row["upstream_calls_per_page"]
            else f"{row['upstream_calls_min']}-{row['upstream_calls_per_page']}"
        )
        print(
            f"{state:6} {calls:>10} {row['portal_ms']['p50_ms']:>8.2f} ms "
            f"{row['portal_ms']['p95_ms']:>8.2f} ms {row['upstream_ms']['p50_ms']:>10.2f} ms "
            f"{row['portal_cpu_ms']['p50_ms']:>7.2f} ms {row['portal_cpu_ms']['p95_ms']:>7.2f} ms"
        )
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(
        f"{verdict} the targets: warm = {result['target_warm_calls']} upstream call per page, "
        f"warm portal p95 < {result['target_p95_ms']:g} ms "
        "(portal = wall time minus upstream time; CPU = the portal process's CPU time)"
    )


def main(argv: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Run, print the table, optionally write JSON; returns the result dict.

    `argv` defaults to no arguments (not `sys.argv`) so a bench runner can call `main()`.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="warm-cache page views")
    parser.add_argument("--cold-rounds", type=int, default=30, help="cold-cache page views")
    parser.add_argument("--json", type=Path, help="write the result as JSON to this file")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv))
    if args.child:
        result = _measure(args.rounds, args.cold_rounds, args.child.parent)
        args.child.write_text(json.dumps(result))
        return result
    result = run(rounds=args.rounds, cold_rounds=args.cold_rounds)
    print_table(result)
    write_json(result, args.json)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
