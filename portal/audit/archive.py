"""Archiving the audit log, and checking an archive offline.

An archive is a directory of three files:

- `events.jsonl`: one event per line, `{"content": ..., "hash": ..., "mac": ...}`, where
  `content` is exactly what the event's hash covers (`AuditEvent.content()`), from event 1 to
  the head at the time of export;
- `checkpoints.jsonl`: the lines of the checkpoint file up to that head, byte for byte;
- `manifest.json`: format, time, event count, head sequence and hash, each file's size and
  SHA-256, the key id, the outcome of `verify_audit_log` on the database just before the
  export, and an HMAC of all that under AUDIT_HMAC_KEY.

`archive_verify` needs no database: it walks the chain from the file, checks the MACs when it
has the key, the checkpoints, the files against the manifest and the manifest against its MAC,
and names each guarantee that failed (`portal.audit.verification`).
"""

import datetime
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from portal.audit.anchor import (
    checkpoint_from_text,
    checkpoint_lines,
    configured_key,
    key_id,
    mac_matches,
)
from portal.audit.models import AuditEvent, content_hash
from portal.audit.selectors import audit_log_verify
from portal.audit.verification import Link, Verification, verify_chain

FORMAT = "dualentry-portal-audit-archive/1"
EVENTS_FILE = "events.jsonl"
CHECKPOINTS_FILE = "checkpoints.jsonl"
MANIFEST_FILE = "manifest.json"
_CHUNK = 1 << 16


class ArchiveError(Exception):
    """The archive cannot be written or read at all (not: it is tampered with)."""


@dataclass(frozen=True)
class ArchiveSummary:
    directory: Path
    events: int
    last_sequence: int
    head_hash: str
    checkpoints: int


def _canonical(value: dict) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _manifest_mac(manifest: dict, key: bytes) -> str:
    unsigned = {name: value for name, value in manifest.items() if name != "mac"}
    return hmac.new(key, _canonical(unsigned).encode("utf-8"), hashlib.sha256).hexdigest()


