"""The syncs that keep the read model fresh, each one run of one kind.

Three syncs per record kind, all charged to the sync lane of the client's rate budget:

* **new**: newest first (`ordering=-number` / `-id`) until a page holds a record the copy already
  has unchanged;
* **drafts**: every draft, plus one call that asks what became of local drafts that are no
  longer drafts (posted, archived, or gone);
* **full**: a pass over every record in key order, 100 per page, a few pages per run; the
  cursor is saved after each page, so a crash resumes where it stopped. When a pass completes,
  records it did not see are asked for once more by key and marked removed if still missing.

One sync of a kind runs at a time across processes (`sync_lease`, a conditional UPDATE on the
kind's `SyncState`). Requests of a sync are spaced by `sync_spacing()` so the sync never uses
more than `READMODEL_BUDGET_SHARE` of DualEntry's per-route and per-key rates. DualEntry
errors end the run, are recorded, and back the kind off exponentially (capped).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from dualentry_api.client import get_client
from dualentry_api.errors import BadResponse, DualEntryError, NotFound
from dualentry_api.ratelimit import Lane, use_lane
from dualentry_api.resources import MAX_LIMIT
from portal.readmodel.account import current_account
from portal.readmodel.models import MirroredRecord, MirroredReference, SyncMode, SyncRun, SyncState
from portal.readmodel.registry import MirrorSpec, all_reference_specs, all_specs, spec_for
from portal.readmodel.services import (
    UpsertResult,
    records_mark_removed,
    records_upsert,
    references_upsert,
)

logger = logging.getLogger(__name__)

REFERENCES = "references"  # the SyncState/SyncRun "kind" of the reference lists


# -- state, lease, pacing --------------------------------------------------------------------


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def sync_state(*, account: str, kind: str) -> SyncState:
    """The state row of a kind (created on first use; safe when two processes race)."""
    try:
        return SyncState.objects.get_or_create(account=account, kind=kind)[0]
    except IntegrityError:
        return SyncState.objects.get(account=account, kind=kind)


def lease_owner_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_take(*, state: SyncState, owner: str, seconds: float | None = None) -> bool:
    """Take the kind's lease if it is free or expired: one conditional UPDATE, so of two
    processes trying at once exactly one succeeds (on SQLite and PostgreSQL alike)."""
    now = timezone.now()
    ttl = seconds if seconds is not None else float(_setting("READMODEL_LEASE_SECONDS", 60))
    taken = (
        SyncState.objects.filter(pk=state.pk)
        .filter(Q(lease_owner="") | Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True))
        .update(lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=ttl))
    )
    return taken == 1


class LeaseLost(Exception):
    """This sync stalled past its lease and another process took the kind over."""


def lease_renew(*, state: SyncState, owner: str) -> None:
    """Extend the lease; LeaseLost if another process holds it now (this one must stop)."""
    ttl = float(_setting("READMODEL_LEASE_SECONDS", 60))
    renewed = SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(
        lease_expires_at=timezone.now() + dt.timedelta(seconds=ttl)
    )
    if renewed != 1:
        raise LeaseLost(f"the {state.kind} sync's lease expired and was taken over")


def lease_release(*, state: SyncState, owner: str) -> None:
    SyncState.objects.filter(pk=state.pk, lease_owner=owner).update(
        lease_owner="", lease_expires_at=None
    )


@contextlib.contextmanager
def sync_lease(*, account: str, kind: str) -> Iterator[tuple[SyncState, str] | None]:
    """The kind's state and this holder's id while the lease is held; None if another has it."""
    state = sync_state(account=account, kind=kind)
    owner = lease_owner_id()
    if not lease_take(state=state, owner=owner):
        yield None
        return
    try:
        state.refresh_from_db()
        yield state, owner
    finally:
        lease_release(state=state, owner=owner)


def sync_spacing() -> float:
    """Seconds between two sync requests of one kind, so the sync stays within its share.

    Each kind's sync uses its own routes, one at a time: spacing its requests by
    1 / (share x route rate) keeps every route within the share; the kinds together (plus the
    reference lists) stay within the share of the key's overall rate as well.
    """
    share = float(_setting("READMODEL_BUDGET_SHARE", 0.5))
    if share <= 0:
        raise ValueError("READMODEL_BUDGET_SHARE must be above 0.")
    route_rate = float(_setting("DUALENTRY_ROUTE_RATE_PER_SECOND", 1.0))
    overall_rate = float(_setting("DUALENTRY_RATE_PER_SECOND", 5.0))
    scopes = len(all_specs()) + (1 if all_reference_specs() else 0)
    spacings = [0.0]
    if route_rate > 0:
        spacings.append(1.0 / (share * route_rate))
    if overall_rate > 0:
        spacings.append(max(scopes, 1) / (share * overall_rate))
    return max(spacings)


# Replaced in tests by a simulated clock: the pacing is checked without waiting for it.
pacer_clock = time.time
pacer_sleep = time.sleep


class SyncPacer:
    """Spaces the requests of one kind's sync; the last request time lives in SyncState, so
    the spacing holds across runs and processes (the lease makes this holder the only one)."""

    def __init__(self, state: SyncState) -> None:
        self.state = state
        self.spacing = sync_spacing()
        self.requests = 0

    def wait(self) -> None:
        last = self.state.last_request_at
        if last is not None and self.spacing > 0:
            delay = last.timestamp() + self.spacing - pacer_clock()
            if delay > 0:
                pacer_sleep(delay)
        moment = dt.datetime.fromtimestamp(pacer_clock(), tz=dt.UTC)
        self.state.last_request_at = moment
        SyncState.objects.filter(pk=self.state.pk).update(last_request_at=moment)
        self.requests += 1


def _backoff_seconds(failures: int) -> float:
    base = float(_setting("READMODEL_BACKOFF_BASE", 10))
    cap = float(_setting("READMODEL_BACKOFF_CAP", 300))
    return min(cap, base * 2 ** max(0, failures - 1))


def _record_failure(state: SyncState, err: Exception) -> str:
    reason = getattr(err, "user_message", "") or str(err)
    reason = f"{type(err).__name__}: {reason}"[:1000]
    now = timezone.now()
    failures = state.consecutive_failures + 1
    backoff_until = now + dt.timedelta(seconds=_backoff_seconds(failures))
    SyncState.objects.filter(pk=state.pk).update(
        consecutive_failures=failures,
        last_error=reason,
        last_error_at=now,
        backoff_until=backoff_until,
    )
    state.consecutive_failures, state.last_error = failures, reason
    state.last_error_at, state.backoff_until = now, backoff_until
    return reason


def _record_success(state: SyncState, mode: str, at: dt.datetime) -> None:
    fields: dict[str, Any] = {"consecutive_failures": 0, "backoff_until": None}
    if mode == SyncMode.NEW:
        fields["last_new_at"] = at
    elif mode == SyncMode.DRAFTS:
        fields["last_drafts_at"] = at
    SyncState.objects.filter(pk=state.pk).update(**fields)
    for name, value in fields.items():
        setattr(state, name, value)


# -- the syncs -------------------------------------------------------------------------------


class _Reader:
    """Reads one kind's pages for a sync run: paced, counted, lease kept alive."""

    def __init__(
        self, *, spec: MirrorSpec, account: str, state: SyncState, owner: str, run: SyncRun
    ):
        self.spec, self.account, self.state, self.owner, self.run = spec, account, state, owner, run
        self.resource = get_client().resource(spec.resource)
        self.pacer = SyncPacer(state)

    def page(self, *, filters: Mapping[str, Any] | None = None, offset: int = 0, ordering: str):
        self.pacer.wait()
        page = self.resource.list_raw(filters, limit=_page_size(), offset=offset, ordering=ordering)
        self.run.pages_read += 1
        lease_renew(state=self.state, owner=self.owner)
        return page

    def upsert(self, items: Iterable[Any], *, with_detail: bool = False) -> UpsertResult:
        result = records_upsert(
            spec=self.spec,
            account=self.account,
            items=items,
            seen_at=timezone.now(),
            with_detail=with_detail,
        )
        self.run.records_seen += result.seen
        self.run.records_changed += result.changed
        self.run.records_skipped += result.skipped
        return result

    def confirm_gone(self, keys: Iterable[str]) -> int:
        """Ask DualEntry for `keys` by key (100 per call); mark those it no longer has."""
        keys = sorted(set(keys), key=lambda key: (len(key), key))
        removed = 0
        for start in range(0, len(keys), MAX_LIMIT):
            chunk = keys[start : start + MAX_LIMIT]
            page = self.page(filters={self.spec.key_field: chunk}, ordering=self.spec.stable_order)
            found = set(self.upsert(page.items).keys)
            removed += records_mark_removed(
                spec=self.spec,
                account=self.account,
                keys=[key for key in chunk if key not in found],
                removed_at=timezone.now(),
            )
        self.run.records_removed += removed
        return removed

    def read_details(self) -> None:
        """Re-read the detail of changed records whose detail-only fields the list lacks."""
        if not self.spec.detail_only_fields:
            return
        limit = int(_setting("READMODEL_DETAIL_READS_PER_RUN", 5))
        pending = list(
            MirroredRecord.objects.filter(
                account=self.account,
                kind=self.spec.kind,
                needs_detail=True,
                removed_upstream_at__isnull=True,
            )
            .order_by("-changed_at")
            .values_list("key", flat=True)[:limit]
        )
        for key in pending:
            self.pacer.wait()
            try:
                record = self.resource.get(key)
            except NotFound:
                self.run.records_removed += records_mark_removed(
                    spec=self.spec, account=self.account, keys=[key], removed_at=timezone.now()
                )
                continue
            except BadResponse as err:  # this record's detail is off-schema: skip it, not the run
                logger.warning(
                    "read model: skipped the detail of %s %s, which cannot be read: %s",
                    self.spec.kind,
                    key,
                    err,
                )
                self.run.records_skipped += 1
                MirroredRecord.objects.filter(
                    account=self.account, kind=self.spec.kind, key=key
                ).update(needs_detail=False)
                continue
            self.run.pages_read += 1
            self.upsert([record.raw], with_detail=True)


