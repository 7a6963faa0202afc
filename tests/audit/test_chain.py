import json
import os
import subprocess
import sys
import threading

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from portal.audit import actions
from portal.audit.models import AuditEvent
from portal.audit.selectors import chain_verify
from portal.audit.services import audit_record
from tests.audit.conftest import append_events, tamper

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only"
)


@pytest.mark.django_db
def test_verify_reports_an_intact_chain(capsys, preparer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for action in (actions.RECORD_CREATED, actions.SUBMITTED, actions.APPROVED):
            audit_record(actor=preparer, action=action, kind="refunds", key="1")
    call_command("verify_audit_log")
    output = capsys.readouterr().out
    assert "Audit log intact: 3 events verified" in output
    assert "MACs valid; anchored by checkpoint #3 (event 3, written " in output


@pytest.mark.django_db
def test_verify_accepts_an_empty_log(capsys):
    call_command("verify_audit_log")
    assert "0 events verified" in capsys.readouterr().out


@pytest.mark.django_db
def test_edited_row_breaks_the_chain_and_is_named(preparer):
    events = [
        audit_record(actor=preparer, action=actions.RECORD_UPDATED, summary=f"change {n}")
        for n in range(5)
    ]
    tampered = events[2]
    tamper("UPDATE audit_auditevent SET summary = %s WHERE id = %s", ["harmless", tampered.pk])
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_log")
    message = str(failure.value)
    assert f"event id {tampered.pk} (sequence 3)" in message
    assert "hash does not match" in message
    assert failure.value.returncode != 0


@pytest.mark.django_db
def test_rehashed_row_still_breaks_the_next_link(preparer):
    events = [audit_record(actor=preparer, action=actions.RECORD_UPDATED) for _ in range(3)]
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.summary = "forged"
    tamper(
        "UPDATE audit_auditevent SET summary = %s, hash = %s WHERE id = %s",
        ["forged", forged.compute_hash(), forged.pk],
    )
    check = chain_verify()
    assert (check.ok, check.event_id) == (False, events[2].pk)
    assert "prev_hash" in check.reason


@pytest.mark.django_db
def test_deleted_row_shows_as_a_gap(preparer):
    events = [audit_record(actor=preparer, action=actions.RECORD_UPDATED) for _ in range(4)]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    check = chain_verify()
    assert (check.ok, check.event_id, check.checked) == (False, events[2].pk, 1)
    assert check.reason == "gap in the sequence: event 2 is missing"


@pytest.mark.django_db
def test_actor_swapped_to_someone_else_is_detected(preparer, approver):
    event = audit_record(actor=preparer, action=actions.APPROVED)
    tamper("UPDATE audit_auditevent SET actor_id = %s WHERE id = %s", [approver.pk, event.pk])
    check = chain_verify()
    assert not check.ok and "actor" in check.reason


def _assert_refused_by_trigger(sql: str, params: list) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


@on_postgresql
@pytest.mark.django_db
def test_postgresql_rejects_update(preparer):
    event = audit_record(actor=preparer, action=actions.RECORD_CREATED, summary="original")
    _assert_refused_by_trigger(
        "UPDATE audit_auditevent SET summary = 'rewritten' WHERE id = %s", [event.pk]
    )
    assert AuditEvent.objects.get().summary == "original"


@on_postgresql
@pytest.mark.django_db
def test_postgresql_rejects_delete(preparer):
    event = audit_record(actor=preparer, action=actions.RECORD_CREATED)
    _assert_refused_by_trigger("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.count() == 1


@on_postgresql
@pytest.mark.django_db
def test_postgresql_rejects_clearing_the_actor_together_with_another_change(preparer):
    event = audit_record(actor=preparer, action=actions.RECORD_CREATED)
    _assert_refused_by_trigger(
        "UPDATE audit_auditevent SET actor_id = NULL, summary = 'x' WHERE id = %s", [event.pk]
    )


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_postgresql_lets_test_databases_be_truncated(preparer):
    """pytest-django flushes transactional tests with TRUNCATE; the trigger must allow it."""
    audit_record(actor=preparer, action=actions.RECORD_CREATED)
    call_command("flush", interactive=False, verbosity=0)
    assert AuditEvent.objects.count() == 0


def _append_concurrently(threads: int, total: int, *, outer_transaction: bool = False) -> None:
    user = get_user_model().objects.create_user(username="writer")
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def append(count: int) -> None:
        try:
            start.wait()
            for n in range(count):
                if outer_transaction and n % 2:
                    # The caller's own transaction encloses the append (approvals do this).
                    with transaction.atomic():
                        audit_record(actor=user, action=actions.RECORD_UPDATED, key=str(n))
                else:
                    audit_record(actor=user, action=actions.RECORD_UPDATED, key=str(n))
        except BaseException as err:
            errors.append(err)
        finally:
            connection.close()

    shares = [total // threads + (1 if index < total % threads else 0) for index in range(threads)]
    workers = [threading.Thread(target=append, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_eight_threads_appending_500_events_leave_one_valid_chain():
    _append_concurrently(8, 500)
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, 501))
    check = chain_verify()
    assert (check.ok, check.checked) == (True, 500), check.reason


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's shared-cache test database refuses concurrent open write transactions",
)
@pytest.mark.django_db(transaction=True)
def test_appends_inside_callers_transactions_stay_serialised_on_postgresql():
    _append_concurrently(8, 400, outer_transaction=True)
    check = chain_verify()
    assert (check.ok, check.checked) == (True, 400), check.reason


@pytest.mark.django_db
def test_bulk_helper_builds_a_valid_chain():
    append_events(50)
    assert chain_verify().checked == 50


def test_processes_appending_to_one_sqlite_file_leave_one_valid_chain(tmp_path):
    """Several processes (runserver reloads, management commands) share a SQLite file: the
    append's BEGIN IMMEDIATE makes them queue on SQLite's write lock instead of failing."""
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        "AUDIT_CHECKPOINT_PATH": str(tmp_path / "checkpoints.jsonl"),
    }
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=120)
    script = (
        "from portal.audit.services import audit_record\n"
        "for n in range(50): audit_record(actor=None, action='record_created', key=str(n))\n"
    )
    writers = [
        subprocess.Popen([*manage, "shell", "-v0", "-c", script], env=env, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [writer.communicate(timeout=120)[1].decode() for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0, 0], errors
    verified = subprocess.run(
        [*manage, "verify_audit_log"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stderr
    assert "200 events verified" in verified.stdout
    assert "anchored by checkpoint" in verified.stdout
    # Four processes appended: one checkpoint per event, whatever order they landed in.
    lines = (tmp_path / "checkpoints.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["sequence"] for line in lines) == list(range(1, 201))
