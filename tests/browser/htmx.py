"""Waiting for htmx in the browser tests."""

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def form_rerendered(page) -> Iterator[None]:
    """Around a change that makes htmx re-render the record form (company, customer): wait for
    the POST's answer and then for the swap to settle, so the next control touched is the new
    one with its htmx triggers bound (touching it mid-swap loses the change under load)."""
    with page.expect_response(lambda answer: answer.request.method == "POST"):
        yield
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
