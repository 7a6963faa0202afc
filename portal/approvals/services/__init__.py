"""The approval workflow (maker-checker): submit, approve, reject, withdraw, post, retry.

Modules: `transitions` (refusals, the locked transaction, state writes, audit and notices),
`submit`, `decide` and `post`. The names pages and tests use are re-exported here.

Rules enforced here, whatever page or script calls in:
- Preparers (`portal.prepare_records`) submit; approvers (`portal.approve_records`) decide.
  Nobody decides a request they submitted, and nobody approves (first or second approval) a
  request for a record they prepared (created, edited, attached to, submitted or proposed, as
  the record's audit log shows: `selectors.approval_refusal_for`), administrators included.
- A request binds to the exact payload that will be sent (`payload_hash`) and to the live
  record it was prepared against (`snapshot_hash`). Approval re-reads the record: if DualEntry's
  record no longer matches the snapshot, approval is refused and the preparer must resubmit.
- Amounts at or above `APPROVAL_DUAL_THRESHOLD` (record currency) need two different approvers.
- After the final approval the request is committed as `posting`, then exactly the approved
  payload is sent, the record is read back and compared, and the outcome (`posted` or
  `post_failed`) is written in a second transaction. A retry reads upstream first and never
  sends twice what is already there.

Concurrency: every transition runs in `_transition()` and re-reads the request with
`select_for_update()`, so on PostgreSQL two approvers clicking at the same moment queue on the
row lock and the second sees the first's decision. Each state write is also a compare-and-set
on `version`, the guard where row locks do not exist (SQLite): a transition that lost a race
matches no row and is refused. SQLite has no row locks at all, so transitions of this process
are additionally queued on a process-wide lock. No HTTP call happens while a lock is held.

A rejected request stays rejected; the preparer edits the draft (or proposal) and submits
again, which creates a new request linked to the rejected one (`resubmission_of`). Each
approver's decision is one row, so a fresh request gives everybody a fresh decision.
"""

from portal.approvals.services.decide import (
    approval_approve,
    approval_comment_add,
    approval_reject,
    approval_withdraw,
)
from portal.approvals.services.post import approval_retry
from portal.approvals.services.submit import (
    approval_submit,
    archive_request_submit,
    change_request_submit,
)
from portal.approvals.services.transitions import (
    REFUSALS,
    ApprovalError,
    ApprovalNotAllowed,
)
from portal.records.services import StaleRecord

__all__ = [
    "REFUSALS",
    "ApprovalError",
    "ApprovalNotAllowed",
    "StaleRecord",
    "approval_approve",
    "approval_comment_add",
    "approval_reject",
    "approval_retry",
    "approval_submit",
    "approval_withdraw",
    "archive_request_submit",
    "change_request_submit",
]
