"""Reads of the read model's own state: freshness per kind, `/health/`'s sync report, the load
the sync schedule puts on DualEntry. Database reads only: never an upstream call."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from portal.readmodel.account import current_account
from portal.readmodel.models import MirroredRecord, MirroredReference, SyncState
from portal.readmodel.registry import all_reference_specs, all_specs

FRESH, STALE, FAILING, NEVER = "ok", "stale", "failing", "never synced"
REFERENCES = "references"


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def mirrored_records(*, kind: str) -> QuerySet[MirroredRecord]:
    """The copies of one kind in the current account that DualEntry still has."""
    return MirroredRecord.objects.filter(
        account=current_account(), kind=kind, removed_upstream_at__isnull=True
    )


def mirrored_references(*, source: str) -> QuerySet[MirroredReference]:
    return MirroredReference.objects.filter(account=current_account(), source=source)


@dataclass(frozen=True)
class Freshness:
    """How current the copy of one kind is."""

    kind: str
    status: str  # ok | stale | failing | never synced
    as_of: dt.datetime | None  # the oldest of the quick syncs (new records, drafts)
    lag_seconds: float | None
    full_as_of: dt.datetime | None  # the last completed full reconcile
    full_lag_seconds: float | None
    reason: str = ""  # a sentence for people when not ok

    @property
    def behind(self) -> bool:
        return self.status != FRESH

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "lag_seconds": _rounded(self.lag_seconds),
            "full_as_of": self.full_as_of.isoformat() if self.full_as_of else None,
            "full_lag_seconds": _rounded(self.full_lag_seconds),
            "reason": self.reason,
        }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _age(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def _freshness(kind: str, state: SyncState | None, now: dt.datetime, *, quick: bool) -> Freshness:
    if state is None:
        return Freshness(kind, NEVER, None, None, None, None, "The copy has not been filled yet.")
    quick_times = [state.last_new_at, state.last_drafts_at] if quick else [state.last_full_at]
    as_of = None if any(moment is None for moment in quick_times) else min(quick_times)
    lag = _age(as_of, now)
    full_lag = _age(state.last_full_at, now)
    failing_after = int(_setting("READMODEL_FAILING_AFTER", 3))
    if state.consecutive_failures >= failing_after:
        status = FAILING
        reason = f"The last {state.consecutive_failures} syncs failed: {state.last_error}"
    elif as_of is None or state.last_full_at is None:
        status, reason = NEVER, "The copy has not been filled yet."
    elif lag is not None and lag > float(_setting("READMODEL_STALE_AFTER", 120)):
        status, reason = STALE, f"The copy is {math.floor(lag)} s old."
    elif full_lag is not None and full_lag > float(_setting("READMODEL_FULL_STALE_AFTER", 900)):
        status = STALE
        reason = f"The last full reconcile was {math.floor(full_lag)} s ago."
    else:
        status, reason = FRESH, ""
    return Freshness(kind, status, as_of, lag, state.last_full_at, full_lag, reason)


def kind_freshness(*, kind: str, now: dt.datetime | None = None) -> Freshness:
    """The freshness of one kind's copy in the current account."""
    state = SyncState.objects.filter(account=current_account(), kind=kind).first()
    return _freshness(kind, state, now or timezone.now(), quick=kind != REFERENCES)


def all_freshness(*, now: dt.datetime | None = None) -> dict[str, Freshness]:
    """Per registered kind (and the reference lists): one query."""
    now = now or timezone.now()
    states = {state.kind: state for state in SyncState.objects.filter(account=current_account())}
    kinds = [spec.kind for spec in all_specs()]
    if all_reference_specs():
        kinds.append(REFERENCES)
    return {
        kind: _freshness(kind, states.get(kind), now, quick=kind != REFERENCES) for kind in kinds
    }


def oldest_freshness(*, kinds: list[str] | None = None) -> Freshness | None:
    """The least fresh of `kinds` (all when None): what a page naming several kinds shows."""
    found = [f for kind, f in all_freshness().items() if kinds is None or kind in kinds]
    if not found:
        return None
    order = {FAILING: 0, NEVER: 1, STALE: 2, FRESH: 3}
    return min(
        found,
        key=lambda f: (order[f.status], -(f.lag_seconds or 0.0)),
    )


def sync_health() -> dict[str, Any]:
    """For `/health/`: sync lag per kind and one overall word (ok, stale, failing, never synced)."""
    per_kind = all_freshness()
    statuses = {freshness.status for freshness in per_kind.values()}
    overall = next((status for status in (FAILING, STALE, NEVER) if status in statuses), FRESH)
    return {"status": overall, "kinds": {kind: f.as_dict() for kind, f in per_kind.items()}}


def schedule_load(*, records_per_kind: int = 1000) -> dict[str, float]:
    """Requests per second the sync schedule sends to one kind's list route, on average, with
    `records_per_kind` records; compared with `READMODEL_BUDGET_SHARE` x the route rate.

    Per kind: one page per new-records poll, one per drafts poll (drafts fit a page), and a full
    pass of ceil(records / page size) pages (+1 to confirm removals) per reconcile cycle, whose
    length is at least the time the pacing needs for those pages.
    """
    from portal.readmodel.sync import sync_spacing

    page_size = max(1, min(100, int(_setting("READMODEL_PAGE_SIZE", 100))))
    full_pages = math.ceil(records_per_kind / page_size) + 1
    spacing = sync_spacing()
    full_cycle = max(float(_setting("READMODEL_FULL_INTERVAL", 210)), full_pages * spacing)
    per_route = (
        1.0 / float(_setting("READMODEL_NEW_INTERVAL", 15))
        + 1.0 / float(_setting("READMODEL_DRAFTS_INTERVAL", 20))
        + full_pages / full_cycle
    )
    allowed = float(_setting("READMODEL_BUDGET_SHARE", 0.5)) * float(
        _setting("DUALENTRY_ROUTE_RATE_PER_SECOND", 1.0)
    )
    return {
        "requests_per_second": per_route,
        "allowed_per_second": allowed,
        "full_pass_pages": float(full_pages),
        "full_pass_seconds": full_pages * spacing,
    }
