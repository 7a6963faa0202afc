"""Reading the audit log: record histories, recent activity, the filtered log, chain checks."""

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from portal.audit.models import GENESIS_HASH, AuditEvent

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


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of walking the chain: `ok`, how many events were checked, and for a broken
    chain the first bad event (`event_id`, `sequence`) and why."""

    ok: bool
    checked: int
    event_id: int | None = None
    sequence: int | None = None
    reason: str = ""
    last_hash: str = GENESIS_HASH


def chain_verify(*, chunk_size: int = 2000) -> ChainCheck:
    """Walk every event in sequence order, recomputing hashes; stop at the first broken link."""
    expected_sequence, expected_prev, checked = 1, GENESIS_HASH, 0
    events = AuditEvent.objects.order_by("sequence").iterator(chunk_size=chunk_size)
    for event in events:
        reason = _broken_link(event, expected_sequence, expected_prev)
        if reason:
            return ChainCheck(
                ok=False,
                checked=checked,
                event_id=event.pk,
                sequence=event.sequence,
                reason=reason,
                last_hash=expected_prev,
            )
        checked += 1
        expected_sequence, expected_prev = event.sequence + 1, event.hash
    return ChainCheck(ok=True, checked=checked, last_hash=expected_prev)


def _broken_link(event: AuditEvent, expected_sequence: int, expected_prev: str) -> str:
    if event.sequence != expected_sequence:
        if event.sequence > expected_sequence:
            missing = (
                f"event {expected_sequence} is missing"
                if event.sequence == expected_sequence + 1
                else f"events {expected_sequence} to {event.sequence - 1} are missing"
            )
            return f"gap in the sequence: {missing}"
        return f"sequence {event.sequence} is out of order (expected {expected_sequence})"
    if event.prev_hash != expected_prev:
        return "prev_hash does not match the hash of the event before it"
    if event.compute_hash() != event.hash:
        return "the stored hash does not match the event's content (the row was changed)"
    if event.actor_id is not None and event.actor_id != event.actor_pk:
        return "the actor does not match the actor recorded when the event was written"
    return ""
