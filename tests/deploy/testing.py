"""What the tests that run the deployment share: where its services are, when to skip, a stack.

The multi-process test, the worker fail-over test and the team benchmark's smoke test all start
`Stack` against the PostgreSQL server of DATABASE_URL and the Redis of MULTIPROCESS_REDIS_URL,
and all skip, with a reason, where one of them or nginx is missing. Not a test module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .stack import (
    NGINX,
    Stack,
    drop_postgres_database,
    flush_redis,
    fresh_postgres_database,
    is_postgres,
    redis_reachable,
)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("MULTIPROCESS_REDIS_URL", "redis://127.0.0.1:6379/8")


def run_database_name(suffix: str) -> str:
    """A database of this test run's own: DJANGO_TEST_DB_NAME keeps parallel runs apart."""
    return (os.environ.get("DJANGO_TEST_DB_NAME") or "test_portal") + suffix


def deployment_marks(*, postgres_reason: str) -> list[pytest.MarkDecorator]:
    """`multiprocess`, and a skip unless PostgreSQL, nginx and Redis are all there.

    `postgres_reason` says why this test in particular will not run on SQLite.
    """
    return [
        pytest.mark.multiprocess,
        pytest.mark.skipif(not is_postgres(DATABASE_URL), reason=postgres_reason),
        pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (make nginx)"),
        pytest.mark.skipif(
            not redis_reachable(REDIS_URL), reason=f"Redis is not reachable at {REDIS_URL}"
        ),
    ]


@contextmanager
def fresh_stack(tmp_path_factory, name: str, **options: Any) -> Iterator[Stack]:
    """A running `Stack` on a new database and an empty Redis db; both are cleared after it.

    `name` names its temporary folder and its database; `options` are `Stack`'s own
    (instances, web workers, records per kind, extra environment).
    """
    database_url = fresh_postgres_database(DATABASE_URL, run_database_name(f"_{name}"))
    flush_redis(REDIS_URL)
    try:
        with Stack(
            workdir=tmp_path_factory.mktemp(name),
            database_url=database_url,
            cache_url=REDIS_URL,
            **options,
        ) as running:
            yield running
    finally:
        drop_postgres_database(database_url)
        flush_redis(REDIS_URL)
