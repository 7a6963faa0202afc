"""Loaded by pytest before Django is set up (see `addopts` in pyproject.toml).

Tests run with DEBUG off, as production does; they need a secret key and plain static storage
(the manifest storage needs `collectstatic`). Real deployments set these in the environment.
"""

import os
import tempfile

import pytest

os.environ.setdefault("DJANGO_SECRET_KEY", "insecure-key-for-tests-only")
if os.environ.get("DATABASE_URL", "sqlite").startswith("sqlite"):
    # A test database in a file rather than SQLite's shared-cache memory database: the live
    # server's threads then wait for each other's locks (settings' `timeout`) instead of
    # failing at once with "database table is locked" when two requests write together.
    os.environ.setdefault(
        "DJANGO_TEST_DB_NAME",
        os.path.join(tempfile.mkdtemp(prefix="portal-test-db-"), "test.sqlite3"),
    )
os.environ.setdefault("DJANGO_STATIC_MANIFEST", "off")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# The suite talks to a local sandbox; it must not be throttled like the real API key.
os.environ.setdefault("DUALENTRY_RATE_PER_SECOND", "10000")
os.environ.setdefault("DUALENTRY_RATE_BURST", "10000")
os.environ.setdefault("DUALENTRY_ROUTE_RATE_PER_SECOND", "10000")
os.environ.setdefault("DUALENTRY_ROUTE_RATE_BURST", "10000")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "off")
os.environ.setdefault("AUDIT_HMAC_KEY", "audit-hmac-key-for-tests-only-0123456789")
# Audit checkpoints stay out of the checkout; every test gets its own file (fixture below),
# since a checkpoint left by another test's database would read as a truncated log. Processes
# a test starts inherit this session-wide path unless the test passes its own.
os.environ.setdefault(
    "AUDIT_CHECKPOINT_PATH",
    os.path.join(tempfile.mkdtemp(prefix="portal-audit-"), "checkpoints.jsonl"),
)
# Tests talk plain HTTP to the test server; HTTPS redirects are tested on their own.
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "off")


@pytest.fixture(autouse=True)
def audit_checkpoint_path(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_PATH = tmp_path / "audit" / "checkpoints.jsonl"
    return settings.AUDIT_CHECKPOINT_PATH
