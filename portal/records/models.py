"""What the portal keeps locally about DualEntry records.

DualEntry is the system of record. The portal's database holds only what the API cannot:
proposals the API cannot take as drafts (see `Proposal`).
"""

from django.conf import settings
from django.db import models


class Proposal(models.Model):
    """A record prepared in the portal's database, sent to DualEntry only when approved.

    - a new contract (API v2 cannot update contracts, so it is created only once approved);
    - a contract usage batch (bulk upsert can invoice);
    - a change to a posted refund, deposit or credit, or archiving one (change request).
    `payload` is exactly the body that approval will send.
    """

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
