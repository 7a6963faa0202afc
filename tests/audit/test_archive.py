"""Issue 18 item 5: the audit log and its checkpoints exported for archiving, and an offline
check that verifies an archive and notices when it was tampered with."""

import hashlib
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from portal.audit import actions
from portal.audit.archive import CHECKPOINTS_FILE, EVENTS_FILE, MANIFEST_FILE
from portal.audit.models import AuditEvent, content_hash
from portal.audit.services import audit_record
from tests.audit.conftest import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive(tmp_path, preparer, django_capture_on_commit_callbacks, capsys) -> Path:
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(1, 31):
            audit_record(
                actor=preparer,
                action=actions.RECORD_UPDATED,
                kind="refunds",
                key=str(n),
                before={"memo": "old", "amount": "1.10"},
                after={"memo": f"new {n} \u2013 “quoted”", "amount": "2.20"},
            )
    directory = tmp_path / "archive-2026-12"
    call_command("export_audit_archive", output=directory)
    output = capsys.readouterr().out
    assert f"Exported 30 events (to event 30) and 30 checkpoints to {directory}." in output
    assert "The archive verifies." in output
    return directory


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _reseal_manifest_digests(directory: Path) -> None:
    """What a forger without the key can redo: the manifest's file digests."""
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    for name in (EVENTS_FILE, CHECKPOINTS_FILE):
        manifest["files"][name]["sha256"] = hashlib.sha256(
            (directory / name).read_bytes()
        ).hexdigest()
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))


def _verify_failure(directory: Path, **options) -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_archive", str(directory), **options)
    return str(failure.value)


def test_archive_holds_every_event_its_checkpoints_and_a_signed_manifest(archive):
    events = [json.loads(line) for line in _lines(archive / EVENTS_FILE)]
    stored = AuditEvent.objects.order_by("sequence")
    assert [(e["content"]["sequence"], e["hash"], e["mac"]) for e in events] == [
        (event.sequence, event.hash, event.mac) for event in stored
    ]
    assert all(content_hash(e["content"]) == e["hash"] for e in events)
    assert len(_lines(archive / CHECKPOINTS_FILE)) == 30
    manifest = json.loads((archive / MANIFEST_FILE).read_text())
    assert (manifest["events"], manifest["last_sequence"]) == (30, 30)
    assert manifest["head_hash"] == stored.last().hash
    assert len(manifest["mac"]) == 64
    assert "audit-hmac-key" not in (archive / MANIFEST_FILE).read_text()  # the key stays out


def test_intact_archive_verifies_offline(archive, capsys, django_assert_num_queries):
    with django_assert_num_queries(0):  # the database is not consulted
        call_command("verify_audit_archive", str(archive))
    assert "Archive intact: 30 events verified (hashes, checkpoints and MACs)" in (
        capsys.readouterr().out
    )


def test_edited_event_in_the_archive_is_detected(archive):
    lines = _lines(archive / EVENTS_FILE)
    lines[20] = lines[20].replace("new 21", "new 99")
    (archive / EVENTS_FILE).write_text("".join(lines), encoding="utf-8")
    message = _verify_failure(archive)
    assert "events.jsonl does not match the manifest's SHA-256: changed after export." in message
    assert "Chain broken at event 21: the stored hash does not match" in message


def test_archive_recomputed_without_the_key_is_detected(archive):
    lines = [json.loads(line) for line in _lines(archive / EVENTS_FILE)]
    prev_hash = lines[19]["hash"]
    for line in lines[20:]:
        line["content"]["summary"] = "rewritten"
        line["content"]["prev_hash"] = prev_hash
        line["hash"] = prev_hash = content_hash(line["content"])
    (archive / EVENTS_FILE).write_text("".join(json.dumps(line) + "\n" for line in lines))
    _reseal_manifest_digests(archive)
    message = _verify_failure(archive)
    assert "Manifest MAC mismatch" in message
    assert "Chain recomputed without the key: MAC mismatch at event 21; 9 later" in message
    # Without the key the checkpoints still disagree with the rewritten events.
    without_key = _verify_failure(archive, without_key=True)
    assert "Chain rewritten: checkpoint #21 says event 21 has hash " in without_key


def test_truncated_archive_is_detected(archive):
    (archive / EVENTS_FILE).write_text("".join(_lines(archive / EVENTS_FILE)[:20]))
    _reseal_manifest_digests(archive)
    message = _verify_failure(archive)
    assert "Tail truncated: checkpoint #30 says event 30 with hash " in message
    assert "Archive truncated or extended: the manifest says 30 events ending at event 30" in (
        message
    )


def test_archive_checked_with_another_key_file_says_so(archive, tmp_path):
    key_file = tmp_path / "other.key"
    key_file.write_text("another-key-of-at-least-32-characters-0000\n")
    message = _verify_failure(archive, key_file=key_file)
    assert "Manifest MAC mismatch" in message and "signed with another key" in message
    assert "MAC mismatch at event 1; 29 later event(s) fail too" in message


def test_archive_checked_with_the_right_key_file(archive, tmp_path, settings, capsys):
    key_file = tmp_path / "audit.key"
    key_file.write_text(settings.AUDIT_HMAC_KEY + "\n")
    call_command("verify_audit_archive", str(archive), key_file=key_file)
    assert "Archive intact: 30 events" in capsys.readouterr().out


def test_export_refuses_a_directory_that_is_not_empty(archive):
    with pytest.raises(CommandError, match="exists and is not an empty directory"):
        call_command("export_audit_archive", output=archive)


def test_export_of_a_log_cut_short_is_written_but_reported(archive, tmp_path):
    tamper("DELETE FROM audit_auditevent WHERE sequence > %s", [25])
    with pytest.raises(CommandError) as failure:
        call_command("export_audit_archive", output=tmp_path / "second")
    assert "When exported, the log in the database did not verify: Tail truncated: " in str(
        failure.value
    )
    # The archive keeps the evidence, and says so again when checked later.
    message = _verify_failure(tmp_path / "second")
    assert "checkpoint #30 says event 30" in message


def test_not_an_archive(tmp_path):
    with pytest.raises(CommandError, match=r"has no manifest\.json"):
        call_command("verify_audit_archive", str(tmp_path))
