"""Issue 16 item 6: a cut tail and a recomputed chain are detected, and the report names the
guarantee that failed."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from portal.audit import actions
from portal.audit.anchor import checkpoint_sign, event_mac
from portal.audit.models import AuditEvent
from portal.audit.selectors import audit_log_verify, chain_verify
from portal.audit.services import audit_record
from tests.audit.conftest import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_of_30(preparer, django_capture_on_commit_callbacks) -> list[AuditEvent]:
    """30 events written by the service, each anchored by its checkpoint after commit."""
    with django_capture_on_commit_callbacks(execute=True):
        return [
            audit_record(actor=preparer, action=actions.RECORD_UPDATED, key=str(n), summary=f"#{n}")
            for n in range(1, 31)
        ]


def _verify_failure() -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_log")
    return str(failure.value)


def _recompute_plain_hashes_from(sequence: int, *, summary: str) -> None:
    """What someone with database access but without the key can do: change an event and
    recompute every later hash with the plain SHA-256 (copying the old MACs along)."""
    events = list(AuditEvent.objects.filter(sequence__gte=sequence).order_by("sequence"))
    prev_hash = AuditEvent.objects.get(sequence=sequence - 1).hash
    for event in events:
        if event.sequence == sequence:
            event.summary = summary
        event.prev_hash = prev_hash
        new_hash = event.compute_hash()
        tamper(
            "UPDATE audit_auditevent SET summary = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [event.summary, prev_hash, new_hash, event.pk],
        )
        prev_hash = new_hash


def test_intact_log_passes_with_its_latest_checkpoint(log_of_30, checkpoint_path, capsys):
    assert len(checkpoint_path.read_text().splitlines()) == 30
    call_command("verify_audit_log")
    output = capsys.readouterr().out
    assert "Audit log intact: 30 events verified" in output
    assert "MACs valid; anchored by checkpoint #30 (event 30, written " in output


def test_deleting_the_last_ten_events_is_a_truncated_tail(log_of_30):
    last = log_of_30[-1]
    tamper("DELETE FROM audit_auditevent WHERE sequence > %s", [20])
    assert chain_verify().ok  # the plain chain alone cannot see it
    message = _verify_failure()
    assert (
        f"Tail truncated: checkpoint #30 says event 30 with hash {last.hash} "
        f"(written {json.loads(_line(30))['written_at']}), the log ends at 20." in message
    )


def _line(number: int) -> str:
    return settings.AUDIT_CHECKPOINT_PATH.read_text().splitlines()[number - 1]


def test_editing_event_21_and_recomputing_the_plain_hashes_is_a_mac_mismatch(log_of_30):
    _recompute_plain_hashes_from(21, summary="nothing to see here")
    assert chain_verify().ok  # the forgery is a valid plain chain
    message = _verify_failure()
    event_21 = AuditEvent.objects.get(sequence=21)
    assert (
        f"Chain recomputed without the key: MAC mismatch at event id {event_21.pk} "
        "(sequence 21); 9 later event(s) fail too." in message
    )
    assert "Chain rewritten: checkpoint #21 says event 21 has hash " in message
    assert "Chain broken" not in message


def test_forger_who_also_fakes_the_macs_with_another_key_is_still_detected(log_of_30):
    _recompute_plain_hashes_from(21, summary="forged")
    for event in AuditEvent.objects.filter(sequence__gte=21):
        tamper(
            "UPDATE audit_auditevent SET mac = %s WHERE id = %s",
            [event_mac(event.hash, key=b"a-guess-at-the-key"), event.pk],
        )
    assert "MAC mismatch at event id" in _verify_failure()


def test_tail_cut_and_grown_again_disagrees_with_the_old_checkpoints(
    log_of_30, preparer, django_capture_on_commit_callbacks
):
    tamper("DELETE FROM audit_auditevent WHERE sequence > %s", [25])
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(5):
            audit_record(actor=preparer, action=actions.RECORD_UPDATED, key=f"new-{n}")
    # Events 26-30 now exist again, properly sealed by the portal, but they are new events.
    message = _verify_failure()
    assert "Chain rewritten: checkpoint #26 says event 26 has hash " in message
    assert "MAC mismatch" not in message


def test_edited_row_is_named_as_a_broken_chain(log_of_30):
    tamper("UPDATE audit_auditevent SET summary = 'harmless' WHERE sequence = %s", [21])
    message = _verify_failure()
    assert "Chain broken at event id" in message and "(sequence 21)" in message
    assert "The 20 event(s) before it are intact." in message


def test_missing_checkpoint_file_is_reported_not_taken_as_intact(log_of_30, checkpoint_path):
    checkpoint_path.unlink()
    message = _verify_failure()
    assert f"No checkpoint file at {checkpoint_path}: a truncated tail" in message


def test_empty_log_without_a_checkpoint_file_is_intact(capsys):
    call_command("verify_audit_log")
    assert "Audit log intact: 0 events verified" in capsys.readouterr().out


def test_checkpoint_forged_without_the_key_is_refused(log_of_30, checkpoint_path):
    forged = checkpoint_sign(sequence=31, event_hash="f" * 64, key=b"not-the-key", now=_now())
    with open(checkpoint_path, "a") as checkpoints:
        checkpoints.write(forged.to_line())
        checkpoints.write("garbage\n")
    message = _verify_failure()
    assert "Checkpoint MAC mismatch at #31 (key id " in message
    assert "Checkpoint file damaged: line 32 (it is not JSON) is not a checkpoint." in message
    assert "Tail truncated" not in message  # a forged checkpoint is not believed


def _now():
    from django.utils import timezone

    return timezone.now()


def test_rolled_back_event_writes_no_checkpoint(
    preparer, checkpoint_path, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        audit_record(actor=preparer, action=actions.RECORD_CREATED)
        raise RuntimeError("the action failed after its event")
    assert callbacks == []
    assert not checkpoint_path.exists()


def test_unwritable_checkpoint_file_does_not_fail_the_action(
    preparer, checkpoint_path, django_capture_on_commit_callbacks, caplog
):
    checkpoint_path.mkdir(parents=True)  # a directory where the file should be
    with django_capture_on_commit_callbacks(execute=True):
        event = audit_record(actor=preparer, action=actions.RECORD_CREATED)
    assert AuditEvent.objects.get() == event
    assert f"Audit checkpoint for event 1 not written to {checkpoint_path}" in caplog.text


def test_events_after_the_latest_checkpoint_are_a_note_until_checkpointed(
    log_of_30, preparer, capsys
):
    audit_record(actor=preparer, action=actions.RECORD_CREATED)  # commit never runs here
    verification = audit_log_verify()
    assert verification.ok
    assert verification.notes == [
        "Events 31 to 31 are newer than the latest checkpoint (#30); they are sealed by their "
        "MACs, and the next append or checkpoint_audit_log anchors them."
    ]
    call_command("checkpoint_audit_log")
    assert "event 31" in capsys.readouterr().out
    assert audit_log_verify().notes == []


def test_checkpoint_command_on_an_empty_log(capsys, checkpoint_path):
    call_command("checkpoint_audit_log")
    assert "empty" in capsys.readouterr().out
    assert not checkpoint_path.exists()


def _settings_error(**env: str) -> str:
    script = "import django; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    return result.stderr


def test_production_refuses_to_start_without_the_key():
    error = _settings_error(DJANGO_DEBUG="off", AUDIT_HMAC_KEY="")
    assert "AUDIT_HMAC_KEY must be set when DJANGO_DEBUG is off" in error


def test_short_key_or_the_secret_key_is_refused():
    assert "at least 32 characters" in _settings_error(AUDIT_HMAC_KEY="short")
    same = "x" * 40
    error = _settings_error(AUDIT_HMAC_KEY=same, DJANGO_SECRET_KEY=same)
    assert "differ from DJANGO_SECRET_KEY" in error


def test_deploy_check_refuses_a_checkpoint_file_that_cannot_be_written(settings, tmp_path):
    from portal.audit.checks import checkpoint_file_writable

    settings.AUDIT_CHECKPOINT_PATH = tmp_path / "new-dir" / "checkpoints.jsonl"
    assert checkpoint_file_writable(None) == []  # created on the first append
    settings.AUDIT_CHECKPOINT_PATH = tmp_path  # a directory, not a file
    errors = checkpoint_file_writable(None)
    assert [error.id for error in errors] == ["audit.E001"]
    assert f"The audit checkpoint file {tmp_path} cannot be written" in errors[0].msg


@pytest.mark.django_db(transaction=True)
def test_migration_seals_the_events_written_before_macs_existed(checkpoint_path):
    """Upgrading a portal whose log predates MACs: existing events get theirs (on PostgreSQL
    past the append-only trigger), and the log verifies once checkpointed."""
    from django.db.migrations.executor import MigrationExecutor

    before, latest = ("audit", "0002_append_only_trigger"), ("audit", "0004_login_failure_burst")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old_event = executor.loader.project_state([before]).apps.get_model("audit", "AuditEvent")
    prev_hash = "0" * 64
    for sequence in (1, 2, 3):
        fields = {
            "sequence": sequence,
            "occurred_at": _now(),
            "action": actions.RECORD_CREATED,
            "key": str(sequence),
            "prev_hash": prev_hash,
        }
        prev_hash = AuditEvent(**fields).compute_hash()
        old_event.objects.create(**fields, hash=prev_hash)

    executor = MigrationExecutor(connection)
    executor.migrate([latest])
    call_command("checkpoint_audit_log")
    verification = audit_log_verify()
    assert (verification.ok, verification.events) == (True, 3), verification.failures
    if connection.vendor == "postgresql":  # the trigger is back on
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM audit_auditevent WHERE sequence = 1")
