"""Pytest fixtures for tests that talk to the sandbox over real HTTP.

Load with ``pytest_plugins = ["dualentry_api.sandbox.pytest_plugin"]`` in the root conftest.

- ``sandbox`` (session): a :class:`SandboxHandle` for a sandbox serving a fresh in-memory seed
  on a free port, started once per test session (``DUALENTRY_SANDBOX_RECORDS_PER_KIND`` sizes
  the seed, as for ``run_sandbox``). State carries over between tests; call
  ``sandbox.reset()`` (a few ms) when a test needs the seed back.
- ``sandbox.outside``: :class:`OutsideChanges`, records created, edited, posted, archived and
  deleted the way DualEntry's own app would, bypassing nothing but the portal (for the sync's
  "changed upstream" tests). ``OutsideChanges(url)`` works against ``make run``'s sandbox too,
  except for PUT edits, which build their body from the in-process store.
- ``sandbox_settings`` (function): points ``settings.DUALENTRY_API_URL``/``DUALENTRY_API_KEY``
  at the sandbox, clears faults and the request log, and clears Django's cache (the reference
  cache and the client's shared rate budget live there). Returns the handle.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from dualentry_api import spec
from dualentry_api.sandbox.app import OUTSIDE_API_KEY
from dualentry_api.sandbox.faults import Faults
from dualentry_api.sandbox.projection import project
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

    @property
    def outside(self) -> OutsideChanges:
        """Change records as DualEntry's own app would (see :class:`OutsideChanges`)."""
        return OutsideChanges(self.url, store=self.app.store)

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


class OutsideChanges:
    """Records changed "from outside" the portal, the way DualEntry's own app would.

    Creates and edits go over real HTTP through the sandbox's public API, with the API key that
    stands for DualEntry's own app (``OUTSIDE_API_KEY``): the same validation, numbering and
    ``updated_at`` as any write, and rate limits of their own (they do not spend the portal's).
    What API v2 cannot do, the sandbox-only controls stand in for: deleting a record
    ("removed upstream") and editing a contract.

    ``collection`` is the API path segment: ``"customer-refunds"``, ``"contracts"``, ...
    """

    EDITABLE = ("customer-refunds", "customer-deposits", "customer-credits")

    def __init__(self, url: str, *, store: Any = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.store = store
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["X-API-KEY"] = OUTSIDE_API_KEY

    def _answer(self, response: requests.Response) -> dict:
        if response.status_code >= 400:
            raise AssertionError(
                f"The sandbox refused the outside change ({response.status_code}): "
                f"{response.text[:500]}"
            )
        return response.json()

    def get(self, collection: str, key: Any) -> dict:
        url = f"{self.url}/public/v2/{collection}/{key}/"
        return self._answer(self.session.get(url, timeout=self.timeout))

    def create(self, collection: str, body: dict) -> dict:
        """POST a new record (give ``record_status``: without it DualEntry posts it)."""
        url = f"{self.url}/public/v2/{collection}/"
        return self._answer(self.session.post(url, json=body, timeout=self.timeout))

    def edit(self, collection: str, key: Any, **changes: Any) -> dict:
        """Change fields of a record and save it whole, as DualEntry's app does.

        Refunds, deposits and credits are PUT through the API: the body is the stored record
        projected onto the spec's PUT schema, with ``changes`` on top. Contracts (API v2 has no
        update) are changed through the sandbox-only ``PATCH /__sandbox__/records/...``.
        """
        if collection not in self.EDITABLE:
            url = f"{self.url}/__sandbox__/records/{collection}/{key}/"
            return self._answer(self.session.patch(url, json=changes, timeout=self.timeout))
        path = f"/public/v2/{collection}/{key}/"
        body = {**project(spec.request_schema("PUT", path), self._stored(collection, key))}
        body.update(changes)
        return self._answer(self.session.put(self.url + path, json=body, timeout=self.timeout))

    def post(self, collection: str, key: Any) -> dict:
        """Post a draft to the ledger."""
        return self.edit(collection, key, **self._status(collection, "posted"))

    def archive(self, collection: str, key: Any) -> dict:
        return self.edit(collection, key, **self._status(collection, "archived"))

    def delete(self, collection: str, key: Any) -> None:
        """Remove the record, as if deleted upstream (sandbox-only: API v2 has no DELETE)."""
        url = f"{self.url}/__sandbox__/records/{collection}/{key}/"
        self._answer(self.session.delete(url, timeout=self.timeout))

    @staticmethod
    def _status(collection: str, status: str) -> dict:
        if collection != "contracts":
            return {"record_status": status}
        # A contract's own status, and the record status the sandbox derives from it.
        return {"status": status, "record_status": "archived" if status == "archived" else "posted"}

    def _stored(self, collection: str, key: Any) -> dict:
        # The stored record holds the input fields a GET leaves out (a deposit's line amounts).
        if self.store is None:
            raise ValueError("Editing through the API needs the sandbox's store (in-process).")
        with self.store.lock:
            record = self.store.get(collection, key)
        if record is None:
            raise AssertionError(f"No {collection} record {key} in the sandbox.")
        return record


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
