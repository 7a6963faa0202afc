"""Sync the read model in the foreground: `python manage.py sync_now [--kind refunds] [--full]`.

Without `--kind`: the reference lists and every kind. A kind never fully read, or `--full`,
gets a complete reconcile; otherwise new records and drafts. For the first fill, tests and ops.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portal.readmodel.registry import all_specs
from portal.readmodel.sync import sync_all_now


class Command(BaseCommand):
    help = "Sync the read model from DualEntry now, in the foreground."

    def add_arguments(self, parser):
        parser.add_argument(
            "--kind", action="append", help="A record kind (repeatable); default: all."
        )
        parser.add_argument("--full", action="store_true", help="A complete reconcile.")

    def handle(self, *args, kind=None, full=False, **options):
        known = {spec.kind for spec in all_specs()}
        unknown = sorted(set(kind or []) - known)
        if unknown:
            raise CommandError(
                f"Unknown kind {', '.join(unknown)}; choose from {', '.join(sorted(known))}."
            )
        failed = False
        for run in sync_all_now(kinds=kind, full=full):
            failed = failed or not run.ok
            outcome = "ok" if run.ok else f"FAILED: {run.errors}"
            self.stdout.write(
                f"{run.kind} {run.mode}: {run.pages_read} pages, {run.records_changed} changed, "
                f"{run.records_removed} removed, {run.records_skipped} skipped - {outcome}"
            )
        if failed:
            raise CommandError("Some syncs failed; the copy keeps what it had.")
