"""Checking an audit chain against its three guarantees, wherever the events come from.

1. The chain: sequences from 1 without gaps, each `prev_hash` the hash before it, each hash the
   hash of the event's content. Catches an edited, removed or re-ordered event.
2. The MACs: each event's `mac` is the keyed HMAC of its hash. Catches a chain recomputed by
   someone without the key.
3. The checkpoints: every checkpoint's own MAC is valid, the log reaches the latest one, and each
   event a checkpoint names has the hash the checkpoint recorded. Catches a cut tail, also one
   that was cut and then grew again.

The same walk serves the database (`portal.audit.selectors.audit_log_verify`) and an exported
archive (`portal.audit.archive`), so both say the same sentences.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from portal.audit.anchor import CheckpointLine, event_mac, key_id, mac_matches
from portal.audit.models import GENESIS_HASH

_LISTED = 5  # problems of one kind spelled out before "and N more"
_Anchor = tuple[int, bytes]  # (checkpoint line number, hash)
_Anchors = dict[int, _Anchor]


@dataclass(frozen=True)
class Link:
    """What the walk needs of one event."""

    sequence: int
    prev_hash: str
    hash: str
    mac: str
    computed_hash: str
    event_id: int | None = None  # database id, when there is one
    problem: str = ""  # a source-specific inconsistency (e.g. a swapped actor)

    @property
    def name(self) -> str:
        if self.event_id is None:
            return f"event {self.sequence}"
        return f"event id {self.event_id} (sequence {self.sequence})"


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of walking the chain: `ok`, how many events were checked, and for a broken
    chain the first bad event (`event_id`, `sequence`) and why."""

    ok: bool
    checked: int
    event_id: int | None = None
    sequence: int | None = None
    reason: str = ""
    last_hash: str = GENESIS_HASH


@dataclass
class Verification:
    """All three guarantees. `failures` are sentences naming the guarantee that failed; `notes`
    are facts worth knowing that are not failures (e.g. events newer than the last checkpoint)."""

    chain: ChainCheck
    events: int = 0
    last_sequence: int = 0
    last_hash: str = GENESIS_HASH
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    latest_checkpoint: CheckpointLine | None = None
    macs_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures


def _broken_link(link: Link, expected_sequence: int, expected_prev: str) -> str:
    if link.sequence != expected_sequence:
        if link.sequence > expected_sequence:
            missing = (
                f"event {expected_sequence} is missing"
                if link.sequence == expected_sequence + 1
                else f"events {expected_sequence} to {link.sequence - 1} are missing"
            )
            return f"gap in the sequence: {missing}"
        return f"sequence {link.sequence} is out of order (expected {expected_sequence})"
    if link.prev_hash != expected_prev:
        return "prev_hash does not match the hash of the event before it"
    if link.computed_hash != link.hash:
        return "the stored hash does not match the event's content (the row was changed)"
    return link.problem


