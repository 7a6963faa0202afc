"""Shared fixtures: the personas of the portal (like healthchecks' alice/bob/charlie).

viewer (Viewer), preparer (Preparer), approver and approver2 (Approver), admin_user (superuser).
All have the password "demo", as `seed_demo` gives them.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from dualentry_api.client import get_client
from portal.roles import APPROVER, PREPARER, VIEWER, sync_role_groups
from tests.upstream import Intercept, InterceptingTransport

# `sandbox` (session) and `sandbox_settings` fixtures: a local DualEntry over real HTTP.
pytest_plugins = ["dualentry_api.sandbox.pytest_plugin"]

PASSWORD = "demo"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _make_user(username: str, role: str | None, *, first_name: str, last_name: str):
    sync_role_groups()
    user = get_user_model().objects.create_user(
        username=username,
        password=PASSWORD,
        email=f"{username}@example.com",
        first_name=first_name,
        last_name=last_name,
    )
    if role is None:
        user.is_superuser = user.is_staff = True
        user.save()
    else:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer(db):
    return _make_user("viewer", VIEWER, first_name="Vera", last_name="Viewer")


@pytest.fixture
def preparer(db):
    return _make_user("preparer", PREPARER, first_name="Priya", last_name="Preparer")


@pytest.fixture
def approver(db):
    return _make_user("approver", APPROVER, first_name="Alex", last_name="Approver")


@pytest.fixture
def approver2(db):
    return _make_user("approver2", APPROVER, first_name="Amara", last_name="Second")


@pytest.fixture
def admin_user(db):
    return _make_user("admin", None, first_name="Ada", last_name="Admin")


@pytest.fixture
def login_as():
    """A test client logged in as the given user: `login_as(preparer).get(...)`."""

    def _login_as(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return _login_as


@pytest.fixture
def intercept_upstream(monkeypatch):
    """Route this thread's DualEntry calls through ``intercept(method, template, send)``.

    See ``tests/upstream.py``. The view code under test runs in the test's thread (Django's
    test client), so it meets the same client and therefore the intercepted transport.
    """

    def _install(intercept: Intercept) -> None:
        client = get_client()
        monkeypatch.setattr(client, "transport", InterceptingTransport(client.transport, intercept))

    return _install


@pytest.fixture
def fill_copy(sandbox_settings, sandbox, monkeypatch):
    """`fill_copy()`: copy the sandbox into the read model now (a full pass of every kind and
    the reference lists), as the worker would; the pacing's waits are skipped."""
    from portal.readmodel import sync

    monkeypatch.setattr(sync, "pacer_sleep", lambda seconds: None)
    return lambda: sync.sync_all_now(full=True)


@pytest.fixture
def filled(sandbox, fill_copy):
    """The sandbox at its seed, copied into the read model (lists, drafts, the dashboard and
    exports read it); the sandbox's request log cleared, so a test can assert 0 calls."""
    sandbox.reset()
    fill_copy()
    sandbox.clear_log()
    return sandbox
