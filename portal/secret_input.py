"""Text people type never carries the portal's DualEntry API key.

The audit log used to replace the key with "[redacted]" wherever it appeared, also in a memo a
preparer typed, and showed the result in the record's history: typing a guess and reading
"[redacted]" back confirmed it. Now the input boundaries (the record forms' text fields, the
approval comments, attachment names) refuse text holding the key before it goes anywhere, so
nothing a person typed is ever redacted, and the refusal names no key: it reads like any other
rule about the wording. The key never reaches DualEntry's records, the portal's database, the
audit log or a log line from there. The audit log's own redaction stays as the last guard for
text the portal did not get from a person (an upstream error echoing a request, say).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

REFUSAL = (
    "This text cannot be saved as it is: it contains a sequence of characters the portal does "
    "not accept. Change the wording and save again."
)


def contains_api_key(text: Any) -> bool:
    """Whether `text` holds the DualEntry API key (read at call time)."""
    secret = settings.DUALENTRY_API_KEY or ""
    return bool(secret) and isinstance(text, str) and secret in text


def refuse_api_key(value: Any) -> None:
    """Form-field validator: the neutral refusal for text holding the API key."""
    if contains_api_key(value):
        raise ValidationError(REFUSAL, code="not_accepted")
