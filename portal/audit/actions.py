"""What an audit event records: one constant per kind of action, with a label for people.

Services pass these to `portal.audit.services.audit_record(action=...)`. The stored value is the
constant's string, so renaming a label never rewrites history.
"""

RECORD_CREATED = "record_created"
RECORD_UPDATED = "record_updated"
SAVE_FAILED = "save_failed"
SUBMITTED = "submitted"
APPROVED = "approved"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
POSTED = "posted"
POST_FAILED = "post_failed"
ATTACHMENT_UPLOADED = "attachment_uploaded"
ATTACHMENT_REFUSED = "attachment_refused"
CHANGE_REQUESTED = "change_requested"
ARCHIVE_REQUESTED = "archive_requested"
PROPOSAL_SAVED = "proposal_saved"
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGIN_FAILED_BURST = "login_failed_burst"
LOGOUT = "logout"
PERMISSION_DENIED = "permission_denied"

ACTION_LABELS: dict[str, str] = {
    RECORD_CREATED: "Record created",
    RECORD_UPDATED: "Record updated",
    SAVE_FAILED: "Save failed",
    SUBMITTED: "Submitted for approval",
    APPROVED: "Approved",
    REJECTED: "Rejected",
    WITHDRAWN: "Withdrawn",
    POSTED: "Posted",
    POST_FAILED: "Posting failed",
    ATTACHMENT_UPLOADED: "Attachment uploaded",
    ATTACHMENT_REFUSED: "Attachment refused",
    CHANGE_REQUESTED: "Change requested",
    ARCHIVE_REQUESTED: "Archive requested",
    PROPOSAL_SAVED: "Proposal saved",
    LOGIN: "Logged in",
    LOGIN_FAILED: "Log-in failed",
    LOGIN_FAILED_BURST: "Repeated log-in failures",
    LOGOUT: "Logged out",
    PERMISSION_DENIED: "Permission denied",
}

# What a person does to prepare a record through the portal. Whoever did any of these to a
# record (successfully) may not approve a request for it (segregation of duties by authorship).
AUTHORING_ACTIONS: frozenset[str] = frozenset(
    {
        RECORD_CREATED,
        RECORD_UPDATED,
        ATTACHMENT_UPLOADED,
        SUBMITTED,
        CHANGE_REQUESTED,
        ARCHIVE_REQUESTED,
        PROPOSAL_SAVED,
    }
)

ACTION_CHOICES: list[tuple[str, str]] = list(ACTION_LABELS.items())


def action_label(action: str) -> str:
    """The label for an action; an action unknown to this version shows as stored."""
    return ACTION_LABELS.get(action, action.replace("_", " ").capitalize())
