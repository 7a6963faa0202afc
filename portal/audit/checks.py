"""`manage.py check --deploy`: the portal can append to its audit checkpoint file."""

import os
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def checkpoint_file_writable(app_configs, **kwargs) -> list[Error]:
    path = Path(settings.AUDIT_CHECKPOINT_PATH)
    if path.exists():
        writable = path.is_file() and os.access(path, os.W_OK)
    else:  # created with its directories on the first append
        existing = next(parent for parent in path.parents if parent.exists())
        writable = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    if writable:
        return []
    return [
        Error(
            f"The audit checkpoint file {path} cannot be written: events would not be anchored "
            "and a truncated audit log could go unnoticed.",
            hint="Set AUDIT_CHECKPOINT_PATH to a file (or a directory to create it in) that the "
            "portal's user may append to.",
            id="audit.E001",
        )
    ]
