"""The audit log: one append-only, hash-chained table of events.

Each event stores `prev_hash` (the previous event's `hash`) and `hash`, a SHA-256 over a
canonical JSON of its own content plus `prev_hash`. `sequence` counts events from 1 without
gaps, so a removed event shows as a gap and an edited one as a hash mismatch
(`python manage.py verify_audit_log`). Events are only written by
`portal.audit.services.audit_record`, which serialises appends so the chain never forks.

A plain hash chain can be recomputed by whoever can write the table, and a cut tail leaves a
valid chain. So each event also stores `mac`, an HMAC-SHA256 of its hash under a key that only
the portal's environment holds (`portal.audit.anchor`), and every committed append writes a
signed checkpoint to a file outside the database: a recomputed chain fails the MACs, a cut
tail falls short of the latest checkpoint.

Nothing updates or deletes an event: `save()` refuses updates, `delete()` refuses, the manager's
`update()`/`delete()`/`bulk_update()` raise, the admin is read-only, and on PostgreSQL a trigger
rejects UPDATE and DELETE (migration 0002). The one change the trigger lets through is
`actor_id` becoming NULL when a person's account is deleted (`on_delete=SET_NULL`); the hash
covers the `actor_pk` and `actor_username` snapshots, not the foreign key, so history survives it.
"""

import hashlib
import json
from datetime import UTC

from django.conf import settings
from django.db import models
from django.urls import NoReverseMatch, reverse

from portal.audit import actions
from portal.audit.diff import change_rows
from portal.records.kinds import KINDS

GENESIS_HASH = "0" * 64


def content_hash(content: dict) -> str:
    """SHA-256 of an event's content (`AuditEvent.content()`) as canonical JSON; also used to
    verify exported archives, which carry the content without the database."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AuditLogImmutable(Exception):
    """Raised by any attempt to change or remove an audit event."""

    def __init__(self, what: str = "changed") -> None:
        super().__init__(f"Audit events are append-only; they cannot be {what}.")


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogImmutable("updated")

    def delete(self):
        raise AuditLogImmutable("deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditLogImmutable("updated")

    def update_or_create(self, defaults=None, create_defaults=None, **kwargs):
        raise AuditLogImmutable("updated")

    def _raw_delete(self, using):
        raise AuditLogImmutable("deleted")

    def for_record(self, *, kind: str, key: str) -> "AuditEventQuerySet":
        return self.filter(kind=kind, key=str(key))

    def authored_by(self, actor_pk: int | None) -> "AuditEventQuerySet":
        """Successful events by which this person prepared a record (`AUTHORING_ACTIONS`)."""
        return self.filter(actor_pk=actor_pk, action__in=actions.AUTHORING_ACTIONS, success=True)


class AuditEvent(models.Model):
    sequence = models.PositiveBigIntegerField(
        unique=True, help_text="Position in the chain, counted from 1 without gaps."
    )
    occurred_at = models.DateTimeField(db_index=True, help_text="When it happened (UTC).")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    # Snapshots: the event still names the person after the account is renamed or deleted.
    actor_pk = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150, blank=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=40, db_index=True)
    success = models.BooleanField(default=True)
    error = models.TextField(blank=True)
    kind = models.CharField(max_length=30, blank=True)
    key = models.CharField(max_length=100, blank=True)
    company_id = models.BigIntegerField(null=True, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    upstream_method = models.CharField(max_length=10, blank=True)
    upstream_path = models.CharField(max_length=500, blank=True)
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    upstream_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    upstream_request_id = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    prev_hash = models.CharField(max_length=64, unique=True)
    hash = models.CharField(max_length=64, unique=True)
    mac = models.CharField(
        max_length=64, help_text="HMAC-SHA256 of `hash` under AUDIT_HMAC_KEY (never stored here)."
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        # No add/change/delete permissions exist; reading is `portal.view_audit_log`.
        default_permissions = ()
        indexes = [
            models.Index(fields=["kind", "key", "-sequence"], name="audit_record_idx"),
            models.Index(fields=["actor_pk", "-sequence"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action_label} by {self.actor_username or 'nobody'}"

    # --- append-only ---------------------------------------------------------------------

    def save(self, *args, **kwargs):
        if not self._state.adding or kwargs.get("force_update"):
            raise AuditLogImmutable("updated")
        if not self.hash:
            raise AuditLogImmutable("written outside portal.audit.services.audit_record")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogImmutable("deleted")

    # --- the chain -----------------------------------------------------------------------

    def content(self) -> dict:
        """Everything the hash covers (all fields but `id`, `actor` and `hash`)."""
        return {
            "sequence": self.sequence,
            "occurred_at": self.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor_pk": self.actor_pk,
            "actor_username": self.actor_username,
            "ip_address": self.ip_address,
            "action": self.action,
            "success": self.success,
            "error": self.error,
            "kind": self.kind,
            "key": self.key,
            "company_id": self.company_id,
            "summary": self.summary,
            "changes": self.changes,
            "upstream_method": self.upstream_method,
            "upstream_path": self.upstream_path,
            "upstream_status": self.upstream_status,
            "upstream_duration_ms": self.upstream_duration_ms,
            "upstream_request_id": self.upstream_request_id,
            "correlation_id": self.correlation_id,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        return content_hash(self.content())

    # --- presentation --------------------------------------------------------------------

    @property
    def action_label(self) -> str:
        return actions.action_label(self.action)

    @property
    def change_rows(self):
        return change_rows(self.changes)

    @property
    def has_upstream(self) -> bool:
        return bool(self.upstream_method or self.upstream_path)

    @property
    def record_url(self) -> str:
        """The record's detail page, or "" when the event names no record the portal shows."""
        if self.kind not in KINDS or not self.key:
            return ""
        try:
            return reverse("records:detail", kwargs={"kind": self.kind, "key": self.key})
        except NoReverseMatch:  # a key the records URLs do not accept (e.g. a proposal's)
            return ""


class LoginFailureBurst(models.Model):
    """Failed log-ins for one username from one address, counted rather than logged one by one.

    Working state, not part of the audit log: the first failure of a burst is an audit event,
    the rest only raise `count`, and when the burst ends (`AUDIT_LOGIN_FAILURE_WINDOW` after it
    opened, or at a successful log-in) one event records the count and the row goes. So nobody
    without an account can grow the audit log faster than one event per name and address per
    window."""

    username = models.CharField(max_length=150)
    ip_address = models.CharField(max_length=45, blank=True)
    opened_at = models.DateTimeField(db_index=True)
    last_failed_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["username", "ip_address"], name="audit_login_burst_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.count} failed log-ins for {self.username} from {self.ip_address or '?'}"
