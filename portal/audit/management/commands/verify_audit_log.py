from django.core.management.base import BaseCommand, CommandError

from portal.audit.selectors import chain_verify


class Command(BaseCommand):
    help = (
        "Walk the audit log's hash chain from the first event and report the first broken "
        "link (a changed, missing or re-ordered event). Exits non-zero when the chain is broken."
    )

    def handle(self, *args, **options) -> None:
        check = chain_verify()
        if not check.ok:
            raise CommandError(
                f"Audit log broken at event id {check.event_id} (sequence {check.sequence}): "
                f"{check.reason}. The {check.checked} event(s) before it are intact."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit log intact: {check.checked} events verified; last hash {check.last_hash}."
            )
        )
