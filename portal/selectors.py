"""Reads for the core pages (dashboard, health)."""

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def dualentry_status() -> str:
    """'ok', or a short reason the DualEntry API cannot be reached right now."""
    if not settings.DUALENTRY_API_URL or not settings.DUALENTRY_API_KEY:
        return "not configured"
    from dualentry_api.client import get_client

    from dualentry_api.errors import DualEntryError

    try:
        get_client().health()
    except DualEntryError as err:
        logger.info("health: DualEntry check failed: %s", err.user_message)
        return err.user_message
    return "ok"


def dashboard_context(*, user) -> dict:
    return {}
