from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.audit.services import checkpoint_head


class Command(BaseCommand):
    help = (
        "Append a signed checkpoint for the latest audit event to AUDIT_CHECKPOINT_PATH. Every "
        "append already writes one; use this after migrating an existing log, after moving "
        "or restoring the checkpoint file, or from a scheduler as a heartbeat. A checkpoint "
        "never hides an older, later-numbered one: verification always uses the highest."
    )

    def handle(self, *args, **options) -> None:
        try:
            head = checkpoint_head()
        except OSError as err:
            raise CommandError(f"No checkpoint written: {err}.") from err
        if head is None:
            self.stdout.write("The audit log is empty: nothing to checkpoint.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint written to {settings.AUDIT_CHECKPOINT_PATH}: "
                f"event {head.sequence}, hash {head.hash}."
            )
        )
