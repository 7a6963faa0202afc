"""``manage.py run_sandbox`` runs the sandbox as its own process, and the seed is deterministic."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from dualentry_api.sandbox.seed import Seed, populate
from dualentry_api.sandbox.store import Store, pristine_state

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_health(url: str, headers: dict) -> requests.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            return requests.get(f"{url}/public/v2/health/", headers=headers, timeout=2)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_run_sandbox_serves_with_the_given_key_state_file_and_env_faults(tmp_path):
    port = _free_port()
    state_file = tmp_path / "state.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_sandbox",
            "--port",
            str(port),
            "--api-key",
            "other-key",
            "--state-file",
            str(state_file),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DUALENTRY_SANDBOX_LATENCY_MS": "20",
            "DUALENTRY_SANDBOX_RATE_LIMITS": "on",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert _wait_for_health(url, {"X-API-KEY": "other-key"}).status_code == 200
        assert _wait_for_health(url, {"X-API-KEY": "sandbox-key"}).status_code == 401
        assert state_file.exists()
        faults = requests.get(f"{url}/__sandbox__/faults", timeout=5).json()
        assert (faults["latency_ms"], faults["rate_limits"], faults["error_rate"]) == (20, True, 0)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_seed_is_deterministic():
    first, second = Store(), Store()
    populate(first)
    populate(second)
    first.close()
    second.close()
    assert first.state == second.state == pristine_state(Seed())


def test_run_sandbox_seeds_the_records_per_kind_the_environment_asks_for():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "DUALENTRY_SANDBOX_RECORDS_PER_KIND": "150"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        headers = {"X-API-KEY": "sandbox-key"}
        assert _wait_for_health(url, headers).status_code == 200
        kinds = ("customer-refunds", "customer-deposits", "customer-credits", "contracts")
        for collection in kinds:
            listed = requests.get(
                f"{url}/public/v2/{collection}/", params={"limit": 1}, headers=headers, timeout=5
            )
            assert listed.json()["count"] == 150, collection
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_run_sandbox_explains_a_bad_records_per_kind():
    result = subprocess.run(
        [sys.executable, "manage.py", "run_sandbox", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "DUALENTRY_SANDBOX_RECORDS_PER_KIND": "lots"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DUALENTRY_SANDBOX_RECORDS_PER_KIND must be a whole number" in result.stderr
