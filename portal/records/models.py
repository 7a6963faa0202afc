"""What the portal keeps locally about DualEntry records.

DualEntry is the system of record. The portal's database holds only what the API cannot:
proposals the API cannot take as drafts (see `Proposal`).
"""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from dualentry_api.records import to_jsonable


class Proposal(models.Model):
    """A record prepared in the portal's database, sent to DualEntry only when approved.

    - a new contract (API v2 cannot update contracts, so it is created only once approved);
    - a contract usage batch (bulk upsert can invoice);
    - a change to a posted refund, deposit or credit, or archiving one (change request).
    `payload` is exactly the body that approval will send.
    """

    AUDIT_KEY_PREFIX = "proposal-"  # see `audit_key`

    class Action(models.TextChoices):
        CREATE_CONTRACT = "create_contract", "Create contract"
        UPSERT_USAGE = "upsert_usage", "Upsert contract usage"
        CHANGE_RECORD = "change_record", "Change posted record"
        ARCHIVE_RECORD = "archive_record", "Archive record"

    kind = models.CharField(max_length=20)  # a slug of portal.records.kinds.KINDS
    action = models.CharField(max_length=20, choices=Action.choices)
    # The DualEntry record it applies to (contract id for usage, number for changes);
    # empty for a contract not yet created.
    target_key = models.CharField(max_length=64, blank=True)
    company_id = models.IntegerField(null=True, blank=True)
    payload = models.JSONField()
    # The live record the proposal was prepared against (change requests): approval refuses
    # to apply it if DualEntry's record has changed since.
    base_snapshot = models.JSONField(null=True, blank=True)
    # Set once the proposal has been applied upstream (the created contract's id, ...).
    result_key = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["kind", "target_key"])]

    def __str__(self) -> str:
        target = f" {self.target_key}" if self.target_key else ""
        return f"{self.get_action_display()} ({self.kind}{target}) #{self.pk}"

    @property
    def is_applied(self) -> bool:
        return bool(self.result_key)

    @property
    def audit_key(self) -> str:
        """The audit-log key of a proposal ("proposal-12"); the target record is in the summary."""
        return f"{self.AUDIT_KEY_PREFIX}{self.pk}"

    @property
    def version(self) -> str:
        """The version of a proposal for stale checks (its last save time)."""
        return self.updated_at.isoformat() if self.updated_at else ""


class SentPayloadQuerySet(models.QuerySet):
    def remember(
        self, *, kind: str, key: str | int, payload: Mapping[str, Any], user
    ) -> "SentPayload":
        """Keep `payload` as the last full body the portal sent for this record."""
        sent, _created = self.update_or_create(
            kind=kind,
            key=str(key),
            defaults={
                "payload": to_jsonable(dict(payload)),
                "sent_by": user,
                "sent_at": timezone.now(),
            },
        )
        return sent


class SentPayload(models.Model):
    """The last full body the portal sent to DualEntry for a record.

    DualEntry's GET of a customer deposit leaves out the line amounts, so a full PUT cannot be
    rebuilt from a GET alone. The portal keeps what it sent (JSON-ready: money as strings,
    line ids filled in from DualEntry's answer) and pre-fills the edit form from it.
    """

    kind = models.CharField(max_length=20)  # a slug of portal.records.kinds.KINDS
    key = models.CharField(max_length=64)  # the record's number (or contract id)
    payload = models.JSONField()
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    sent_at = models.DateTimeField()

    objects = SentPayloadQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="records_one_sent_payload")
        ]

    def __str__(self) -> str:
        return f"Payload sent for {self.kind} {self.key} at {self.sent_at:%Y-%m-%d %H:%M}"


class FormToken(models.Model):
    """A one-time token per create form: a resubmitted form creates nothing twice.

    The create form carries a random token. The first submission inserts this row (the unique
    constraint lets exactly one request in) and records where the result lives; a second
    submission of the same form finds the row and is sent to that result instead.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Being saved"
        DONE = "done", "Saved"

    token = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=20)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    result_key = models.CharField(max_length=64, blank=True)
    result_url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Form token for {self.kind} ({self.get_state_display()})"