def verify_chain(
    links: Iterable[Link],
    *,
    key: bytes | None,
    checkpoints: Iterable[CheckpointLine] | None,
    checkpoint_source: str,
) -> Verification:
    """Walk `links` in sequence order once. `key` None skips the MACs (said in the notes);
    `checkpoints` None means the checkpoint file is missing (`checkpoint_source` names it)."""
    anchors, extra_anchors, latest, checkpoint_failures = _read_checkpoints(checkpoints, key)

    # Filled in as the walk goes (events counted, the last one's sequence and hash); the chain
    # is an empty log's until the walk has seen the links.
    result = Verification(
        chain=ChainCheck(ok=True, checked=0), latest_checkpoint=latest, macs_checked=key is not None
    )
    expected_sequence, expected_prev = 1, GENESIS_HASH
    chain: ChainCheck | None = None
    intact = 0
    bad_macs: list[Link] = []
    disagreements: list[tuple[Link, int, str]] = []  # (event, checkpoint number, its hash)
    for link in links:
        result.events += 1
        if chain is None:
            reason = _broken_link(link, expected_sequence, expected_prev)
            if reason:
                chain = ChainCheck(
                    ok=False,
                    checked=intact,
                    event_id=link.event_id,
                    sequence=link.sequence,
                    reason=reason,
                    last_hash=expected_prev,
                )
            else:
                intact += 1
        # After a break the walk follows the stored hashes, so the MACs and checkpoints of
        # the rest are still checked and the end of the log is still known.
        expected_sequence, expected_prev = link.sequence + 1, link.hash
        result.last_sequence, result.last_hash = link.sequence, link.hash
        if key is not None and not mac_matches(event_mac(link.hash, key=key), link.mac):
            bad_macs.append(link)
        anchor = anchors.get(link.sequence)
        if anchor is not None:
            for number, recorded in (anchor, *extra_anchors.get(link.sequence, ())):
                if recorded != bytes.fromhex(link.hash):
                    disagreements.append((link, number, recorded.hex()))
    if chain is None:
        chain = ChainCheck(ok=True, checked=intact, last_hash=expected_prev)
    result.chain = chain
    if not chain.ok:
        result.failures.append(
            f"Chain broken at {_name(chain)}: {chain.reason}. "
            f"The {chain.checked} event(s) before it are intact."
        )
    if bad_macs:
        first = bad_macs[0]
        more = f"; {len(bad_macs) - 1} later event(s) fail too" if len(bad_macs) > 1 else ""
        result.failures.append(
            f"Chain recomputed without the key: MAC mismatch at {first.name}{more}. "
            "These events were not written by the portal with the configured AUDIT_HMAC_KEY."
        )
    if key is None:
        result.notes.append(
            "MACs not checked (no key given): a chain recomputed from the plain hashes would "
            "not be noticed."
        )
    result.failures.extend(checkpoint_failures)
    if checkpoints is None:
        if result.events:
            result.failures.append(
                f"No checkpoint file at {checkpoint_source}: a truncated tail or a rewritten "
                "chain cannot be ruled out. Restore the file, or run checkpoint_audit_log to "
                "start a new one once the log has been checked otherwise."
            )
    elif latest is None and result.events:
        result.failures.append(
            f"No valid checkpoint in {checkpoint_source}: a truncated tail cannot be ruled out."
        )
    if latest is not None:
        anchor = latest.checkpoint
        if anchor.sequence > result.last_sequence:
            ends = f"ends at {result.last_sequence}" if result.last_sequence else "is empty"
            result.failures.append(
                f"Tail truncated: checkpoint #{latest.number} says event {anchor.sequence} "
                f"with hash {anchor.hash} (written {anchor.written_at}), the log {ends}."
            )
        elif anchor.sequence < result.last_sequence:
            result.notes.append(
                f"Events {anchor.sequence + 1} to {result.last_sequence} are newer than the "
                f"latest checkpoint (#{latest.number}); they are sealed by their MACs, and the "
                "next append or checkpoint_audit_log anchors them."
            )
    for link, number, recorded in disagreements[:_LISTED]:
        result.failures.append(
            f"Chain rewritten: checkpoint #{number} says event {link.sequence} has hash "
            f"{recorded}, the log has {link.hash}."
        )
    if len(disagreements) > _LISTED:
        result.failures.append(
            f"... and {len(disagreements) - _LISTED} more checkpoint(s) disagree with the log."
        )
    return result


def _name(chain: ChainCheck) -> str:
    if chain.event_id is None:
        return f"event {chain.sequence}"
    return f"event id {chain.event_id} (sequence {chain.sequence})"


def _read_checkpoints(
    lines: Iterable[CheckpointLine] | None, key: bytes | None
) -> tuple[_Anchors, dict[int, list[_Anchor]], CheckpointLine | None, list[str]]:
    """Valid checkpoints as {sequence: (line number, hash)} (kept small: one is written per
    event), further checkpoints for a sequence already seen, the latest checkpoint, and
    sentences for the invalid lines."""
    anchors: _Anchors = {}
    extra: dict[int, list[_Anchor]] = {}
    latest: CheckpointLine | None = None
    malformed: list[str] = []
    forged: list[str] = []
    if lines is None:
        return anchors, extra, latest, []
    own_key_id = key_id(key) if key is not None else ""
    for line in lines:
        if line.checkpoint is None:
            malformed.append(f"line {line.number} ({line.problem})")
            continue
        if key is not None and not line.checkpoint.mac_valid(key):
            other = line.checkpoint.key_id != own_key_id
            forged.append(
                f"#{line.number}" + (f" (key id {line.checkpoint.key_id})" if other else "")
            )
            continue
        anchor = (line.number, bytes.fromhex(line.checkpoint.hash))
        if line.checkpoint.sequence in anchors:
            extra.setdefault(line.checkpoint.sequence, []).append(anchor)
        else:
            anchors[line.checkpoint.sequence] = anchor
        if latest is None or line.checkpoint.sequence > latest.checkpoint.sequence:
            latest = line
    failures = []
    if malformed:
        failures.append(
            "Checkpoint file damaged: "
            + "; ".join(malformed[:_LISTED])
            + (f"; and {len(malformed) - _LISTED} more" if len(malformed) > _LISTED else "")
            + " is not a checkpoint."
        )
    if forged:
        failures.append(
            "Checkpoint MAC mismatch at "
            + ", ".join(forged[:_LISTED])
            + (f" and {len(forged) - _LISTED} more" if len(forged) > _LISTED else "")
            + f": forged, or signed with another key (the configured key's id is {own_key_id})."
        )
    return anchors, extra, latest, failures
