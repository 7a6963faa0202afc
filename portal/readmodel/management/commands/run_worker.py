"""The worker process: the sync scheduler and task workers of django-tasks' database backend.

    python manage.py run_worker [--threads 4]

A scheduler thread enqueues due syncs every `READMODEL_SCHEDULER_TICK` seconds (idempotent:
see `portal.readmodel.schedule`). `--threads` task workers (django-tasks-db's `Worker`, the
loop behind its `db_worker` command) run them. Several threads because a sync spends most of
its time waiting for its kind's pacing: while one kind waits, another kind's sync runs. Run
one or several such processes (`Procfile`: `worker:`): the kind leases keep one sync of a kind
at a time.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from portal.heartbeat import worker_heartbeat_record
from portal.readmodel.schedule import enqueue_due, prune_history
from portal.readmodel.tasks import QUEUE

logger = logging.getLogger("portal.readmodel")


PRUNE_EVERY = 3600.0  # seconds


def _schedule_forever(stop: threading.Event, tick: float) -> None:
    last_pruned = 0.0
    while not stop.is_set():
        close_old_connections()
        try:
            enqueue_due()
            if time.monotonic() - last_pruned >= PRUNE_EVERY:
                prune_history()
                last_pruned = time.monotonic()
        except DatabaseError as err:  # a locked SQLite file or a dropped connection: next tick
            logger.warning("read model scheduler: %s; trying again in %.0f s", err, tick)
        _beat()
        stop.wait(tick)
    close_old_connections()


def _beat() -> None:
    """Tell /health/ready/ and the metrics that this worker is alive (README "Runbook")."""
    try:
        worker_heartbeat_record(worker=f"{socket.gethostname()}:{os.getpid()}")
    except Exception as err:  # the cache (Redis) is down: readiness reports that on its own
        logger.warning("read model scheduler: heartbeat not recorded: %s", err)


def _work(worker: Worker) -> None:
    try:
        worker.run()
    finally:
        close_old_connections()


class Command(BaseCommand):
    help = "Run the background worker: the read-model sync scheduler and task workers."

    def add_arguments(self, parser):
        parser.add_argument(
            "--threads",
            type=int,
            default=int(getattr(settings, "READMODEL_WORKER_THREADS", 4)),
            help="Task workers in this process (default: READMODEL_WORKER_THREADS, 4).",
        )
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="Only run tasks; another worker process enqueues them.",
        )
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between queue polls when idle."
        )

    def handle(self, *args, threads: int, no_scheduler: bool, interval: float, **options):
        stop = threading.Event()
        workers = [
            Worker(
                queue_names=[QUEUE],
                interval=interval,
                batch=False,
                backend_name="default",
                startup_delay=True,
                max_tasks=None,
                worker_id=get_random_string(32),
                excluded_queue_names=[],
            )
            for _ in range(max(1, threads))
        ]

        def shut_down(signum, frame) -> None:
            logger.warning(
                "read model worker: %s, finishing running tasks", signal.strsignal(signum)
            )
            stop.set()
            for worker in workers:
                worker.running = False

        signal.signal(signal.SIGINT, shut_down)
        signal.signal(signal.SIGTERM, shut_down)
        runners = [
            threading.Thread(target=_work, args=(worker,), name=f"readmodel-worker-{index}")
            for index, worker in enumerate(workers)
        ]
        if not no_scheduler:
            tick = float(getattr(settings, "READMODEL_SCHEDULER_TICK", 5))
            runners.append(
                threading.Thread(
                    target=_schedule_forever, args=(stop, tick), name="readmodel-scheduler"
                )
            )
        logger.info(
            "read model worker: %d task threads, scheduler %s", len(workers), not no_scheduler
        )
        for runner in runners:
            runner.start()
        while any(runner.is_alive() for runner in runners):
            for runner in runners:
                runner.join(timeout=0.5)