def archive_export(*, output: Path) -> ArchiveSummary:
    """Write an archive of the log as it stands now into `output` (a new or empty directory).
    Events appended while it runs belong to the next archive."""
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ArchiveError(f"{output} exists and is not an empty directory")
    output.mkdir(parents=True, exist_ok=True)
    # The archive copies checkpoints only up to its head, so it cannot see a live log cut
    # short; the live log is verified first and the outcome signed into the manifest.
    live = audit_log_verify()
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    last_sequence, head_hash = head if head else (0, "")

    events_digest, count = hashlib.sha256(), 0
    with open(output / EVENTS_FILE, "w", encoding="utf-8", newline="\n") as events_file:
        rows = (
            AuditEvent.objects.filter(sequence__lte=last_sequence)
            .order_by("sequence")
            .iterator(chunk_size=2000)
        )
        for event in rows:
            line = _canonical({"content": event.content(), "hash": event.hash, "mac": event.mac})
            data = line + "\n"
            events_file.write(data)
            events_digest.update(data.encode("utf-8"))
            count += 1

    source = Path(settings.AUDIT_CHECKPOINT_PATH)
    checkpoints_digest, checkpoints = hashlib.sha256(), 0
    with open(output / CHECKPOINTS_FILE, "wb") as checkpoints_file:
        for raw in _raw_lines(source):
            if _beyond(raw, last_sequence):
                continue
            checkpoints_file.write(raw)
            checkpoints_digest.update(raw)
            checkpoints += 1

    key = configured_key()
    manifest = {
        "format": FORMAT,
        "created_at": timezone.now().astimezone(datetime.UTC).isoformat(),
        "events": count,
        "last_sequence": last_sequence,
        "head_hash": head_hash,
        "checkpoint_source": str(source),
        "checkpoint_source_found": source.is_file(),
        "files": {
            EVENTS_FILE: {
                "sha256": events_digest.hexdigest(),
                "bytes": (output / EVENTS_FILE).stat().st_size,
            },
            CHECKPOINTS_FILE: {
                "sha256": checkpoints_digest.hexdigest(),
                "bytes": (output / CHECKPOINTS_FILE).stat().st_size,
            },
        },
        "key_id": key_id(key),
        "database_check": {"ok": live.ok, "events": live.events, "failures": live.failures},
    }
    manifest["mac"] = _manifest_mac(manifest, key)
    (output / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return ArchiveSummary(
        directory=output,
        events=count,
        last_sequence=last_sequence,
        head_hash=head_hash,
        checkpoints=checkpoints,
    )


def _raw_lines(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as lines:
            yield from lines
    except FileNotFoundError:
        return


def _beyond(raw: bytes, last_sequence: int) -> bool:
    """A valid checkpoint for an event after the exported head (kept for the next archive).
    Anything else, damaged lines included, is copied as it is."""
    try:
        return checkpoint_from_text(raw.decode("utf-8")).sequence > last_sequence
    except (UnicodeDecodeError, ValueError):
        return False


def archive_verify(*, directory: Path, key: bytes | None) -> Verification:
    """Check an exported archive without the database. Raises ArchiveError when `directory`
    holds no readable manifest."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArchiveError(f"{directory} has no {MANIFEST_FILE}: not an audit archive") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ArchiveError(f"{directory / MANIFEST_FILE} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{directory / MANIFEST_FILE} is not a {FORMAT} manifest")

    failures: list[str] = []
    if key is not None and not mac_matches(_manifest_mac(manifest, key), manifest.get("mac", "")):
        failures.append(
            "Manifest MAC mismatch: the manifest was changed after export, or signed with "
            f"another key (archive key id {manifest.get('key_id')}, given key id {key_id(key)})."
        )
    for name in (EVENTS_FILE, CHECKPOINTS_FILE):
        expected = (manifest.get("files") or {}).get(name, {}).get("sha256")
        actual = _file_sha256(directory / name)
        if actual is None:
            failures.append(f"{name} is missing from the archive.")
        elif actual != expected:
            failures.append(f"{name} does not match the manifest's SHA-256: changed after export.")

    damaged: list[int] = []
    checkpoints_path = directory / CHECKPOINTS_FILE
    verification = verify_chain(
        _archive_links(directory / EVENTS_FILE, damaged),
        key=key,
        checkpoints=checkpoint_lines(checkpoints_path) if checkpoints_path.is_file() else None,
        checkpoint_source=str(checkpoints_path),
    )
    if damaged:
        shown = ", ".join(str(number) for number in damaged[:5])
        more = f" and {len(damaged) - 5} more" if len(damaged) > 5 else ""
        failures.append(f"{EVENTS_FILE} line(s) {shown}{more} are not events.")
    if (verification.events, verification.last_sequence) != (
        manifest.get("events"),
        manifest.get("last_sequence"),
    ) or (verification.events and verification.last_hash != manifest.get("head_hash")):
        failures.append(
            f"Archive truncated or extended: the manifest says {manifest.get('events')} events "
            f"ending at event {manifest.get('last_sequence')} with hash "
            f"{manifest.get('head_hash') or '(none)'}, the archive has {verification.events} "
            f"ending at event {verification.last_sequence}."
        )
    database_check = manifest.get("database_check") or {}
    if not database_check.get("ok", False):
        failures.append(
            "When exported, the log in the database did not verify: "
            + " ".join(database_check.get("failures") or ["(no result recorded)"])
        )
    if not manifest.get("checkpoint_source_found", True):
        verification.notes.append(
            f"The checkpoint file ({manifest.get('checkpoint_source')}) was missing at export."
        )
    verification.failures = failures + verification.failures
    return verification


def _file_sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as data:
            while chunk := data.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _archive_links(path: Path, damaged: list[int]) -> Iterator[Link]:
    try:
        lines = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 (generator)
    except FileNotFoundError:
        return
    with lines:
        for number, text in enumerate(lines, start=1):
            try:
                record = json.loads(text)
                content = record["content"]
                link = Link(
                    sequence=int(content["sequence"]),
                    prev_hash=str(content["prev_hash"]),
                    hash=str(record["hash"]),
                    mac=str(record["mac"]),
                    computed_hash=content_hash(content),
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                damaged.append(number)
                continue
            yield link
