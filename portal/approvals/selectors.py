"""Reads about approval requests (no upstream calls here)."""

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from portal.approvals.models import ApprovalDecision, ApprovalRequest

OPEN = ApprovalRequest.OPEN_STATES


def _with_people(queryset: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    return queryset.select_related("submitted_by", "proposal").annotate(
        approvals_count=Count("decisions", filter=Q(decisions__decision="approve"))
    )


def open_request_for(*, kind: str, key: str) -> ApprovalRequest | None:
    """The open (submitted/approved/posting/post-failed) request for a record, if any."""
    if not key:
        return None
    requests = ApprovalRequest.objects.filter(kind=kind, key=str(key), state__in=OPEN)
    return _with_people(requests).first()


def open_request_for_proposal(*, proposal) -> ApprovalRequest | None:
    if proposal is None or proposal.pk is None:
        return None
    return _with_people(ApprovalRequest.objects.filter(proposal=proposal, state__in=OPEN)).first()


def is_locked(*, kind: str, key: str) -> bool:
    """True while a request for this record is open: edits must be refused."""
    if not key:
        return False
    return ApprovalRequest.objects.filter(kind=kind, key=str(key), state__in=OPEN).exists()


def _decided_by(user) -> Exists:
    return Exists(ApprovalDecision.objects.filter(approval_request=OuterRef("pk"), approver=user))


def waiting_for(*, user) -> QuerySet[ApprovalRequest]:
    """Submitted requests this user may decide: they approve, did not submit it and have not
    decided it yet (oldest first: first come, first served)."""
    if not user.is_authenticated or not user.has_perm("portal.approve_records"):
        return ApprovalRequest.objects.none()
    return (
        _with_people(ApprovalRequest.objects.filter(state=ApprovalRequest.State.SUBMITTED))
        .exclude(submitted_by=user)
        .exclude(_decided_by(user))
        .order_by("submitted_at", "id")
    )


def submitted_by(*, user, limit: int = 50) -> QuerySet[ApprovalRequest]:
    """The user's own requests, open ones first, then the most recent."""
    return _with_people(ApprovalRequest.objects.filter(submitted_by=user)).order_by(
        "-submitted_at", "-id"
    )[:limit]


def recently_decided(*, limit: int = 25) -> QuerySet[ApprovalRequest]:
    return (
        _with_people(
            ApprovalRequest.objects.filter(
                state__in=[
                    ApprovalRequest.State.POSTED,
                    ApprovalRequest.State.REJECTED,
                    ApprovalRequest.State.WITHDRAWN,
                    ApprovalRequest.State.POST_FAILED,
                ]
            )
        )
        .exclude(decided_at=None)
        .order_by("-decided_at", "-id")[:limit]
    )


def approval_request_get(*, pk: int) -> ApprovalRequest:
    """One request with its decisions and comments (raises DoesNotExist)."""
    return (
        _with_people(ApprovalRequest.objects.all())
        .prefetch_related("decisions__approver", "comments__author")
        .get(pk=pk)
    )


def requests_for_record(*, kind: str, key: str) -> QuerySet[ApprovalRequest]:
    """Every request for a record, newest first (its approval history)."""
    return _with_people(ApprovalRequest.objects.filter(kind=kind, key=str(key))).order_by(
        "-submitted_at", "-id"
    )
