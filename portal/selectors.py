"""Reads for the core pages (dashboard, health)."""

import logging

from django.conf import settings
from django.core.cache import cache

from portal.permissions import APPROVE_RECORDS, VIEW_AUDIT_LOG

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


def dashboard_context(*, user, chart_currency: str = "") -> dict:
    """Everything the dashboard shows, from the portal's database and its copy of DualEntry
    (no upstream call: the copy says how old it is)."""
    from portal.approvals.selectors import waiting_for
    from portal.audit.selectors import recent_events
    from portal.readmodel.selectors import oldest_freshness
    from portal.records import dashboard
    from portal.records.models import Proposal

    credits, credits_url = dashboard.largest_open_credits()
    can_approve = user.has_perm(APPROVE_RECORDS)
    return {
        "freshness": oldest_freshness(),
        "my_drafts": dashboard.my_drafts(user=user),
        "my_proposals": list(
            Proposal.objects.filter(created_by=user, result_key="").order_by("-updated_at")[:20]
        ),
        "can_approve": can_approve,
        "waiting_for_me": list(waiting_for(user=user)[:10]) if can_approve else [],
        "recently_posted": dashboard.recently_posted(),
        "months": dashboard.month_comparison(),
        "open_credits": credits,
        "open_credits_url": credits_url,
        "chart": dashboard.posted_chart(currency=chart_currency),
        "recent_events": (recent_events(limit=10) if user.has_perm(VIEW_AUDIT_LOG) else []),
    }
