"""Fixtures shared by the records tests (helpers that are not fixtures live in edit_support)."""

import pytest

from tests.records.edit_support import spy_bodies


@pytest.fixture
def sent_bodies(sandbox, monkeypatch):
    """Every JSON body the sandbox receives during the test (see `spy_bodies`)."""
    return spy_bodies(sandbox, monkeypatch)
