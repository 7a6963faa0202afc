"""Fixtures of the records tests: the read model filled from the sandbox."""

from __future__ import annotations

import pytest

from portal.readmodel import sync


@pytest.fixture
def fill_copy(sandbox_settings, sandbox, monkeypatch):
    """`fill_copy()`: copy the sandbox into the read model now (a full pass of every kind and
    the reference lists), as the worker would; the pacing's waits are skipped."""
    monkeypatch.setattr(sync, "pacer_sleep", lambda seconds: None)

    def fill(**options):
        return sync.sync_all_now(full=True, **options)

    return fill


@pytest.fixture
def filled(sandbox, fill_copy):
    """The sandbox at its seed, copied into the read model; the request log cleared."""
    sandbox.reset()
    fill_copy()
    sandbox.clear_log()
    return sandbox
