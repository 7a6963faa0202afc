"""Benchmark: what the DualEntry client costs per call over a bare ``requests`` GET.

Serves one 100-refund page (three lines each, realistic fields) from a local keep-alive HTTP
server and times, interleaved in the same run:

- ``bare``: ``session.get(url, timeout=...)`` + ``json.loads`` on a keep-alive requests Session
  (the fair baseline: the client pools connections too);
- ``client``: ``client.customer_refunds.list(limit=100)``: query building, rate budget
  reservation (locmem cache, generous limits so nothing waits), logging, typed parsing into
  Records, Page;
- ``parse``: the typed parsing alone (JSON already decoded), to show where the time goes.

The overhead is the difference of the medians. Target: under 1 ms median for a 100-item page.

    python tests/bench/bench_client.py [--rounds 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from django.core.cache.backends.locmem import LocMemCache  # noqa: E402

from dualentry_api.client import DualEntryClient  # noqa: E402
from dualentry_api.ratelimit import Bucket, RateBudget  # noqa: E402
from dualentry_api.records import parse_record, response_shape  # noqa: E402
from tests.bench.common import write_json  # noqa: E402

TARGET_MS = 1.0
PATH = "/public/v2/customer-refunds/"


def refund(number: int) -> dict[str, Any]:
    actor = {
        "actor_type": "user",
        "email": "maria.lopez@northwind.example",
        "first_name": "Maria",
        "last_name": "Lopez",
        "timestamp": "2026-08-23T11:49:00Z",
    }
    lines = [
        {
            "customer_credit_number": 1000 + number,
            "customer_prepayment_number": None,
            "amount": f"{100 + index}.25",
            "position": index,
            "bank_or_credit_card_amount": "0.00",
        }
        for index in range(3)
    ]
    return {
        "custom_fields": [],
        "attachments": [
            {"id": number, "file_name": "scan.pdf", "file_size": 48213, "download_url": None}
        ],
        "classifications": [],
        "transaction_ids": [10000 + number],
        "created_by": actor,
        "updated_by": actor,
        "internal_id": 5000 + number,
        "number": number,
        "account_number": 11010,
        "items": lines,
        "company_id": 1,
        "company_name": "Northwind Analytics Inc.",
        "company_currency": "USD",
        "customer_id": 110,
        "customer_name": "Juniper Software",
        "memo": "Credit balance refund",
        "check_number": "",
        "date": "2026-08-23",
        "transaction_date": "2026-08-22",
        "currency_iso_4217_code": "USD",
        "exchange_rate": "1.0000000000",
        "bank_or_credit_card_amount": "0.00",
        "amount": "304.75",
        "record_status": "draft",
        "payment_method_id": 3,
        "paper_check_status": None,
    }


def page_body() -> bytes:
    return json.dumps({"items": [refund(1000 + i) for i in range(100)], "count": 4321}).encode()


def serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Request-ID", "bench")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
        "min_ms": round(ordered[0] * 1000, 3),
    }


def run(rounds: int = 300, warmup: int = 30) -> dict[str, Any]:
    logging.getLogger("dualentry_api").setLevel(logging.INFO)  # the INFO line is part of the cost
    logging.getLogger("dualentry_api").addHandler(logging.NullHandler())
    logging.getLogger("dualentry_api").propagate = False
    body = page_body()
    server, url = serve(body)
    budget = RateBudget(
        api_key="bench-key",
        overall=Bucket(1e9, 10**9),
        per_route=Bucket(1e9, 10**9),
        max_wait=3.0,
        cache=LocMemCache("bench", {}),
    )
    client = DualEntryClient(url, "bench-key", rate_budget=budget)
    session = requests.Session()
    session.headers["X-API-KEY"] = "bench-key"
    params = {"limit": 100, "offset": 0}
    shape = response_shape("GET", PATH, 200).fields["items"].item
    decoded = json.loads(body, parse_float=Decimal)

    def bare() -> None:
        response = session.get(url + PATH, params=params, timeout=(5, 30))
        response.raise_for_status()
        json.loads(response.content)

    def with_client() -> None:
        client.customer_refunds.list(limit=100)

    def parse_only() -> None:
        for item in decoded["items"]:
            parse_record(item, shape)

    timings: dict[str, list[float]] = {"bare": [], "client": [], "parse": []}
    for round_number in range(warmup + rounds):
        for name, call in (("bare", bare), ("client", with_client), ("parse", parse_only)):
            started = time.perf_counter()
            call()
            elapsed = time.perf_counter() - started
            if round_number >= warmup:
                timings[name].append(elapsed)
    client.close()
    session.close()
    server.shutdown()
    server.server_close()
    result = {name: summary(samples) for name, samples in timings.items()}
    overhead = result["client"]["median_ms"] - result["bare"]["median_ms"]
    return {
        "benchmark": "dualentry_api client overhead, 100-item page",
        "rounds": rounds,
        "page_bytes": len(body),
        **result,
        "overhead_median_ms": round(overhead, 3),
        "target_ms": TARGET_MS,
        "meets_target": overhead < TARGET_MS,
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['benchmark']} ({result['rounds']} rounds, {result['page_bytes']} bytes)")
    print(f"{'':28} {'median ms':>10} {'p95 ms':>10} {'min ms':>10}")
    labels = {
        "bare": "requests.Session.get + json",
        "client": "client.customer_refunds.list",
        "parse": "typed parsing alone",
    }
    for name, label in labels.items():
        row = result[name]
        print(f"{label:28} {row['median_ms']:>10.3f} {row['p95_ms']:>10.3f} {row['min_ms']:>10.3f}")
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(
        f"client overhead (median): {result['overhead_median_ms']:.3f} ms "
        f"({verdict} the {result['target_ms']:g} ms target)"
    )


def main(argv: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Run, print the table, optionally write JSON; returns the result dict.

    ``argv`` defaults to no arguments (not ``sys.argv``) so a bench runner can call ``main()``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--json", type=Path, help="write the result as JSON to this file")
    args = parser.parse_args(list(argv))
    result = run(rounds=args.rounds)
    print_table(result)
    write_json(result, args.json)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
