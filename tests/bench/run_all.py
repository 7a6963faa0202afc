"""Run every benchmark in this directory (`bench_*.py`), print one table, write all results.

Each benchmark module has `main(argv=()) -> dict`: it measures, prints its own detailed table
and returns its result, which carries `benchmark` (a title) and `meets_target` (bool), and may
carry `summary` (one line). `make bench` runs:

    python tests/bench/run_all.py --json bench-results/bench.json [--only lists client]

Benchmarks report; they are not tests. A missed target is shown as MISSES in the table and the
JSON; the exit status is 1 only when a benchmark could not run at all.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def discover() -> list[Path]:
    return sorted(HERE.glob("bench_*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"bench.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _headline(result: dict[str, Any]) -> str:
    """One line of the benchmark's numbers: its own summary, else its scalar results."""
    if result.get("summary"):
        return str(result["summary"])
    skipped = {"benchmark", "meets_target", "rounds", "summary"}
    parts = [
        f"{name}={value}"
        for name, value in result.items()
        if name not in skipped and isinstance(value, int | float | str) and "target" not in name
    ]
    return ", ".join(parts)


def _targets(result: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in result.items() if "target" in name
                     and name != "meets_target")  # fmt: skip


def run(names: list[str] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for path in discover():
        name = path.stem.removeprefix("bench_")
        if names and name not in names:
            continue
        print(f"\n== {path.name} ==", flush=True)
        started = time.perf_counter()
        try:
            result = _load(path).main()
        except Exception as err:  # one broken benchmark must not hide the others' results
            traceback.print_exc()
            result = {"benchmark": name, "error": f"{type(err).__name__}: {err}"}
        result["seconds"] = round(time.perf_counter() - started, 1)
        results[name] = result
    return results


def print_summary(results: dict[str, Any]) -> None:
    rows = []
    for name, result in results.items():
        if "error" in result:
            verdict, numbers = "ERROR", result["error"]
        else:
            verdict = "meets" if result.get("meets_target") else "MISSES"
            numbers = _headline(result)
        rows.append((name, verdict, numbers, _targets(result)))
    width = max([len(row[0]) for row in rows] + [9])
    print("\n" + "=" * 100)
    print(f"{'benchmark':{width}}  {'verdict':7}  result  [targets]")
    print("-" * 100)
    for name, verdict, numbers, targets in rows:
        print(f"{name:{width}}  {verdict:7}  {numbers}  [{targets}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write every result to this JSON file")
    parser.add_argument("--only", nargs="*", help="benchmark names (bench_<name>.py) to run")
    args = parser.parse_args(argv)
    results = run(args.only)
    print_summary(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "results": results,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nResults written to {args.json}")
    ran = bool(results) and all("error" not in result for result in results.values())
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
