"""Reading the audit log: record histories, recent activity, the filtered log, verification."""

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from portal.audit.anchor import checkpoint_lines, configured_key
from portal.audit.models import AuditEvent
from portal.audit.verification import ChainCheck, Link, Verification, verify_chain

RECORD_HISTORY_LIMIT = 200


def events_for_record(
    *, kind: str, key: str, limit: int = RECORD_HISTORY_LIMIT
) -> list[AuditEvent]:
    """A record's history, newest first (at most `limit` events; the audit log has the rest)."""
    kind = getattr(kind, "slug", kind)
    return list(
        AuditEvent.objects.for_record(kind=kind, key=str(key)).order_by("-sequence")[:limit]
    )


def recent_events(*, limit: int = 10, user=None) -> list[AuditEvent]:
    """The latest events, newest first; with `user`, only that person's."""
    events = AuditEvent.objects.order_by("-sequence")
    if user is not None:
        events = events.filter(actor_pk=user.pk)
    return list(events[:limit])


@dataclass(frozen=True)
class AuditFilters:
    """The audit page's filters; empty values filter nothing."""

    person: int | None = None  # user id (kept as a snapshot, so deleted accounts still match)
    action: str = ""
    kind: str = ""
    key: str = ""
    outcome: str = ""  # "" | "success" | "failure"
    correlation_id: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None  # inclusive


def events_filtered(*, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Events matching the filters, newest first. Dates are days in the portal's time zone."""
    events = AuditEvent.objects.order_by("-sequence")
    if filters.person is not None:
        events = events.filter(actor_pk=filters.person)
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.kind:
        events = events.filter(kind=filters.kind)
    if filters.key:
        events = events.filter(key=filters.key.strip())
    if filters.outcome == "success":
        events = events.filter(success=True)
    elif filters.outcome == "failure":
        events = events.filter(success=False)
    if filters.correlation_id:
        events = events.filter(correlation_id=filters.correlation_id.strip())
    if filters.date_from:
        events = events.filter(occurred_at__gte=_start_of_day(filters.date_from))
    if filters.date_to:
        next_day = filters.date_to + datetime.timedelta(days=1)
        events = events.filter(occurred_at__lt=_start_of_day(next_day))
    return events


def _start_of_day(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def audit_log_verify(*, chunk_size: int = 2000) -> Verification:
    """Check the stored log against all three guarantees (see `portal.audit.verification`):
    the chain, the MACs under the configured key, and the checkpoint file."""
    path = Path(settings.AUDIT_CHECKPOINT_PATH)
    return verify_chain(
        _links(chunk_size),
        key=configured_key(),
        checkpoints=checkpoint_lines(path) if path.is_file() else None,
        checkpoint_source=str(path),
    )


def chain_verify(*, chunk_size: int = 2000) -> ChainCheck:
    """The hash chain alone (guarantee 1), stopping at the first broken link."""
    return audit_log_verify(chunk_size=chunk_size).chain


def _links(chunk_size: int) -> Iterator[Link]:
    events = AuditEvent.objects.order_by("sequence").iterator(chunk_size=chunk_size)
    for event in events:
        swapped = event.actor_id is not None and event.actor_id != event.actor_pk
        yield Link(
            sequence=event.sequence,
            prev_hash=event.prev_hash,
            hash=event.hash,
            mac=event.mac,
            computed_hash=event.compute_hash(),
            event_id=event.pk,
            problem=(
                "the actor does not match the actor recorded when the event was written"
                if swapped
                else ""
            ),
        )
