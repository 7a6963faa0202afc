"""/health/ stays cheap; /health/ready/ says whether this instance may take traffic."""

from __future__ import annotations

import time

import pytest
from django.db import OperationalError, connection
from django.db.migrations.executor import MigrationExecutor

from portal.heartbeat import worker_heartbeat_age, worker_heartbeat_record
from portal.ops import health

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()


def test_liveness_answers_without_logging_in(client, db):
    answer = client.get("/health/")
    assert answer.status_code == 200
    assert answer.json()["portal"] == "ok"


def test_ready_when_database_cache_and_migrations_are_fine(client, db):
    answer = client.get("/health/ready/")
    assert answer.status_code == 200
    report = answer.json()
    assert (report["ready"], report["database"], report["cache"], report["migrations"]) == (
        True,
        "ok",
        "ok",
        "ok",
    )
    assert report["worker"] == {"status": "missing"}


def test_not_ready_when_the_cache_is_unreachable(client, db, settings):
    settings.CACHES = UNREACHABLE_REDIS
    answer = client.get("/health/ready/")
    assert answer.status_code == 503
    assert answer.json()["cache"] == "unavailable"
    assert answer.json()["ready"] is False
    assert answer.json()["worker"] == {"status": "unknown"}


def test_not_ready_when_the_database_is_unreachable(client, db, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(connection, "cursor", refuse)
        answer = client.get("/health/ready/")
    assert answer.status_code == 503
    assert answer.json()["database"] == "unavailable"
    assert answer.json()["migrations"] == "unknown"


def test_not_ready_while_migrations_are_missing(client, db, monkeypatch):
    monkeypatch.setattr(health, "_migrations_complete", False)
    monkeypatch.setattr(
        MigrationExecutor, "migration_plan", lambda self, targets: [("portal.0099_new", False)]
    )
    answer = client.get("/health/ready/")
    assert answer.status_code == 503
    assert answer.json()["migrations"] == "pending"


def test_migrations_are_checked_against_the_real_graph(db, monkeypatch):
    monkeypatch.setattr(health, "_migrations_complete", False)
    assert health.check_migrations() == "ok"


def test_worker_heartbeat_reported_fresh_then_stale(client, db, settings):
    settings.WORKER_HEARTBEAT_STALE_AFTER = 60
    worker_heartbeat_record(worker="host:41")
    worker = client.get("/health/ready/").json()["worker"]
    assert worker["status"] == "ok"
    assert worker["worker"] == "host:41"
    assert worker["seconds_since_heartbeat"] < 5

    worker_heartbeat_record(worker="host:41", now=time.time() - 300)
    answer = client.get("/health/ready/")
    assert answer.json()["worker"]["status"] == "stale"
    # A stale worker leaves pages answering from what they have: still ready.
    assert answer.status_code == 200


def test_heartbeat_age_counts_from_the_last_beat():
    worker_heartbeat_record(worker="w", now=1000.0)
    assert worker_heartbeat_age(now=1012.5) == ("w", 12.5)


def test_probes_are_exempt_from_the_https_redirect(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/health/").status_code == 200
    assert client.get("/health/ready/").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/accounts/login/").status_code == 301
