"""System checks (`manage.py check`, run by the worker and runserver): the sync settings."""

from __future__ import annotations

from django.core import checks

from portal.readmodel.selectors import schedule_load


@checks.register()
def check_sync_budget(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The sync's pacing never exceeds its share; a schedule that asks for more only makes
    syncs run later than their intervals, which people should know when they set it."""
    try:
        load = schedule_load(records_per_kind=1000)
    except ValueError as err:
        return [checks.Error(str(err), id="readmodel.E001")]
    if load["requests_per_second"] > load["allowed_per_second"]:
        return [
            checks.Warning(
                f"The read-model sync schedule asks for {load['requests_per_second']:.2f} "
                f"requests/s per route with 1,000 records per kind, more than "
                f"READMODEL_BUDGET_SHARE allows ({load['allowed_per_second']:.2f}/s): syncs will "
                f"run later than their intervals.",
                hint="Lengthen READMODEL_NEW_INTERVAL, READMODEL_DRAFTS_INTERVAL or "
                "READMODEL_FULL_INTERVAL, or raise READMODEL_BUDGET_SHARE.",
                id="readmodel.W001",
            )
        ]
    return []
