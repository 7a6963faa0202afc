"""Fixtures for the read-model tests: a sandbox back at its seed, and an "outside" client that
changes records the way DualEntry's own app would (through the API, not through the portal)."""

from __future__ import annotations

import copy
import io

import pytest
from django.core.management import call_command

from dualentry_api.client import DualEntryClient

REFUNDS_PATH = "/public/v2/customer-refunds/"


@pytest.fixture
def fresh_sandbox(sandbox_settings):
    sandbox_settings.reset()
    return sandbox_settings


@pytest.fixture
def outside(fresh_sandbox):
    """A client of its own, as another DualEntry user would change records."""
    client = DualEntryClient(fresh_sandbox.url, fresh_sandbox.api_key)
    yield client
    client.close()


def grow_refunds(sandbox, total: int) -> None:
    """Fill the sandbox with copies of its refunds until it holds `total` of them."""
    store = sandbox.store
    refunds = store.collection("customer-refunds")
    templates = list(refunds.values())
    copies = []
    with store.lock:
        for index in range(total - len(refunds)):
            record = copy.deepcopy(templates[index % len(templates)])
            record["number"] = store.next_number("customer-refunds")
            record["internal_id"] = store.next_id()
            copies.append(record)
    store.save_many("customer-refunds", copies)


def remove_upstream(sandbox, collection: str, key: int) -> None:
    """API v2 has no DELETE for these records: take one out of the sandbox's store directly."""
    store = sandbox.store
    with store.lock:
        del store.collection(collection)[key]
        store.invalidate(collection, key)


def sync_now(**options) -> str:
    """`manage.py sync_now` in the foreground; what it printed."""
    output = io.StringIO()
    call_command("sync_now", stdout=output, **options)
    return output.getvalue()
