"""Benchmark: lists, the dashboard and exports answered from the read model.

The read model is filled directly with generated rows (10,000 per kind; no sandbox needed) and
the portal points at an address where nothing answers, so any upstream call would show (it is
counted from the client's log and must be 0). Measured in-process through Django's test client:

- a list page of 100 rows out of 10,000 per kind, sorted by amount, with a search and two
  filters (status, currency): p95 < 50 ms, 0 upstream calls;
- the dashboard: p95 < 100 ms;
- the CSV and XLSX exports of 10,000 rows: under 5 s each, in constant memory (Python heap peak
  measured by tracemalloc for 1,000 and 10,000 rows: flat; the process's peak RSS growth too).

On PostgreSQL when it is reachable (the target's database; `--database` to choose), else
SQLite. `make bench` runs it with the others.

    python tests/bench/bench_lists.py [--rounds 100] [--database postgres://...] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.common import child_environment, latency_stats, main_with_child, run_child  # noqa: E402

RECORDS_PER_KIND = 10_000
TARGET_LIST_P95_MS = 50.0
TARGET_DASHBOARD_P95_MS = 100.0
TARGET_EXPORT_SECONDS = 5.0
# "Constant memory": the heap peak of a 10,000-row export is at most this many times the
# peak of a 5,000-row one (holding every row would make it about twice).
TARGET_MEMORY_RATIO = 1.3
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_lists"
CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP")
STATUSES = ("posted", "posted", "posted", "draft", "archived")
CONTRACT_STATUSES = ("active", "active", "draft", "completed", "terminated")
WORDS = ("Northwind", "Contoso", "Fabrikam", "Initech", "Globex", "Umbrella", "Stark", "Wayne")


class UpstreamCalls(logging.Handler):
    """Counts the client's log lines: one per upstream call."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


# --- the child: fills, measures ---------------------------------------------------------------


def _record(kind, number: int, rng: random.Random, today: dt.date) -> dict[str, Any]:
    customer = rng.randrange(1, 201)
    company = rng.randrange(1, 6)
    amount = Decimal(rng.randrange(100, 5_000_000)) / 100
    day = today - dt.timedelta(days=rng.randrange(0, 720))
    record: dict[str, Any] = {
        kind.key_field: number,
        "number": number,
        "date": day.isoformat(),
        "company_id": company,
        "company_name": f"{WORDS[company]} Holdings {company}",
        "customer_id": customer,
        "customer_name": f"{WORDS[customer % len(WORDS)]} Customer {customer}",
        "amount": f"{amount:.2f}",
        "currency_iso_4217_code": rng.choice(CURRENCIES),
        "memo": f"Generated record {number} for {WORDS[number % len(WORDS)]}",
        kind.status_field: rng.choice(
            CONTRACT_STATUSES if kind.status_field == "status" else STATUSES
        ),
        "updated_by": {
            "first_name": "Bench",
            "last_name": "User",
            "timestamp": f"{day.isoformat()}T10:00:00+00:00",
        },
    }
    if kind.slug == "credits":
        share = rng.choice((Decimal(0), Decimal("0.5"), Decimal(1)))
        record["remaining_amount"] = f"{amount * share:.2f}"
        record["used_amount"] = f"{amount - Decimal(record['remaining_amount']):.2f}"
    if kind.slug == "contracts":
        record["name"] = f"Contract {number}"
        record["start_date"] = day.isoformat()
        record["end_date"] = (day + dt.timedelta(days=365)).isoformat()
    return record


def _reference_name(source: str, key: int) -> str:
    if source == "customers":
        return f"{WORDS[key % len(WORDS)]} Customer {key}"
    return f"{WORDS[key]} Holdings {key}"


