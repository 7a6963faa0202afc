import datetime

import pytest
from django.db import connection
from django.utils import timezone

from portal.audit.anchor import configured_key, event_mac
from portal.audit.models import GENESIS_HASH, AuditEvent


@pytest.fixture
def checkpoint_path(audit_checkpoint_path):
    """This test's own checkpoint file (every test has one: `portal.pytest_plugin`)."""
    return audit_checkpoint_path


def tamper(sql: str, params: list) -> None:
    """Change the table behind the portal's back, as someone with database access could.
    On PostgreSQL that takes a superuser switching triggers off for the session."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


def append_events(count: int, **fields) -> list[AuditEvent]:
    """Bulk-append `count` valid chained, sealed events quickly (tests need thousands; the
    service takes a lock and two queries per event). Continues the existing chain; writes no
    checkpoint (`portal.audit.services.checkpoint_head` does)."""
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    sequence, prev_hash = head if head else (0, GENESIS_HASH)
    start = timezone.now() - datetime.timedelta(seconds=count)
    events = []
    for offset in range(count):
        sequence += 1
        values = {
            "action": "record_updated",
            "actor_username": "preparer",
            "kind": "refunds",
            "key": str(1000 + sequence),
            "summary": f"Updated customer refund {1000 + sequence}",
            **fields,
        }
        event = AuditEvent(
            sequence=sequence,
            occurred_at=start + datetime.timedelta(seconds=offset),
            prev_hash=prev_hash,
            **values,
        )
        event.hash = event.compute_hash()
        event.mac = event_mac(event.hash, key=configured_key())
        prev_hash = event.hash
        events.append(event)
    AuditEvent.objects.bulk_create(events, batch_size=1000)
    return events


@pytest.fixture
def plain_user(db):
    """A signed-in account with no role at all."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username="nobody", password="demo")
