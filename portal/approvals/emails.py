"""E-mail notifications for approval transitions (Django's mail backend; console in
development, locmem in tests).

Called from `transaction.on_commit`, so a rolled-back transition sends nothing. A mail server
that is down must not undo a posting that already happened: sending errors are logged, not
raised.
"""

import logging
import smtplib

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import send_mass_mail
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse

from portal.approvals.models import ApprovalDecision, ApprovalRequest
from portal.approvals.selectors import authorship_of

logger = logging.getLogger(__name__)

EVENTS = ("submitted", "approved", "rejected", "withdrawn", "posted", "post_failed")


def approvers():
    """Active people who may approve (approver role, direct permission, or superuser)."""
    permission = Permission.objects.filter(
        content_type__app_label="portal", codename="approve_records"
    ).first()
    who = Q(is_superuser=True)
    if permission is not None:
        who |= Q(groups__permissions=permission) | Q(user_permissions=permission)
    return get_user_model().objects.filter(who, is_active=True).distinct()


def _may_approve(user, approval_request: ApprovalRequest, decided: set[int]) -> bool:
    """Work waiting for `user`: they have not decided it and did not prepare it."""
    return user.pk not in decided and not authorship_of(
        approval_request=approval_request, user=user
    )


def recipients(*, event: str, approval_request: ApprovalRequest, actor_id: int | None) -> list:
    """Who hears about `event`: approvers learn of work waiting for them (never the
    submitter nor anyone else who prepared it), the submitter and the approvers who approved
    learn of outcomes. The person acting is not told what they just did."""
    submitter = approval_request.submitted_by
    approved_by = [
        decision.approver
        for decision in approval_request.decisions.select_related("approver")
        if decision.decision == ApprovalDecision.Decision.APPROVE
    ]
    if event in ("submitted", "withdrawn"):
        decided = {decision.approver_id for decision in approval_request.decisions.all()}
        people = [
            user
            for user in approvers().exclude(pk=submitter.pk)
            if event == "withdrawn" or _may_approve(user, approval_request, decided)
        ]
    elif event == "approved":  # one of two approvals: the submitter, and who could give the second
        decided = {decision.approver_id for decision in approval_request.decisions.all()}
        people = [submitter] + [
            user
            for user in approvers().exclude(pk=submitter.pk)
            if _may_approve(user, approval_request, decided)
        ]
    else:  # rejected, posted, post_failed
        people = [submitter, *approved_by]
    unique = {}
    for person in people:
        if person.pk != actor_id and person.email and person.is_active:
            unique[person.pk] = person
    return list(unique.values())


def notify(*, event: str, approval_request_id: int, actor_id: int | None, base_url: str) -> int:
    """Send one message per recipient for `event`; returns how many were sent."""
    if event not in EVENTS:
        raise ValueError(f"Unknown approval e-mail event {event!r}.")
    approval_request = ApprovalRequest.objects.select_related("submitted_by").get(
        pk=approval_request_id
    )
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    people = recipients(event=event, approval_request=approval_request, actor_id=actor_id)
    if not people:
        return 0
    path = reverse("approvals:detail", kwargs={"pk": approval_request.pk})
    context = {
        "event": event,
        "approval_request": approval_request,
        "actor": actor,
        "actor_name": (actor.get_full_name() or actor.get_username()) if actor else "The portal",
        "decisions": list(approval_request.decisions.select_related("approver")),
        "url": base_url.rstrip("/") + path if base_url else path,
    }
    subject = " ".join(render_to_string("approvals/email/subject.txt", context).split())
    messages = []
    for person in people:
        body = render_to_string(f"approvals/email/{event}.txt", {**context, "recipient": person})
        messages.append((subject, body, None, [person.email]))
    try:
        return send_mass_mail(messages, fail_silently=False)
    except (smtplib.SMTPException, OSError):
        logger.exception(
            "approval request %s: could not send %s e-mails", approval_request.pk, event
        )
        return 0
