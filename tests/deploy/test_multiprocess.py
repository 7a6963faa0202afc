"""The portal as deployed: two gunicorn instances behind nginx, a worker, PostgreSQL and Redis.

Runs the repo's Procfile, gunicorn.conf.py and nginx site (tests/deploy/stack.py) against a
sandbox DualEntry with its rate limits on. Marked `multiprocess`; `make test` runs it in CI on
PostgreSQL. About a minute.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter

import pytest
import requests

from tests.payloads import draft_refund_body

from .stack import (
    OUTSIDE_KEY,
    SANDBOX_KEY,
    Stack,
    csrf_token,
    log_in,
    max_in_window,
)
from .testing import deployment_marks, fresh_stack

# DualEntry's documented buckets, which the sandbox enforces: per key and per key + route.
KEY_RATE, KEY_BURST, ROUTE_RATE, ROUTE_BURST = 5.0, 50, 1.0, 10
PAGES = ["/", "/refunds/", "/deposits/", "/credits/", "/contracts/", "/drafts/", "/approvals/"]

pytestmark = deployment_marks(
    postgres_reason="the multi-process test needs PostgreSQL: set DATABASE_URL=postgres://... "
    "(several processes on one SQLite file is not a deployment we support)",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with fresh_stack(tmp_path_factory, "multiprocess", instances=2, web_workers=2) as running:
        yield running


def _outside_draft_refund(stack: Stack) -> int:
    """A draft refund created in DualEntry's own app (its own key and budget)."""
    body = draft_refund_body(memo="Refund approved during the multi-process test")
    answer = requests.post(
        f"{stack.sandbox_url}/public/v2/customer-refunds/",
        json=body,
        headers={"X-API-KEY": OUTSIDE_KEY},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["number"]


class Browsing:
    """People opening pages through nginx in the background until stopped."""

    def __init__(self, base_url: str, sessions: list[requests.Session], pause: float) -> None:
        self.base_url = base_url
        self.sessions = sessions
        self.pause = pause
        self.statuses: Counter[int] = Counter()
        self.request_ids: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._browse, args=(session,), daemon=True)
            for session in sessions
        ]

    def _browse(self, session: requests.Session) -> None:
        chooser = random.Random(id(session))
        while not self._stop.is_set():
            try:
                answer = session.get(
                    self.base_url + chooser.choice(PAGES), allow_redirects=False, timeout=30
                )
                self.statuses[answer.status_code] += 1
                self.request_ids.append(answer.headers.get("X-Request-ID", ""))
            except requests.RequestException as err:
                self.errors.append(repr(err))
            self._stop.wait(self.pause)

    def __enter__(self) -> Browsing:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def _access_lines(stack: Stack, number: int) -> list[dict]:
    path = stack.access_log(number)
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_two_instances_share_sessions_and_an_approval_posts_once_within_the_limits(stack):
    stack.clear_sandbox_log()
    viewer = log_in(stack.url, "viewer")
    preparer = log_in(stack.url, "preparer")
    approver = log_in(stack.url, "approver")
    number = _outside_draft_refund(stack)

    with Browsing(stack.url, [viewer, preparer, approver], pause=0.8) as browsing:
        time.sleep(2)
        submitted = preparer.post(
            f"{stack.url}/refunds/{number}/submit/",
            data={"note": "Please approve", "csrfmiddlewaretoken": csrf_token(preparer)},
            headers={"Referer": f"{stack.url}/refunds/{number}/"},
            allow_redirects=False,
            timeout=60,
        )
        assert submitted.status_code == 302, submitted.text[:2000]
        approval_url = stack.url + submitted.headers["Location"]
        detail = approver.get(approval_url, timeout=60)
        assert detail.status_code == 200
        payload_hash = re.search(r'name="payload_hash" value="([0-9a-f]+)"', detail.text).group(1)
        approved = approver.post(
            approval_url.rstrip("/") + "/approve/",
            data={
                "payload_hash": payload_hash,
                "comment": "Checked",
                "confirmed": "1",  # the confirmation page's button: the one click that posts
                "csrfmiddlewaretoken": csrf_token(approver),
            },
            headers={"Referer": approval_url},
            allow_redirects=False,
            timeout=60,
        )
        assert approved.status_code == 302
        time.sleep(2)

    # The refund is posted in DualEntry, by exactly one PUT.
    record = requests.get(
        f"{stack.sandbox_url}/public/v2/customer-refunds/{number}/",
        headers={"X-API-KEY": OUTSIDE_KEY},
        timeout=10,
    ).json()
    assert record["record_status"] == "posted"
    puts = stack.sandbox_requests(
        method="PUT", path_prefix=f"/public/v2/customer-refunds/{number}/"
    )
    assert len(puts) == 1

    # People browsing meanwhile got their pages, from both instances, with one shared session.
    assert browsing.errors == []
    assert set(browsing.statuses) == {200}, browsing.statuses
    served = {number: _access_lines(stack, number) for number in (1, 2)}
    for number, lines in served.items():
        pages = [line for line in lines if line["path"] in PAGES and line["status"] == 200]
        assert pages, f"instance web{number} served no page (nginx sent it nothing)"
        assert all(line["instance"] == f"web{number}" for line in lines)
    logged_ids = [line["request_id"] for lines in served.values() for line in lines]
    assert all(request_id in logged_ids for request_id in browsing.request_ids)

    # DualEntry saw no 429 and never more than its buckets allow.
    portal_calls = [entry for entry in stack.sandbox_requests() if entry["api_key"] == SANDBOX_KEY]
    assert portal_calls
    assert [entry for entry in portal_calls if entry["status"] == 429] == []
    times = [entry["at"] for entry in portal_calls]
    for window in (1, 10, 30):
        assert max_in_window(times, window) <= KEY_BURST + KEY_RATE * window
    by_route: dict[tuple[str, str], list[float]] = {}
    for entry in portal_calls:
        route = re.sub(r"/\d+/", "/{key}/", entry["path"])
        by_route.setdefault((entry["method"], route), []).append(entry["at"])
    for route_times in by_route.values():
        for window in (1, 10):
            assert max_in_window(route_times, window) <= ROUTE_BURST + ROUTE_RATE * window

    # The audit chain written by two instances (and their workers) verifies.
    verified = stack.manage("verify_audit_log", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_nginx_serves_the_collected_static_files_itself(stack):
    manifest = json.loads((stack.workdir / "staticfiles" / "staticfiles.json").read_text())
    hashed = next(name for name in manifest["paths"].values() if name.endswith(".css"))
    answer = requests.get(f"{stack.url}/static/{hashed}", timeout=10)
    assert answer.status_code == 200
    assert "immutable" in answer.headers["Cache-Control"]
    # Not from gunicorn: no instance logged it.
    logged = [line["path"] for number in (1, 2) for line in _access_lines(stack, number)]
    assert f"/static/{hashed}" not in logged


def test_ready_and_metrics_through_nginx(stack):
    ready = requests.get(f"{stack.url}/health/ready/", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["database"] == ready.json()["cache"] == "ok"
    metrics = requests.get(f"{stack.url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "django_http_requests_total_by_method_total" in metrics.text
    # Summed over the instance's gunicorn workers (PROMETHEUS_MULTIPROC_DIR), DualEntry calls
    # from the browsing in the other test are all there.
    upstream = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.text.splitlines()
        if line.startswith("portal_upstream_requests_total{")
    ]
    assert sum(upstream) > 0
    # A client the proxy names as someone else is refused by the portal itself.
    forged = requests.get(
        f"http://127.0.0.1:{stack.web_ports[0]}/metrics",
        headers={"X-Forwarded-For": "10.1.2.3"},
        timeout=10,
    )
    assert forged.status_code == 403
