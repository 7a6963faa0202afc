"""The read model: a local copy of what the portal shows from DualEntry.

Never edited by people: only the sync (`sync.py`) and the portal's own writes (write-through,
`mirror_record`) change these rows. Every row is keyed by `account`, a fingerprint of the API's
base URL and key, so pointing the portal at another DualEntry account never shows the old
account's records.
"""

from __future__ import annotations

from django.db import models


class MirroredRecord(models.Model):
    """One refund, deposit, credit or contract as DualEntry last returned it."""

    account = models.CharField(max_length=64)
    kind = models.CharField(max_length=32)  # the record kind's slug
    key = models.CharField(max_length=64)  # number or id, as text
    number = models.CharField(max_length=64, blank=True, default="")
    company_id = models.BigIntegerField(null=True)
    company_name = models.CharField(max_length=255, blank=True, default="")
    customer_id = models.BigIntegerField(null=True)
    customer_name = models.CharField(max_length=255, blank=True, default="")
    name = models.CharField(max_length=255, blank=True, default="")  # contracts
    date = models.DateField(null=True)
    second_date = models.DateField(null=True)  # transaction date / contract start
    end_date = models.DateField(null=True)  # contract end
    currency = models.CharField(max_length=8, blank=True, default="")
    amount = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    remaining = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    used = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    status = models.CharField(max_length=32, blank=True, default="")
    memo = models.TextField(blank=True, default="")
    upstream_updated_at = models.DateTimeField(null=True)
    # The whole record as DualEntry returned it (JSON; decimals as DualEntry wrote them).
    data = models.JSONField()
    data_hash = models.CharField(max_length=64)  # SHA-256 of `data`: unchanged answers skip writes
    needs_detail = models.BooleanField(default=False)  # detail-only fields to (re-)read
    search_text = models.TextField(blank=True, default="")
    seen_at = models.DateTimeField()  # when the portal last saw it in an answer
    changed_at = models.DateTimeField()  # when the copy last changed
    removed_upstream_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "key"], name="readmodel_record_unique_key"
            )
        ]
        indexes = [
            models.Index(fields=["account", "kind", "status"], name="readmodel_rec_status"),
            models.Index(fields=["account", "kind", "date"], name="readmodel_rec_date"),
            models.Index(fields=["account", "kind", "amount"], name="readmodel_rec_amount"),
            models.Index(fields=["account", "kind", "customer_name"], name="readmodel_rec_cust"),
            models.Index(fields=["account", "kind", "company_id"], name="readmodel_rec_company"),
            models.Index(fields=["account", "kind", "seen_at"], name="readmodel_rec_seen"),
            models.Index(
                fields=["account", "kind", "upstream_updated_at"], name="readmodel_rec_updated"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class MirroredReference(models.Model):
    """One entry of a reference list (a company, customer, account, item, vendor)."""

    account = models.CharField(max_length=64)
    source = models.CharField(max_length=32)  # "companies", "accounts", ...
    key = models.CharField(max_length=64)
    name = models.CharField(max_length=255, blank=True, default="")
    type = models.CharField(max_length=64, blank=True, default="")  # an account's type
    data = models.JSONField()
    data_hash = models.CharField(max_length=64)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "source", "key"], name="readmodel_reference_unique_key"
            )
        ]
        indexes = [models.Index(fields=["account", "source", "name"], name="readmodel_ref_name")]

    def __str__(self) -> str:
        return f"{self.source} {self.key}"


class SyncMode(models.TextChoices):
    NEW = "new", "New records"
    DRAFTS = "drafts", "Drafts"
    FULL = "full", "Full reconcile"
    REFERENCES = "references", "Reference lists"


class SyncRun(models.Model):
    """One run of one sync: what it read and changed, how long it took, how it ended."""

    account = models.CharField(max_length=64)
    kind = models.CharField(max_length=32)  # a record kind's slug, or "references"
    mode = models.CharField(max_length=16, choices=SyncMode.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    pages_read = models.PositiveIntegerField(default=0)
    records_seen = models.PositiveIntegerField(default=0)
    records_changed = models.PositiveIntegerField(default=0)
    records_removed = models.PositiveIntegerField(default=0)
    records_skipped = models.PositiveIntegerField(default=0)  # failed to parse
    errors = models.TextField(blank=True, default="")
    ok = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["kind", "mode", "-started_at"], name="readmodel_run_recent")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.mode} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class SyncState(models.Model):
    """Per account and kind: when each sync last succeeded, where a full pass stands, the lease."""

    account = models.CharField(max_length=64)
    kind = models.CharField(max_length=32)  # a record kind's slug, or "references"
    last_new_at = models.DateTimeField(null=True)
    last_drafts_at = models.DateTimeField(null=True)
    last_full_at = models.DateTimeField(null=True)  # the last *completed* full pass
    # A full pass in progress: the next offset to read and when the pass began (records not
    # seen since then are gone upstream once the pass completes). None: no pass under way.
    full_cursor = models.PositiveIntegerField(null=True)
    full_pass_started_at = models.DateTimeField(null=True)
    # One sync of a kind at a time, across processes: taken with a conditional UPDATE.
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True)
    # The sync's own pacing: its requests for this kind are spaced so they stay within the
    # configured share of DualEntry's budget (see sync.SyncPacer).
    last_request_at = models.DateTimeField(null=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True)
    backoff_until = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "kind"], name="readmodel_state_unique")
        ]

    def __str__(self) -> str:
        return f"sync state of {self.kind}"
