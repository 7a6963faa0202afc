from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.audit.anchor import configured_key
from portal.audit.archive import ArchiveError, archive_verify


class Command(BaseCommand):
    help = (
        "Verify an archive written by export_audit_archive, without the database: the hash "
        "chain, the files against the manifest, the checkpoints, and (with the key) every MAC. "
        "Uses AUDIT_HMAC_KEY unless --key-file or --without-key says otherwise. Exits non-zero "
        "when any guarantee fails."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="The archive directory.")
        keys = parser.add_mutually_exclusive_group()
        keys.add_argument(
            "--key-file",
            type=Path,
            help="A file holding the AUDIT_HMAC_KEY the archive was written with.",
        )
        keys.add_argument(
            "--without-key",
            action="store_true",
            help="Check hashes and checkpoints only (a recomputed chain may go unnoticed).",
        )

    def handle(self, *args, path: Path, key_file: Path | None, without_key: bool, **options):
        if without_key:
            key = None
        elif key_file is not None:
            try:
                key = key_file.read_text(encoding="utf-8").strip().encode("utf-8")
            except OSError as err:
                raise CommandError(f"The key file cannot be read: {err}.") from err
        else:
            key = configured_key()
        try:
            verification = archive_verify(directory=path, key=key)
        except ArchiveError as err:
            raise CommandError(str(err)) from err
        for note in verification.notes:
            self.stdout.write(f"Note: {note}")
        if not verification.ok:
            raise CommandError("Archive NOT intact.\n" + "\n".join(verification.failures))
        checked = "hashes, checkpoints and MACs" if key is not None else "hashes and checkpoints"
        self.stdout.write(
            self.style.SUCCESS(
                f"Archive intact: {verification.events} events verified ({checked}); "
                f"last hash {verification.last_hash}."
            )
        )
