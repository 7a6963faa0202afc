"""Writing the audit log. Every write goes through `audit_record`, called by the service that
performs the action, in the same code path (never from signals), success or failure.

Appends are serialised so the hash chain never forks:
- PostgreSQL: `pg_advisory_xact_lock` inside the append's transaction. The lock is held until
  that transaction ends, also when the caller's own transaction encloses the append, so the
  next writer reads the head only after this event is committed (or rolled back).
- SQLite (development and tests): a process-wide lock queues this process's threads, and the
  append's transaction starts with `BEGIN IMMEDIATE`, taking SQLite's single write lock before
  the head is read, so other processes queue too. Inside a caller's transaction the write lock
  is taken by the first write as usual.
Unique `sequence` and `prev_hash` columns are the last guard: a forked chain cannot be stored
(on other databases, which the portal does not support, they are the only one).
"""

import datetime
import ipaddress
import logging
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, router, transaction
from django.db import connections as db_connections
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from portal.audit import actions
from portal.audit.anchor import checkpoint_file_append, checkpoint_sign, configured_key, event_mac
from portal.audit.diff import field_changes, jsonable
from portal.audit.models import GENESIS_HASH, AuditEvent, LoginFailureBurst

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key for the chain: the bytes "auditlog" as a signed 64-bit integer.
CHAIN_LOCK_ID = int.from_bytes(b"auditlog", "big", signed=True)
REDACTED = "[redacted]"
_ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CORRELATION_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_process_lock = threading.Lock()


def audit_record(
    *,
    actor,
    action: str,
    kind: str = "",
    key: str = "",
    company_id=None,
    summary: str = "",
    before: dict | None = None,
    after: dict | None = None,
    changes: dict | None = None,
    upstream: dict | None = None,
    request: HttpRequest | None = None,
    success: bool = True,
    error: str = "",
    ip_address: str | None = None,
) -> AuditEvent:
    """Append one event to the audit log and return it.

    `actor` is the person acting (None or anonymous for the portal itself or an unknown
    person). `changes` is stored as given; otherwise it is computed from `before`/`after` with
    `field_changes`. `upstream` is the DualEntry call: {"method", "path", "status",
    "duration_ms", "request_id"} (a mapping or an object with those attributes, such as a
    `DualEntryError`). `request` supplies the IP address and the correlation id (`ip_address`
    stands in for an event written without its request, e.g. a summary). A failed action
    is recorded with `success=False` and its `error`.

    Raises ValueError for an invalid action name; database errors propagate, so an action
    whose audit event cannot be written fails with it."""
    if not isinstance(action, str) or not _ACTION_PATTERN.match(action):
        raise ValueError(f"Audit action must be a constant from portal.audit.actions: {action!r}")
    if changes is None:
        changes = field_changes(before, after) if (before is not None or after is not None) else {}
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    secret = settings.DUALENTRY_API_KEY or ""
    upstream_fields = _upstream_fields(upstream)
    event = AuditEvent(
        actor=user,
        actor_pk=user.pk if user is not None else None,
        actor_username=user.get_username() if user is not None else "",
        ip_address=client_ip(request) if request is not None else ip_address,
        action=action,
        success=bool(success),
        error=_scrub(str(error or ""), secret)[:4000],
        kind=str(getattr(kind, "slug", kind) or "")[:30],
        key=str(key if key is not None else "")[:100],
        company_id=_company_id(company_id),
        summary=_one_line(_scrub(str(summary or ""), secret))[:500],
        changes=_scrub(jsonable(changes), secret),
        upstream_method=upstream_fields["method"],
        upstream_path=_scrub(upstream_fields["path"], secret)[:500],
        upstream_status=upstream_fields["status"],
        upstream_duration_ms=upstream_fields["duration_ms"],
        upstream_request_id=_scrub(upstream_fields["request_id"], secret)[:200],
        correlation_id=correlation_id_for(request) if request is not None else "",
    )
    _append(event)
    return event


