"""Reads for the core pages (dashboard, health)."""

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from portal.permissions import APPROVE_RECORDS, VIEW_AUDIT_LOG
from portal.records.selectors import DraftRow

logger = logging.getLogger(__name__)


DUALENTRY_STATUS_CACHE_KEY = "portal:dualentry-status"
# The health route has its own rate budget upstream (1 request/s per route); every dashboard
# view and load-balancer probe asking DualEntry would spend it, so the answer is shared briefly.
DUALENTRY_STATUS_TTL = 15


def dualentry_status() -> str:
    """'ok', or a short reason the DualEntry API cannot be reached right now."""
    if not settings.DUALENTRY_API_URL or not settings.DUALENTRY_API_KEY:
        return "not configured"
    status = cache.get(DUALENTRY_STATUS_CACHE_KEY)
    if status is None:
        status = _ask_dualentry()
        cache.set(DUALENTRY_STATUS_CACHE_KEY, status, DUALENTRY_STATUS_TTL)
    return status


def _ask_dualentry() -> str:
    from dualentry_api.client import get_client
    from dualentry_api.errors import DualEntryError

    try:
        get_client().health()
    except DualEntryError as err:
        logger.info("health: DualEntry check failed: %s", err.user_message)
        return err.user_message
    return "ok"


MY_DRAFTS_LOOKBACK = 500  # audit events scanned for records this person saved
MY_DRAFTS_PER_KIND = 100


@dataclass(frozen=True)
class MyDrafts:
    """Drafts this person created or saved through the portal that are still drafts upstream."""

    rows: list[DraftRow] = field(default_factory=list)
    error: str = ""  # DualEntry could not be asked (the sentence to show)


def my_drafts(*, user) -> MyDrafts:
    """The person's drafts, from the portal's audit log, checked against DualEntry.

    DualEntry's `created_by` names the API key's user for everything the portal saves, so it
    cannot tell people apart: the audit log can. One upstream call per kind with such records
    asks which of them are still drafts (drafts posted or archived since drop out).
    """
    from dualentry_api.errors import DualEntryError
    from portal.audit import actions
    from portal.audit.models import AuditEvent
    from portal.records.kinds import KINDS
    from portal.records.selectors import drafts_with_keys

    saved = (
        AuditEvent.objects.filter(
            actor_pk=user.pk,
            action__in=[actions.RECORD_CREATED, actions.RECORD_UPDATED],
            success=True,
            kind__in=[kind.slug for kind in KINDS.values() if kind.can_update],
        )
        .exclude(key="")
        .order_by("-sequence")
        .values_list("kind", "key")[:MY_DRAFTS_LOOKBACK]
    )
    keys: dict[str, list[str]] = {}
    for slug, key in saved:
        kind_keys = keys.setdefault(slug, [])
        if key not in kind_keys and len(kind_keys) < MY_DRAFTS_PER_KIND:
            kind_keys.append(key)
    if not keys:
        return MyDrafts()
    rows: list[DraftRow] = []
    try:
        for slug, kind_keys in keys.items():
            kind = KINDS[slug]
            order = {key: position for position, key in enumerate(kind_keys)}
            records = drafts_with_keys(kind=kind, keys=kind_keys)
            rows += [
                DraftRow(kind, record, kind.key_of(record), None)
                for record in sorted(records, key=lambda r: order.get(kind.key_of(r), 0))
            ]
    except DualEntryError as err:
        logger.warning("dashboard: checking drafts in DualEntry failed: %r %s", err, err)
        return MyDrafts(rows, err.user_message)
    return MyDrafts(rows)


def dashboard_context(*, user) -> dict:
    """Everything the dashboard shows; DualEntry failures become sentences, not errors."""
    from portal.approvals.selectors import waiting_for
    from portal.audit.selectors import recent_events
    from portal.records.models import Proposal

    connected = bool(settings.DUALENTRY_API_URL and settings.DUALENTRY_API_KEY)
    return {
        "my_drafts": my_drafts(user=user) if connected else MyDrafts(),
        "my_proposals": list(
            Proposal.objects.filter(created_by=user, result_key="").order_by("-updated_at")[:20]
        ),
        "can_approve": user.has_perm(APPROVE_RECORDS),
        "waiting_for_me": list(waiting_for(user=user)[:20]),
        "recent_events": (recent_events(limit=10) if user.has_perm(VIEW_AUDIT_LOG) else []),
        "dualentry_status": dualentry_status(),
        "dualentry_url": settings.DUALENTRY_API_URL,
    }
