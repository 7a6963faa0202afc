"""Pytest fixtures for tests that talk to the sandbox over real HTTP.

Load with ``pytest_plugins = ["dualentry_api.sandbox.pytest_plugin"]`` in the root conftest.

- ``sandbox`` (session): a :class:`SandboxHandle` for a sandbox serving a fresh in-memory seed
  on a free port, started once per test session (``DUALENTRY_SANDBOX_RECORDS_PER_KIND`` sizes
  the seed, as for ``run_sandbox``). State carries over between tests; call
  ``sandbox.reset()`` (a few ms) when a test needs the seed back.
- ``sandbox_settings`` (function): points ``settings.DUALENTRY_API_URL``/``DUALENTRY_API_KEY``
  at the sandbox, clears faults and the request log, and clears Django's cache (the reference
  cache and the client's shared rate budget live there). Returns the handle.
"""

from __future__ import annotations

from typing import Any

import pytest

from dualentry_api.sandbox.faults import Faults
from dualentry_api.sandbox.seed import seed_from_environment
from dualentry_api.sandbox.server import SandboxServer


class SandboxHandle:
    """What tests get: the running sandbox and its switches (in-process, no HTTP needed)."""

    def __init__(self, server: SandboxServer):
        self._server = server
        self.app = server.app

    @property
    def url(self) -> str:
        """Base URL for ``DUALENTRY_API_URL`` (the client adds ``/public/v2``)."""
        return self._server.url

    @property
    def api_key(self) -> str:
        return self.app.api_key

    @property
    def store(self):
        return self.app.store

    def reset(self) -> None:
        """Back to the seed data (faults and the request log are left alone)."""
        self.app.reset()

    def set_faults(self, **settings: Any) -> Faults:
        """Replace the faults, e.g. ``set_faults(status_for_path={"/public/v2/customers": 500})``.

        Settings: see :class:`dualentry_api.sandbox.faults.Faults`.
        """
        return self.app.set_faults(**settings)

    def clear_faults(self) -> None:
        self.app.clear_faults()

    @property
    def requests_log(self) -> list[dict]:
        """Requests received on ``/public/v2`` (method, path, query, status, request_id, ...)."""
        return self.app.requests()

    def request_count(self, path_prefix: str | None = None, method: str | None = None) -> int:
        """How many API requests arrived, optionally under a path prefix and/or for a method."""
        return len(self.app.requests(path_prefix, method))

    def clear_log(self) -> None:
        self.app.clear_log()


@pytest.fixture(scope="session")
def sandbox():
    server = SandboxServer(port=0, seed=seed_from_environment()).start()
    try:
        yield SandboxHandle(server)
    finally:
        server.stop()


@pytest.fixture
def sandbox_settings(sandbox, settings):
    from django.core.cache import cache

    settings.DUALENTRY_API_URL = sandbox.url
    settings.DUALENTRY_API_KEY = sandbox.api_key
    sandbox.clear_faults()
    sandbox.clear_log()
    cache.clear()
    yield sandbox
    sandbox.clear_faults()
    cache.clear()
