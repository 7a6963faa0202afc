from django.core.management.base import BaseCommand, CommandError

from portal.audit.selectors import audit_log_verify
from portal.audit.verification import Verification


class Command(BaseCommand):
    help = (
        "Verify the audit log's three guarantees: the hash chain (no changed, missing or "
        "re-ordered event), the keyed MACs (no chain recomputed without AUDIT_HMAC_KEY) and the "
        "checkpoints in AUDIT_CHECKPOINT_PATH (no truncated tail). Names each guarantee that "
        "failed; exits non-zero when any did."
    )

    def handle(self, *args, **options) -> None:
        verification = audit_log_verify()
        for note in verification.notes:
            self.stdout.write(f"Note: {note}")
        if not verification.ok:
            raise CommandError("Audit log NOT intact.\n" + "\n".join(verification.failures))
        self.stdout.write(self.style.SUCCESS(intact_sentence(verification)))


def intact_sentence(verification: Verification) -> str:
    sentence = (
        f"Audit log intact: {verification.events} events verified; "
        f"last hash {verification.last_hash}"
    )
    latest = verification.latest_checkpoint
    if latest is not None:
        sentence += (
            f"; MACs valid; anchored by checkpoint #{latest.number} "
            f"(event {latest.checkpoint.sequence}, written {latest.checkpoint.written_at})"
        )
    return sentence + "."
