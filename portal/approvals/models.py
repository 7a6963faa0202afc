"""Approval requests: nothing reaches DualEntry as posted until someone else approved it.

One table of requests, whatever is being approved (see DESIGN.md, "Where a record lives while it
is being prepared"):

- `post_draft`: a DualEntry draft (refund, deposit, credit) to be PUT with record_status "posted";
- `apply_change`: a change to a posted record, kept in a `records.Proposal` until approved;
- `archive`: archiving a record (a `records.Proposal` with record_status "archived");
- `create_contract`: a contract kept in a `records.Proposal`, created (POST) once approved;
- `upsert_usage`: a contract usage batch kept in a `records.Proposal`, bulk-upserted once approved.

A request binds to the exact payload that will be sent (`payload`, `payload_hash`) and to the live
record it was prepared against (`snapshot`, `snapshot_hash`). Decisions are separate rows, one per
approver, each carrying the payload hash it approved.

State machine (terminal states: posted, rejected, withdrawn):

    submitted --approve (enough distinct approvers)--> posting --> posted
        |                                                  \\--> post_failed --retry--> posting
        |--reject (comment)--> rejected   (the preparer edits, then submits a *new* request)
        \\--withdraw (submitter)--> withdrawn

`approved` exists for completeness of the record's story but a request only passes through it
inside the final approval's transaction: it is committed as `posting`, so a crash between the
commit and the upstream call leaves `posting`, which a retry resolves by reading upstream first.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ApprovalRequestQuerySet(models.QuerySet):
    """Questions other layers ask about approval requests without calling into approvals.

    `portal.records` asks "is this record (or proposal) waiting for approval?" here: a query on
    the model, so records never imports approvals' services or selectors (README, "Who may
    import whom").
    """

    def open(self) -> "ApprovalRequestQuerySet":
        return self.filter(state__in=ApprovalRequest.OPEN_STATES)

    def open_for(self, kind: str, key: str | int) -> "ApprovalRequestQuerySet":
        """The open request for a DualEntry record (at most one; none for an empty key)."""
        if not key:
            return self.none()
        return self.open().filter(kind=kind, key=str(key))

    def open_for_proposal(self, proposal) -> "ApprovalRequestQuerySet":
        """The open request for a proposal (at most one; none for an unsaved proposal)."""
        if proposal is None or proposal.pk is None:
            return self.none()
        return self.open().filter(proposal=proposal)


class ApprovalRequest(models.Model):
    class Type(models.TextChoices):
        """What approval does in DualEntry (each is described at the top of this module)."""

        POST_DRAFT = "post_draft", "Post draft"
        APPLY_CHANGE = "apply_change", "Change posted record"
        CREATE_CONTRACT = "create_contract", "Create contract"
        UPSERT_USAGE = "upsert_usage", "Upsert contract usage"
        ARCHIVE = "archive", "Archive record"

    class State(models.TextChoices):
        """Where the request is in the state machine drawn at the top of this module; it is
        `approved` only inside the final approval's transaction, then `posting`."""

        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        POSTING = "posting", "Posting"
        POSTED = "posted", "Posted"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        POST_FAILED = "post_failed", "Post failed"

    # A record with a request in one of these states is locked against edits.
    OPEN_STATES = (State.SUBMITTED, State.APPROVED, State.POSTING, State.POST_FAILED)
    DECIDED_STATES = (State.POSTED, State.REJECTED, State.WITHDRAWN, State.POST_FAILED)
    # A request left in `posting` this long was interrupted (a crash between the commit and
    # the outcome); a younger one may still be waiting for DualEntry's answer.
    POSTING_STALE_AFTER = timedelta(minutes=5)

    type = models.CharField(max_length=20, choices=Type.choices)
    kind = models.CharField(max_length=20)  # a slug of portal.records.kinds.KINDS
    # The DualEntry record (number, or contract id); empty for a contract not yet created.
    key = models.CharField(max_length=64, blank=True)
    proposal = models.ForeignKey(
        "records.Proposal",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approval_requests",
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.SUBMITTED)
    # After a rejection the preparer edits and submits again: a new request, linked here.
    resubmission_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="resubmissions"
    )

    # Exactly what approval will send (JSON-ready: money as strings, dates as ISO strings) and
    # the SHA-256 of its canonical JSON. Decisions record the hash they approved.
    payload = models.JSONField()
    payload_hash = models.CharField(max_length=64)
    # The live record as fetched from DualEntry when submitted (None for a new contract), and
    # the SHA-256 of its canonical JSON: approval is blocked if the live record differs.
    snapshot = models.JSONField(null=True, blank=True)
    snapshot_hash = models.CharField(max_length=64, blank=True)

    company_id = models.IntegerField(null=True, blank=True)
    amount = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    title = models.CharField(max_length=200, blank=True)  # "customer refund CR-1042"
    note = models.TextField(blank=True)  # the submitter's note to the approvers

    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_requests"
    )
    submitted_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)  # final approval/rejection/withdrawal
    updated_at = models.DateTimeField(auto_now=True)
    # Bumped by every transition: state writes are compare-and-set on it (see services).
    version = models.PositiveIntegerField(default=0)

    # Posting outcome.
    post_attempts = models.PositiveIntegerField(default=0)
    posted_at = models.DateTimeField(null=True, blank=True)
    upstream_key = models.CharField(max_length=64, blank=True)  # created contract id, number
    upstream_request_id = models.CharField(max_length=100, blank=True)
    post_error = models.TextField(blank=True)

    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            # One open request per DualEntry record: the record is locked while it is open.
            models.UniqueConstraint(
                fields=["kind", "key"],
                condition=Q(state__in=["submitted", "approved", "posting", "post_failed"])
                & ~Q(key=""),
                name="approvals_one_open_request_per_record",
            ),
            models.UniqueConstraint(
                fields=["proposal"],
                condition=Q(state__in=["submitted", "approved", "posting", "post_failed"]),
                name="approvals_one_open_request_per_proposal",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-submitted_at"]),
            models.Index(fields=["kind", "key"]),
        ]

    def __str__(self) -> str:
        return f"Approval request #{self.pk}: {self.title or self.get_type_display()}"

    @property
    def is_interrupted(self) -> bool:
        """Left in `posting` long enough that no request can still be waiting upstream."""
        return (
            self.state == self.State.POSTING
            and self.updated_at is not None
            and self.updated_at < timezone.now() - self.POSTING_STALE_AFTER
        )

    @property
    def can_be_retried(self) -> bool:
        return self.state == self.State.POST_FAILED or self.is_interrupted

    @property
    def needs_two_approvers(self) -> bool:
        return self.required_approvals > 1


class ApprovalDecision(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    approval_request = models.ForeignKey(
        ApprovalRequest, on_delete=models.CASCADE, related_name="decisions"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_decisions"
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    payload_hash = models.CharField(max_length=64)  # what this approver saw and approved
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["approval_request", "approver"], name="approvals_one_decision_per_approver"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.approver} on #{self.approval_request_id}"


class ApprovalComment(models.Model):
    """A note on a request outside a decision (submitter's withdrawal reason, a question)."""

    approval_request = models.ForeignKey(
        ApprovalRequest, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Comment by {self.author} on #{self.approval_request_id}"