def _fill(records_per_kind: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from portal.readmodel.account import current_account
    from portal.readmodel.models import MirroredRecord, MirroredReference
    from portal.readmodel.services import data_hash, record_columns
    from portal.records.kinds import KINDS

    account = current_account()
    now = timezone.now()
    rng = random.Random(14)
    today = timezone.localdate()
    MirroredRecord.objects.all().delete()
    MirroredReference.objects.all().delete()
    references = [
        MirroredReference(
            account=account,
            source=source,
            key=str(key),
            name=(
                f"{WORDS[key % len(WORDS)]} Customer {key}"
                if source == "customers"
                else f"{WORDS[key]} Holdings {key}"
            ),
            data={"id": key},
            data_hash="",
            seen_at=now,
        )
        for source, keys in (("customers", range(1, 201)), ("companies", range(1, 6)))
        for key in keys
    ]
    MirroredReference.objects.bulk_create(references)
    for kind in KINDS.values():
        spec = kind.mirror
        rows = []
        for index in range(records_per_kind):
            data = _record(kind, 100_000 + index, rng, today)
            rows.append(
                MirroredRecord(
                    account=account,
                    kind=kind.slug,
                    key=spec.key_of(data),
                    data=data,
                    data_hash=data_hash(data),
                    seen_at=now,
                    changed_at=now,
                    **record_columns(spec, data),
                )
            )
        MirroredRecord.objects.bulk_create(rows, batch_size=2000)
    if connection.vendor == "postgresql":
        # What autovacuum does after a bulk load: without statistics the planner guesses.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE readmodel_mirroredrecord")
            cursor.execute("ANALYZE readmodel_mirroredreference")


def _timed(
    browser, url: str, samples: list[float], *, cpu: list[float] | None = None,
    check_rows: int | None = None,
) -> str:  # fmt: skip
    cpu_started = time.process_time()
    started = time.perf_counter()
    response = browser.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if cpu is not None:
        cpu.append((time.process_time() - cpu_started) * 1000)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered HTTP {response.status_code}")
    html = response.content.decode()
    if check_rows is not None:
        rows = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr>")
        if rows != check_rows:
            raise RuntimeError(f"{url} shows {rows} rows, not {check_rows}")
    samples.append(elapsed)
    return html


def _export(browser, url: str) -> dict[str, Any]:
    """Time and bytes of one export, then (a second run) its Python heap peak (tracemalloc,
    which slows Python down, so it is not timed) and the process's peak RSS growth."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = browser.get(url)
    size = sum(len(chunk) for chunk in response.streaming_content)
    seconds = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered HTTP {response.status_code}")
    tracemalloc.start()
    for _ in browser.get(url).streaming_content:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "seconds": round(seconds, 2),
        "bytes": size,
        "heap_peak_kib": round(peak / 1024),
        "peak_rss_growth_kib": rss_after - rss_before,  # ru_maxrss is in KiB on Linux
    }


def _measure(rounds: int, records_per_kind: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client

    from portal.records.kinds import KINDS
    from portal.roles import APPROVER, sync_role_groups

    call_command("migrate", verbosity=0, interactive=False)
    sync_role_groups()
    get_user_model().objects.filter(username="bench-approver").delete()
    user = get_user_model().objects.create_user("bench-approver", password="unused-password")
    user.groups.add(Group.objects.get(name=APPROVER))
    browser = Client()
    browser.force_login(user)
    fill_started = time.perf_counter()
    _fill(records_per_kind)
    fill_seconds = time.perf_counter() - fill_started

    calls = UpstreamCalls()
    client_log = logging.getLogger("dualentry_api")
    client_log.setLevel(logging.DEBUG)
    client_log.addHandler(calls)

    def list_url(slug: str, word: str) -> str:
        return f"/{slug}/?limit=100&sort=-amount&q={word}&currency=USD" + (
            "&status=active" if slug == "contracts" else "&status=posted"
        )

    for slug in KINDS:  # warm-up: imports, templates, connections
        _timed(browser, list_url(slug, "northwind"), [])
    _timed(browser, "/", [])

    list_samples: list[float] = []
    list_cpu: list[float] = []
    for index in range(rounds):
        slug = list(KINDS)[index % len(KINDS)]
        word = WORDS[index % len(WORDS)].lower()
        _timed(browser, list_url(slug, word), list_samples, cpu=list_cpu, check_rows=100)
    dashboard_samples: list[float] = []
    dashboard_cpu: list[float] = []
    for _ in range(max(20, rounds // 2)):
        _timed(browser, "/", dashboard_samples, cpu=dashboard_cpu)

    # Constant memory: half the rows (amounts up to 25,000 of 50,000) peak as high as all.
    small_csv = _export(browser, "/refunds/export.csv?amount_max=25000")
    csv_export = _export(browser, "/refunds/export.csv")
    small_xlsx = _export(browser, "/refunds/export.xlsx?amount_max=25000")
    xlsx_export = _export(browser, "/refunds/export.xlsx")
    exports = {
        "csv_10000": csv_export,
        "csv_small": small_csv,
        "xlsx_10000": xlsx_export,
        "xlsx_small": small_xlsx,
    }

    list_stats = latency_stats(list_samples)
    dashboard_stats = latency_stats(dashboard_samples)
    memory_ratio = max(
        csv_export["heap_peak_kib"] / max(small_csv["heap_peak_kib"], 1),
        xlsx_export["heap_peak_kib"] / max(small_xlsx["heap_peak_kib"], 1),
    )
    vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    meets = (
        list_stats["p95_ms"] < TARGET_LIST_P95_MS
        and dashboard_stats["p95_ms"] < TARGET_DASHBOARD_P95_MS
        and calls.count == 0
        and csv_export["seconds"] < TARGET_EXPORT_SECONDS
        and xlsx_export["seconds"] < TARGET_EXPORT_SECONDS
        and memory_ratio <= TARGET_MEMORY_RATIO
    )
    return {
        "benchmark": f"lists from the read model ({records_per_kind:,} records per kind, {vendor})",
        "database": vendor,
        "rounds": rounds,
        "fill_seconds": round(fill_seconds, 1),
        "list_page_ms": list_stats,
        "dashboard_ms": dashboard_stats,
        # The portal process's own CPU time per page (wall time includes waiting for a core
        # and for the database on a shared machine).
        "list_page_cpu_ms": latency_stats(list_cpu),
        "dashboard_cpu_ms": latency_stats(dashboard_cpu),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "upstream_calls": calls.count,
        "exports": exports,
        "export_memory_ratio": round(memory_ratio, 2),
        "target_list_p95_ms": TARGET_LIST_P95_MS,
        "target_dashboard_p95_ms": TARGET_DASHBOARD_P95_MS,
        "target_upstream_calls": 0,
        "target_export_seconds": TARGET_EXPORT_SECONDS,
        "target_export_memory_ratio": TARGET_MEMORY_RATIO,
        "meets_target": meets,
        "summary": (
            f"{vendor}: list p95 {list_stats['p95_ms']:.1f} ms, dashboard p95 "
            f"{dashboard_stats['p95_ms']:.1f} ms, {calls.count} upstream calls, export 10k "
            f"CSV {csv_export['seconds']} s / XLSX {xlsx_export['seconds']} s, heap peak "
            f"{csv_export['heap_peak_kib']} / {xlsx_export['heap_peak_kib']} KiB "
            f"(x{memory_ratio:.2f} of half as many rows)"
        ),
    }


# --- the parent: picks the database, runs the child, prints, writes JSON ----------------------


def _postgres_ready(url: str) -> bool:
    """Create the bench database if PostgreSQL answers; False when it does not."""
    try:
        import psycopg
    except ImportError:
        return False
    base, _, name = url.rpartition("/")
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        return False
    return True


def run(rounds: int = 100, database: str = DEFAULT_DATABASE) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-lists-") as tmp:
        workdir = Path(tmp)
        extra = {
            # Nothing answers here: an upstream call would fail loudly (and is counted).
            "DUALENTRY_API_URL": "http://127.0.0.1:9",
            "DUALENTRY_API_KEY": "bench-key",
        }
        if database.startswith("postgres") and _postgres_ready(database):
            extra["DATABASE_URL"] = database
        env = child_environment(workdir, allowed_hosts="testserver", **extra)
        return run_child(__file__, workdir, ["--rounds", str(rounds)], env)


def print_table(result: dict[str, Any]) -> None:
    print(result["benchmark"])
    print(f"  filled in {result['fill_seconds']} s; {result['rounds']} list views")
    for name in ("list_page_ms", "dashboard_ms", "list_page_cpu_ms", "dashboard_cpu_ms"):
        stats = result[name]
        print(
            f"  {name:18} p50 {stats['p50_ms']:7.2f} ms  p95 {stats['p95_ms']:7.2f} ms  "
            f"max {stats['max_ms']:7.2f} ms"
        )
    print(f"  upstream calls: {result['upstream_calls']}; load average {result['load_average']}")
    for name, export in result["exports"].items():
        print(
            f"  export {name:10} {export['seconds']:5.2f} s  {export['bytes']:>9,} bytes  heap "
            f"peak {export['heap_peak_kib']:>6,} KiB  peak RSS growth "
            f"{export['peak_rss_growth_kib']:>6,} KiB"
        )
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(
        f"{verdict} the targets: list p95 < {result['target_list_p95_ms']:g} ms, dashboard p95 "
        f"< {result['target_dashboard_p95_ms']:g} ms, 0 upstream calls, 10,000-row exports < "
        f"{result['target_export_seconds']:g} s with a heap peak at most "
        f"x{result['target_export_memory_ratio']:g} of a 5,000-row one"
    )


def main(argv: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Run, print the table, optionally write JSON; returns the result dict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="list page views")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="PostgreSQL URL to use")
    parser.add_argument("--records", type=int, default=RECORDS_PER_KIND, help=argparse.SUPPRESS)
    return main_with_child(
        parser,
        argv,
        measure=lambda args: _measure(args.rounds, args.records),
        run=lambda args: run(rounds=args.rounds, database=args.database),
        print_table=print_table,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
