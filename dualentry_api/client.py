"""The DualEntry Public API v2 client: the only place the portal speaks HTTP to DualEntry.

    from dualentry_api.client import get_client
    client = get_client()          # built from settings, one per thread
    page = client.customer_refunds.list(filters={"record_status": ["draft"]}, limit=50)
    refund = client.customer_refunds.get(1042)
    refund = client.customer_refunds.update(1042, {..., "record_status": "draft"})

The client is a facade: its resources (``dualentry_api.resources``) say what DualEntry offers,
its transport (``dualentry_api.transport``) carries each call (session, timeouts, retries, rate
budget, multipart; see there for the behaviour worth knowing). ``client.transport`` can be
swapped for any object with the same ``request()``; tests do that to meet a failing upstream.
"""

from __future__ import annotations

import threading
from typing import Any

from dualentry_api.errors import DualEntryError
from dualentry_api.ratelimit import RateBudget
from dualentry_api.records import CallInfo
from dualentry_api.resources import Resource, build_resources, description_for
from dualentry_api.transport import (
    API_PREFIX,
    UPLOAD_CHUNK_SIZE,
    HttpTransport,
    MultipartStream,
    Transport,
    user_agent,
)

__all__ = ["UPLOAD_CHUNK_SIZE", "DualEntryClient", "MultipartStream", "get_client", "user_agent"]


class DualEntryClient:
    """A client for one DualEntry API key. Not shared between threads (see ``get_client``).

    The positional and keyword options are :class:`HttpTransport`'s; pass ``transport=``
    instead to use another transport.
    """

    def __init__(
        self,
        base_url: str = "",
        api_key: str = "",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        *,
        transport: Transport | None = None,
        **transport_options: Any,
    ) -> None:
        if transport is None:
            transport = HttpTransport(
                base_url, api_key, connect_timeout, read_timeout, **transport_options
            )
        elif base_url or api_key or transport_options:
            raise TypeError("Pass either a transport or the options to build one, not both.")
        self.transport = transport

    @property
    def transport(self) -> Transport:
        return self._transport

    @transport.setter
    def transport(self, transport: Transport) -> None:
        # Resources hold the transport they send through: swapping it rebuilds them.
        self._transport = transport
        self._resources = build_resources(transport)
        for name, resource in self._resources.items():
            setattr(self, name, resource)

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def last_call(self) -> CallInfo | None:
        """The most recent HTTP attempt of this (per-thread) client, for audit and diagnostics."""
        return self._transport.last_call

    def __repr__(self) -> str:
        return f"<DualEntryClient {self.base_url}>"

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> DualEntryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def resource(self, name_or_path: str) -> Resource:
        """The resource object by API path (``"customer-refunds"``) or attribute name."""
        return self._resources[description_for(name_or_path).name]

    def health(self) -> dict[str, Any]:
        """GET /health/ (retried like any GET): DualEntry's status dict.

        Raises a DualEntryError subclass when DualEntry cannot be reached or refuses the key.
        """
        return self._transport.request("GET", f"{API_PREFIX}/health/").parse_object()


_local = threading.local()


def _settings_config() -> tuple:
    from django.conf import settings

    return (
        settings.DUALENTRY_API_URL,
        settings.DUALENTRY_API_KEY,
        float(getattr(settings, "DUALENTRY_CONNECT_TIMEOUT", 5.0)),
        float(getattr(settings, "DUALENTRY_READ_TIMEOUT", 30.0)),
        float(getattr(settings, "DUALENTRY_RATE_PER_SECOND", 5.0)),
        int(getattr(settings, "DUALENTRY_RATE_BURST", 50)),
        float(getattr(settings, "DUALENTRY_ROUTE_RATE_PER_SECOND", 1.0)),
        int(getattr(settings, "DUALENTRY_ROUTE_RATE_BURST", 10)),
        float(getattr(settings, "DUALENTRY_RATE_MAX_WAIT", 3.0)),
        *(
            getattr(settings, name, None)
            for name in (
                "DUALENTRY_WRITE_RESERVE",
                "DUALENTRY_INTERACTIVE_RESERVE",
                "DUALENTRY_SYNC_SHARE",
                "DUALENTRY_WRITE_MAX_WAIT",
                "DUALENTRY_SYNC_MAX_WAIT",
            )
        ),
    )


def get_client() -> DualEntryClient:
    """The calling thread's client, built from settings (rebuilt when they change)."""
    config = _settings_config()
    client = getattr(_local, "client", None)
    if client is not None and _local.config == config:
        return client
    if client is not None:
        client.close()
    url, api_key, connect_timeout, read_timeout = config[:4]
    if not url or not api_key:
        raise DualEntryError(
            "DUALENTRY_API_URL and DUALENTRY_API_KEY must both be set",
            user_message="The portal is not connected to DualEntry yet. Ask an administrator.",
        )
    client = DualEntryClient(
        url,
        api_key,
        connect_timeout,
        read_timeout,
        rate_budget=RateBudget.from_settings(api_key),
    )
    _local.client, _local.config = client, config
    return client
