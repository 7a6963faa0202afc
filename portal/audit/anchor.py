"""Anchoring the audit log outside the database: keyed MACs and signed checkpoints.

The hash chain alone proves order and integrity only against someone who cannot recompute it.
Whoever can write the table can edit event 21 and recompute every later hash, or delete the
last ten events, and the chain still verifies. Two anchors close that:

- Every event stores `mac = HMAC-SHA256(AUDIT_HMAC_KEY, "event:" + hash)`. The key is in the
  portal's environment only, so a recomputed chain carries MACs that do not match.
- After every committed append the portal appends a signed checkpoint (sequence, hash, time,
  key id, MAC) as one JSON line to `AUDIT_CHECKPOINT_PATH`, a file the database cannot rewrite
  (opened O_APPEND, fsync'd). A cut tail ends before the latest checkpoint; a tail cut and then
  re-grown disagrees with the checkpoint written for the same sequence.

Checkpoints are written after commit (`transaction.on_commit`), never for an event that was
rolled back. With several processes they may land slightly out of order; readers use the
sequence, not the line order. Production keeps the file on a volume where the portal's user
can only append (`chattr +a`) and ships it to object storage with object lock (README).
"""

import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

_HEX64 = frozenset("0123456789abcdef")


def configured_key() -> bytes:
    """The MAC key from the environment (settings read at call time, never at import)."""
    return settings.AUDIT_HMAC_KEY.encode("utf-8")


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key, so a report can say "signed with another key"."""
    return hmac.new(key, b"portal.audit.key-id", hashlib.sha256).hexdigest()[:16]


def event_mac(event_hash: str, *, key: bytes) -> str:
    return hmac.new(key, b"event:" + event_hash.encode("ascii"), hashlib.sha256).hexdigest()


def mac_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), str(given).encode("ascii", "replace"))


@dataclass(frozen=True)
class Checkpoint:
    """One signed statement: "event `sequence` had hash `hash` at `written_at`"."""

    sequence: int
    hash: str
    written_at: str  # ISO 8601, UTC
    key_id: str
    mac: str

    def signed_text(self) -> bytes:
        return f"checkpoint:{self.sequence}:{self.hash}:{self.written_at}:{self.key_id}".encode()

    def mac_valid(self, key: bytes) -> bool:
        expected = hmac.new(key, self.signed_text(), hashlib.sha256).hexdigest()
        return mac_matches(expected, self.mac)

    def to_line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")) + "\n"


def checkpoint_sign(*, sequence: int, event_hash: str, key: bytes, now: datetime) -> Checkpoint:
    unsigned = Checkpoint(
        sequence=sequence,
        hash=event_hash,
        written_at=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        key_id=key_id(key),
        mac="",
    )
    mac = hmac.new(key, unsigned.signed_text(), hashlib.sha256).hexdigest()
    return Checkpoint(**{**asdict(unsigned), "mac": mac})


@dataclass(frozen=True)
class CheckpointLine:
    """A line of a checkpoint file: its number (from 1, shown as "checkpoint #N") and either
    the checkpoint or why the line is not one."""

    number: int
    checkpoint: Checkpoint | None
    problem: str = ""


def checkpoint_from_text(text: str) -> Checkpoint:
    """Parse one line; raises ValueError saying what is wrong with it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("it is not JSON") from None
    if not isinstance(data, dict) or set(data) != {
        "sequence",
        "hash",
        "written_at",
        "key_id",
        "mac",
    }:
        raise ValueError("it does not have exactly the fields of a checkpoint")
    sequence = data["sequence"]
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise ValueError("its sequence is not a positive whole number")
    for name in ("hash", "mac"):
        value = data[name]
        if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX64:
            raise ValueError(f"its {name} is not 64 hexadecimal digits")
    if not isinstance(data["written_at"], str) or not isinstance(data["key_id"], str):
        raise ValueError("its time or key id is not text")
    return Checkpoint(**data)


def checkpoint_lines(path: Path) -> Iterator[CheckpointLine]:
    """The lines of a checkpoint file in file order. Raises FileNotFoundError when it is missing."""
    with open(path, encoding="utf-8", errors="replace") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                yield CheckpointLine(number=number, checkpoint=checkpoint_from_text(text))
            except ValueError as err:
                yield CheckpointLine(number=number, checkpoint=None, problem=str(err))


def checkpoint_file_append(path: Path, checkpoint: Checkpoint) -> None:
    """Append one line and fsync it. One write() of a short line on an O_APPEND descriptor, so
    lines from several processes never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(descriptor, checkpoint.to_line().encode("utf-8"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