def _append(event: AuditEvent) -> None:
    using = router.db_for_write(AuditEvent)
    connection = db_connections[using]
    with _serialised(using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
        head = (
            AuditEvent.objects.using(using)
            .order_by("-sequence")
            .values_list("sequence", "hash")
            .first()
        )
        event.sequence, event.prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        event.occurred_at = timezone.now()
        event.hash = event.compute_hash()
        event.mac = event_mac(event.hash, key=configured_key())
        event.save(using=using)
        sequence, event_hash = event.sequence, event.hash
        # After commit, outside the lock: a rolled-back event must never be anchored.
        transaction.on_commit(
            lambda: checkpoint_write(sequence=sequence, event_hash=event_hash), using=using
        )


def checkpoint_write(*, sequence: int, event_hash: str) -> bool:
    """Append a signed checkpoint for event `sequence` to AUDIT_CHECKPOINT_PATH.

    Runs after the event is committed, so a failure here cannot undo the action; it is logged
    as an error and `verify_audit_log` shows the events after the last checkpoint as not yet
    anchored. Returns whether the checkpoint was written."""
    path = settings.AUDIT_CHECKPOINT_PATH
    checkpoint = checkpoint_sign(
        sequence=sequence, event_hash=event_hash, key=configured_key(), now=timezone.now()
    )
    try:
        checkpoint_file_append(path, checkpoint)
    except OSError as err:
        logger.error("Audit checkpoint for event %s not written to %s: %s", sequence, path, err)
        return False
    return True


def checkpoint_head() -> AuditEvent | None:
    """Checkpoint the latest committed event (after a restore, a lost file, or on a schedule).
    Returns that event, or None when the log is empty."""
    head = AuditEvent.objects.order_by("-sequence").first()
    if head is not None and not checkpoint_write(sequence=head.sequence, event_hash=head.hash):
        raise OSError(f"the checkpoint file {settings.AUDIT_CHECKPOINT_PATH} is not writable")
    return head


@contextmanager
def _serialised(using: str) -> Iterator[None]:
    """A transaction in which appends to the chain are one at a time (see module docstring)."""
    connection = db_connections[using]
    if connection.vendor != "sqlite":
        with transaction.atomic(using=using):
            yield
        return
    if connection.in_atomic_block:
        # The caller's transaction is already open. Its read lock keeps other connections
        # from committing between the head read and the INSERT (SQLite makes one of two such
        # writers fail with "database is locked"), and the write lock the INSERT takes is
        # held to the caller's commit; the unique columns would refuse a fork regardless.
        with transaction.atomic(using=using):
            yield
        return
    with _process_lock:
        connection.ensure_connection()  # connecting resets transaction_mode from settings
        previous_mode = connection.transaction_mode
        connection.transaction_mode = "IMMEDIATE"
        try:
            with transaction.atomic(using=using):
                connection.transaction_mode = previous_mode
                yield
        finally:
            connection.transaction_mode = previous_mode


def audit_login(*, request: HttpRequest, user) -> AuditEvent:
    """A log-in; failures just before it from the same address are summed up first."""
    window_start = timezone.now() - datetime.timedelta(seconds=settings.AUDIT_LOGIN_FAILURE_WINDOW)
    _login_bursts_close(
        LoginFailureBurst.objects.filter(opened_at__lt=window_start), ending="in that window"
    )
    _login_bursts_close(
        LoginFailureBurst.objects.filter(
            username=user.get_username(), ip_address=client_ip(request) or ""
        ),
        ending="before logging in",
    )
    return audit_record(
        actor=user,
        action=actions.LOGIN,
        summary=f"{user.get_username()} logged in",
        request=request,
    )


UNKNOWN_USERNAME = "(a username with no account)"


def audit_login_failed(*, request: HttpRequest, username: str) -> AuditEvent | None:
    """A failed log-in: no actor (nobody is authenticated); the name typed is in the summary.

    Rate-limited: the first failure for a username from an address is an event, later ones
    within AUDIT_LOGIN_FAILURE_WINDOW only count, and the count is written when the burst ends
    (see `LoginFailureBurst`). Returns the event written, or None when the failure was counted."""
    # Only names of existing accounts are written down. What else people type there is often a
    # password typed one field too early, or a probe: writing it would keep it in an append-only
    # log, and echoing it back (even as "[redacted]") would let someone with audit access test
    # guesses of a secret. Unknown names share one burst per address, so random names cannot
    # flood the log either.
    if username and not get_user_model().objects.filter(username=username).exists():
        username = UNKNOWN_USERNAME
    attempted = _one_line(username or "")[:150]
    address = client_ip(request) or ""
    now = timezone.now()
    window = settings.AUDIT_LOGIN_FAILURE_WINDOW
    window_start = now - datetime.timedelta(seconds=window)
    _login_bursts_close(
        LoginFailureBurst.objects.filter(opened_at__lt=window_start), ending="in that window"
    )
    bursts = LoginFailureBurst.objects.filter(username=attempted, ip_address=address)
    if bursts.update(count=F("count") + 1, last_failed_at=now):
        return None
    minutes = f"{window // 60} minutes" if window % 60 == 0 else f"{window} seconds"
    try:
        with transaction.atomic():
            LoginFailureBurst.objects.create(
                username=attempted, ip_address=address, opened_at=now, last_failed_at=now
            )
            return audit_record(
                actor=None,
                action=actions.LOGIN_FAILED,
                summary=(
                    f"Log-in failed for “{attempted}”"
                    if attempted
                    else "Log-in failed (no username)"
                )
                + f"; further failures in the next {minutes} are counted in one event",
                request=request,
                success=False,
                error="Wrong username or password, or the account is inactive.",
            )
    except IntegrityError:  # another request opened this burst a moment ago: count this one
        bursts.update(count=F("count") + 1, last_failed_at=now)
        return None


def _login_bursts_close(bursts: QuerySet[LoginFailureBurst], *, ending: str) -> None:
    """Write the count of each burst that had more than its first failure, and forget it.
    Deleting the row (with the count read) before writing the event makes sure only one of
    several requests closing the same burst writes it."""
    for burst in bursts.order_by("opened_at"):
        with transaction.atomic():
            deleted, _ = LoginFailureBurst.objects.filter(pk=burst.pk, count=burst.count).delete()
            if not deleted or burst.count < 2:
                continue
            name = f"“{burst.username}”" if burst.username else "no username"
            address = burst.ip_address or "an unknown address"
            first, last = (
                moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
                for moment in (burst.opened_at, burst.last_failed_at)
            )
            audit_record(
                actor=None,
                action=actions.LOGIN_FAILED_BURST,
                summary=(
                    f"{burst.count} failed log-ins for {name} from {address} "
                    f"between {first} and {last} UTC {ending}"
                ),
                ip_address=burst.ip_address or None,
                success=False,
                error="Wrong username or password, or the account is inactive.",
            )


def audit_logout(*, request: HttpRequest, user) -> AuditEvent:
    return audit_record(
        actor=user,
        action=actions.LOGOUT,
        summary=f"{user.get_username()} logged out",
        request=request,
    )


def audit_permission_denied(*, request: HttpRequest, reason: str = "") -> AuditEvent:
    method = request.method or "GET"
    path = request.get_full_path()[:300]
    return audit_record(
        actor=getattr(request, "user", None),
        action=actions.PERMISSION_DENIED,
        summary=f"Refused {method} {path}",
        request=request,
        success=False,
        error=reason,
    )


# --- request details ---------------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or, behind `TRUSTED_PROXY_COUNT` reverse proxies
    that append to X-Forwarded-For, the address the outermost trusted proxy saw. Entries a
    client adds to X-Forwarded-For itself sit further left and are never used."""
    candidate = request.META.get("REMOTE_ADDR", "")
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate.strip()))
    except ValueError:
        return None


def correlation_id_for(request: HttpRequest) -> str:
    """The id shared by all events of one request (set by CorrelationIdMiddleware; made here
    for requests that did not pass through it, such as RequestFactory ones)."""
    correlation_id = getattr(request, "correlation_id", "")
    if not correlation_id:
        correlation_id = uuid.uuid4().hex
        request.correlation_id = correlation_id
    return correlation_id


def valid_correlation_id(value: str | None) -> bool:
    return bool(value) and bool(_CORRELATION_PATTERN.match(value))


# --- value hygiene -----------------------------------------------------------------------------


def _scrub(value: Any, secret: str) -> Any:
    """Defence in depth: the DualEntry API key never lands in an event, wherever it hides."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, dict):
        return {_scrub(name, secret): _scrub(item, secret) for name, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secret) for item in value]
    return value


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _company_id(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"company_id must be a whole number, not {value!r}") from None


def _upstream_fields(upstream: Any) -> dict:
    fields = {"method": "", "path": "", "status": None, "duration_ms": None, "request_id": ""}
    if not upstream:
        return fields

    def get(name: str):
        if isinstance(upstream, Mapping):
            return upstream.get(name)
        return getattr(upstream, name, None)

    fields["method"] = str(get("method") or "").upper()[:10]
    fields["path"] = str(get("path") or "")
    status = get("status")
    fields["status"] = int(status) if status not in (None, "") else None
    duration = get("duration_ms")
    fields["duration_ms"] = max(0, round(float(duration))) if duration not in (None, "") else None
    fields["request_id"] = str(get("request_id") or "")
    return fields