def _page_size() -> int:
    return max(1, min(MAX_LIMIT, int(_setting("READMODEL_PAGE_SIZE", MAX_LIMIT))))


def _sync_new(reader: _Reader) -> None:
    spec = reader.spec
    offset: int | None = 0
    for _ in range(int(_setting("READMODEL_NEW_MAX_PAGES", 10))):
        page = reader.page(offset=offset or 0, ordering=spec.newest_first)
        result = reader.upsert(page.items)
        offset = page.next_offset
        if result.unchanged or offset is None:
            return


def _sync_drafts(reader: _Reader) -> None:
    spec = reader.spec
    local_drafts = set(
        MirroredRecord.objects.filter(
            account=reader.account,
            kind=spec.kind,
            status=spec.draft_status,
            removed_upstream_at__isnull=True,
        ).values_list("key", flat=True)
    )
    seen: set[str] = set()
    offset: int | None = 0
    while offset is not None:
        page = reader.page(
            filters={spec.status_field: [spec.draft_status]},
            offset=offset,
            ordering=spec.stable_order,
        )
        seen.update(reader.upsert(page.items).keys)
        offset = page.next_offset
    # Drafts that left the draft list were posted, archived or removed: ask for them by key.
    reader.confirm_gone(local_drafts - seen)


def _sync_full(reader: _Reader, *, max_pages: int | None) -> bool:
    """Read up to `max_pages` pages of the pass (all when None); True when the pass completed."""
    spec, state = reader.spec, reader.state
    if state.full_cursor is None:
        state.full_cursor, state.full_pass_started_at = 0, timezone.now()
        SyncState.objects.filter(pk=state.pk).update(
            full_cursor=0, full_pass_started_at=state.full_pass_started_at
        )
    pages = 0
    while True:
        if max_pages is not None and pages >= max_pages:
            return False  # the next run goes on from the cursor
        page = reader.page(offset=state.full_cursor, ordering=spec.stable_order)
        reader.upsert(page.items)
        pages += 1
        next_offset = page.next_offset
        if next_offset is None:
            break
        # Saved after every page: a crash resumes here, and upserts make re-reads harmless.
        state.full_cursor = next_offset
        SyncState.objects.filter(pk=state.pk).update(full_cursor=next_offset)
    unseen = MirroredRecord.objects.filter(
        account=reader.account,
        kind=spec.kind,
        removed_upstream_at__isnull=True,
        seen_at__lt=state.full_pass_started_at,
    ).values_list("key", flat=True)
    # Offsets shift when records disappear mid-pass, so "not seen" is confirmed by key first.
    reader.confirm_gone(list(unseen))
    # The pass read every record, new ones and drafts included, as of when it began.
    started = state.full_pass_started_at
    fields = {"full_cursor": None, "full_pass_started_at": None, "last_full_at": started}
    for name in ("last_new_at", "last_drafts_at"):
        if getattr(state, name) is None or getattr(state, name) < started:
            fields[name] = started
    SyncState.objects.filter(pk=state.pk).update(**fields)
    for name, value in fields.items():
        setattr(state, name, value)
    return True


