"""A transport double for tests that need DualEntry to fail at one precise moment.

``InterceptingTransport`` wraps the client's real transport: every call goes through
``intercept(method, template, send)``, which may call ``send()`` (the real request, returning
its ``Answer``), raise instead, or do both. The ``intercept_upstream`` fixture (root conftest)
installs one on the calling thread's ``get_client()`` for the duration of a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dualentry_api.transport import Answer, Transport

Intercept = Callable[[str, str, Callable[[], Answer]], Answer]


class InterceptingTransport:
    def __init__(self, inner: Transport, intercept: Intercept) -> None:
        self.inner = inner
        self.intercept = intercept

    def request(self, method: str, template: str, *args: Any, **kwargs: Any) -> Answer:
        return self.intercept(
            method, template, lambda: self.inner.request(method, template, *args, **kwargs)
        )

    @property
    def base_url(self) -> str:
        return self.inner.base_url

    @property
    def last_call(self) -> Any:
        return self.inner.last_call

    def close(self) -> None:
        self.inner.close()
