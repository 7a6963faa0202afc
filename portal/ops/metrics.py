"""Prometheus metrics beside django-prometheus's request metrics, and the `/metrics` view.

- `portal_upstream_requests_total{route,status}` and `portal_upstream_request_seconds{route}`:
  every HTTP attempt to DualEntry, counted through the transport's call observer (so
  `dualentry_api` knows nothing of Prometheus). `status` is "error" when no answer came.
- `portal_budget_requests_total{lane}`, `portal_budget_waits_total{lane}`,
  `portal_budget_wait_seconds_total{lane}`, `portal_budget_refused_total{lane}`,
  `portal_upstream_rate_limited_total`: the rate budget's per-lane counters
  (`dualentry_api.ratelimit.lane_counters()`), carried over as they grow.
- `portal_approval_outcomes_total{outcome}`: approved, rejected, withdrawn, posted, post failed,
  counted from the audit events the approval services write.
- `portal_worker_heartbeat_age_seconds`: seconds since the worker's last heartbeat or sync run.
- `portal_sync_lag_seconds{kind,mode}`: seconds since each kind's new / drafts / full sync
  last succeeded (read from the read model at scrape time).

With several gunicorn workers, set `PROMETHEUS_MULTIPROC_DIR` (gunicorn.conf.py clears it at
start and marks dead workers) so a scrape sums every worker instead of the one that answered.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import Counter, Gauge, Histogram

from dualentry_api.ratelimit import lane_counters
from dualentry_api.records import CallInfo
from portal.audit import actions
from portal.audit.services import client_ip
from portal.heartbeat import worker_heartbeat_age
from portal.ops.health import latest_sync_run_age, sync_lag_seconds

UPSTREAM_REQUESTS = Counter(
    "portal_upstream_requests",
    "HTTP attempts to DualEntry by route and status",
    ["route", "status"],
)
UPSTREAM_SECONDS = Histogram(
    "portal_upstream_request_seconds",
    "Duration of HTTP attempts to DualEntry by route",
    ["route"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUDGET_REQUESTS = Counter(
    "portal_budget_requests", "Requests charged to the rate budget, by lane", ["lane"]
)
BUDGET_WAITS = Counter(
    "portal_budget_waits", "Requests that waited for the rate budget, by lane", ["lane"]
)
BUDGET_WAIT_SECONDS = Counter(
    "portal_budget_wait_seconds", "Seconds spent waiting for the rate budget, by lane", ["lane"]
)
BUDGET_REFUSED = Counter(
    "portal_budget_refused", "Requests refused by the rate budget (waited too long)", ["lane"]
)
RATE_LIMITED = Counter("portal_upstream_rate_limited", "429 answers from DualEntry")
APPROVAL_OUTCOMES = Counter(
    "portal_approval_outcomes", "Approval decisions and posting results", ["outcome"]
)
WORKER_HEARTBEAT_AGE = Gauge(
    "portal_worker_heartbeat_age_seconds",
    "Seconds since the worker's last heartbeat (-1: none seen)",
    multiprocess_mode="min",
)

SYNC_LAG = Gauge(
    "portal_sync_lag_seconds",
    "Seconds since a kind's sync (new, drafts, full) last succeeded (-1: never)",
    ["kind", "mode"],
    multiprocess_mode="min",
)

APPROVAL_OUTCOME_ACTIONS = {
    actions.APPROVED: "approved",
    actions.REJECTED: "rejected",
    actions.WITHDRAWN: "withdrawn",
    actions.POSTED: "posted",
    actions.POST_FAILED: "post_failed",
}

_lanes_lock = threading.Lock()
_lanes_exported: dict[str, dict[str, float]] = {}
_rate_limited_exported = 0


def observe_upstream_call(route: str, info: CallInfo) -> None:
    """The transport's call observer: one attempt, then the budget counters it moved."""
    status = str(info.status) if info.status is not None else "error"
    UPSTREAM_REQUESTS.labels(route=route, status=status).inc()
    UPSTREAM_SECONDS.labels(route=route).observe(info.duration_ms / 1000)
    export_lane_counters()


def export_lane_counters() -> None:
    """Add to the Prometheus counters what the budget's own counters gained since last time."""
    global _rate_limited_exported
    snapshot = lane_counters()
    with _lanes_lock:
        for lane, counts in snapshot["lanes"].items():
            seen = _lanes_exported.setdefault(lane, {})
            for name, metric in (
                ("requests", BUDGET_REQUESTS),
                ("waited", BUDGET_WAITS),
                ("wait_seconds", BUDGET_WAIT_SECONDS),
                ("refused", BUDGET_REFUSED),
            ):
                gained = counts[name] - seen.get(name, 0)
                if gained > 0:
                    metric.labels(lane=lane).inc(gained)
                    seen[name] = counts[name]
        gained_429 = snapshot["rate_limited"] - _rate_limited_exported
        if gained_429 > 0:
            RATE_LIMITED.inc(gained_429)
            _rate_limited_exported = snapshot["rate_limited"]


def count_approval_outcome(*, action: str) -> None:
    outcome = APPROVAL_OUTCOME_ACTIONS.get(action)
    if outcome is not None:
        APPROVAL_OUTCOMES.labels(outcome=outcome).inc()


def audit_event_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """post_save receiver on AuditEvent (connected in PortalConfig.ready)."""
    if created:
        count_approval_outcome(action=instance.action)


def refresh_gauges() -> None:
    """Values read at scrape time rather than counted as they happen."""
    ages = [age for age in (latest_sync_run_age(),) if age is not None]
    beat = worker_heartbeat_age()
    if beat is not None:
        ages.append(beat[1])
    WORKER_HEARTBEAT_AGE.set(min(ages) if ages else -1)
    for kind, modes in sync_lag_seconds().items():
        for mode, lag in modes.items():
            SYNC_LAG.labels(kind=kind, mode=mode).set(-1 if lag is None else lag)
    export_lane_counters()


def metrics_allowed(request: HttpRequest) -> bool:
    """A bearer token equal to METRICS_TOKEN, or a client address in METRICS_ALLOWED_IPS.

    The address is the one the audit log records (behind TRUSTED_PROXY_COUNT proxies, the
    client's as the nearest trusted proxy saw it), so nginx's own 127.0.0.1 admits no one.
    """
    token = getattr(settings, "METRICS_TOKEN", "")
    authorization = request.headers.get("Authorization", "")
    if token and authorization.startswith("Bearer "):
        return hmac.compare_digest(authorization.removeprefix("Bearer ").strip(), token)
    address = client_ip(request)
    if not address:
        return False
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for allowed in getattr(settings, "METRICS_ALLOWED_IPS", []):
        try:
            if client in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


@login_not_required
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse(
            "Metrics are only served to allowed addresses or with the metrics token.\n",
            status=403,
            content_type="text/plain",
        )
    refresh_gauges()
    return ExportToDjangoView(request)