def _in_backoff(state: SyncState) -> bool:
    return state.backoff_until is not None and state.backoff_until > timezone.now()


def sync_kind(
    *,
    kind: str,
    mode: str,
    force: bool = False,
    max_pages: int | None = None,
    whole_pass: bool = False,
) -> SyncRun | None:
    """Run one sync of a kind (mode: new, drafts or full); the run, or None when skipped.

    Skipped when another process holds the kind's lease, or (unless `force`) while the kind
    backs off after failures. A full pass reads `max_pages` pages in this run (default
    `READMODEL_FULL_PAGES_PER_RUN`) and goes on from there in the next, or all of them when
    `whole_pass`.
    """
    spec = spec_for(kind)
    if mode not in (SyncMode.NEW, SyncMode.DRAFTS, SyncMode.FULL):
        raise ValueError(f"Unknown sync mode {mode!r}.")
    if whole_pass:
        max_pages = None
    elif max_pages is None:
        max_pages = int(_setting("READMODEL_FULL_PAGES_PER_RUN", 3))
    account = current_account()
    with sync_lease(account=account, kind=kind) as held:
        if held is None:
            logger.info("read model: %s %s sync skipped, another one is running", kind, mode)
            return None
        state, owner = held
        if not force and _in_backoff(state):
            logger.info("read model: %s sync backing off until %s", kind, state.backoff_until)
            return None
        run = SyncRun.objects.create(
            account=account, kind=kind, mode=mode, started_at=timezone.now()
        )
        try:
            with use_lane(Lane.SYNC):
                reader = _Reader(spec=spec, account=account, state=state, owner=owner, run=run)
                if mode == SyncMode.NEW:
                    _sync_new(reader)
                elif mode == SyncMode.DRAFTS:
                    _sync_drafts(reader)
                else:
                    _sync_full(reader, max_pages=max_pages)
                reader.read_details()
        except DualEntryError as err:
            run.errors = _record_failure(state, err)
            logger.warning("read model: %s %s sync failed: %s", kind, mode, run.errors)
        except LeaseLost as err:  # the other holder carries on; nothing to back off from
            run.errors = str(err)
            logger.warning("read model: %s %s sync stopped: %s", kind, mode, err)
        else:
            run.ok = True
            _record_success(state, mode, run.started_at)
        run.finished_at = timezone.now()
        run.save()
        return run


