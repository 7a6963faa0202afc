"""Which DualEntry account the read model's rows belong to."""

from __future__ import annotations

from django.conf import settings

from dualentry_api.ratelimit import key_fingerprint
from dualentry_api.resources import API_PREFIX


def account_fingerprint(base_url: str, api_key: str) -> str:
    """A fingerprint of the API's base URL and key: never the key itself.

    Rows of the read model carry it, so switching `DUALENTRY_API_URL` or the key shows an
    empty copy (filled by the next sync) rather than another account's records.
    """
    base = (base_url or "").strip().rstrip("/")
    if base.endswith(API_PREFIX):
        base = base[: -len(API_PREFIX)]
    return key_fingerprint(f"{base.lower()}\n{api_key or ''}")


def current_account() -> str:
    return account_fingerprint(settings.DUALENTRY_API_URL, settings.DUALENTRY_API_KEY)
