from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.audit.anchor import configured_key
from portal.audit.archive import ArchiveError, archive_export, archive_verify


class Command(BaseCommand):
    help = (
        "Export the audit log (every event with its hash and MAC), its checkpoints and a signed "
        "manifest into a new directory for archiving, then verify what was written. Exits "
        "non-zero when the exported log does not verify (the archive is kept as evidence)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--output", required=True, type=Path, help="A new or empty directory to write."
        )

    def handle(self, *args, output: Path, **options) -> None:
        try:
            summary = archive_export(output=output)
        except (ArchiveError, OSError) as err:
            raise CommandError(f"No archive written: {err}.") from err
        self.stdout.write(
            f"Exported {summary.events} events (to event {summary.last_sequence}) and "
            f"{summary.checkpoints} checkpoints to {summary.directory}."
        )
        verification = archive_verify(directory=output, key=configured_key())
        for note in verification.notes:
            self.stdout.write(f"Note: {note}")
        if not verification.ok:
            raise CommandError(
                "The exported log does NOT verify.\n" + "\n".join(verification.failures)
            )
        self.stdout.write(self.style.SUCCESS("The archive verifies."))