def sync_references(*, force: bool = False) -> SyncRun | None:
    """Copy every registered reference list whole; entries gone upstream are dropped."""
    account = current_account()
    with sync_lease(account=account, kind=REFERENCES) as held:
        if held is None:
            return None
        state, _owner = held
        if not force and _in_backoff(state):
            return None
        run = SyncRun.objects.create(
            account=account, kind=REFERENCES, mode=SyncMode.REFERENCES, started_at=timezone.now()
        )
        pacer = SyncPacer(state)
        try:
            with use_lane(Lane.SYNC):
                client = get_client()
                for spec in all_reference_specs():
                    started = timezone.now()
                    resource = client.resource(spec.resource)
                    offset: int | None = 0
                    while offset is not None:
                        pacer.wait()
                        page = resource.list_raw(dict(spec.filters), limit=MAX_LIMIT, offset=offset)
                        run.pages_read += 1
                        result = references_upsert(
                            spec=spec, account=account, items=page.items, seen_at=timezone.now()
                        )
                        run.records_seen += result.seen
                        run.records_changed += result.changed
                        run.records_skipped += result.skipped
                        offset = page.next_offset
                    with transaction.atomic():
                        removed, _ = MirroredReference.objects.filter(
                            account=account, source=spec.source, seen_at__lt=started
                        ).delete()
                    run.records_removed += removed
        except DualEntryError as err:
            run.errors = _record_failure(state, err)
            logger.warning("read model: reference sync failed: %s", run.errors)
        else:
            run.ok = True
            SyncState.objects.filter(pk=state.pk).update(
                last_full_at=run.started_at, consecutive_failures=0, backoff_until=None
            )
        run.finished_at = timezone.now()
        run.save()
        return run


def sync_all_now(*, kinds: Iterable[str] | None = None, full: bool = False) -> list[SyncRun]:
    """Foreground sync (the `sync_now` command, `make run`'s first fill, tests): references,
    then per kind a complete full pass (when `full` or never done) or new records and drafts."""
    runs: list[SyncRun] = []
    wanted = list(kinds) if kinds else [spec.kind for spec in all_specs()]
    if not kinds:
        run = sync_references(force=True)
        if run is not None:
            runs.append(run)
    account = current_account()
    for kind in wanted:
        state = sync_state(account=account, kind=kind)
        modes = (
            [SyncMode.FULL]
            if full or state.last_full_at is None
            else [SyncMode.NEW, SyncMode.DRAFTS]
        )
        for mode in modes:
            run = sync_kind(kind=kind, mode=mode, force=True, whole_pass=True)
            if run is not None:
                runs.append(run)
    return runs
