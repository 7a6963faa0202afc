"""The worker process: the task engine's database worker plus the sync scheduler.

    python manage.py run_worker

A scheduler thread enqueues due syncs every `READMODEL_SCHEDULER_TICK` seconds (idempotent:
see `portal.readmodel.schedule`); the main thread runs django-tasks-db's `db_worker` on the
read model's queue. Run one or several (`Procfile`: `worker:`); the kind leases keep one sync of
a kind at a time.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from portal.readmodel.schedule import enqueue_due
from portal.readmodel.tasks import QUEUE

logger = logging.getLogger("portal.readmodel")


def _schedule_forever(stop: threading.Event, tick: float) -> None:
    while not stop.is_set():
        close_old_connections()
        try:
            enqueue_due()
        except DatabaseError as err:  # a locked SQLite file or a dropped connection: next tick
            logger.warning("read model scheduler: %s; trying again in %.0f s", err, tick)
        stop.wait(tick)


class Command(BaseCommand):
    help = "Run the background worker: the read-model sync scheduler and the task worker."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="Only run tasks; another worker enqueues them.",
        )
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between queue polls when idle."
        )

    def handle(self, *args, **options):
        stop = threading.Event()
        if not options["no_scheduler"]:
            tick = float(getattr(settings, "READMODEL_SCHEDULER_TICK", 5))
            threading.Thread(
                target=_schedule_forever, args=(stop, tick), name="readmodel-scheduler", daemon=True
            ).start()
        try:
            call_command(
                "db_worker",
                queue_name=QUEUE,
                interval=options["interval"],
                reload=False,
                verbosity=options["verbosity"],
            )
        finally:
            stop.set()
