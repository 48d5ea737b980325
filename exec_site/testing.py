"""Helpers for tests that run Exec's processes: clusters, servers, agents."""

import os
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import connection

T = TypeVar("T")


def database_url_for_subprocess() -> str:
    """Return a DATABASE_URL that points a child process at the test database."""
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    user = config["USER"] or "postgres"
    password = f":{config['PASSWORD']}" if config["PASSWORD"] else ""
    port = config["PORT"] or 5432
    return f"postgres://{user}{password}@{config['HOST']}:{port}/{config['NAME']}"


def subprocess_env(queue_name: str, **extra: str) -> dict[str, str]:
    """Return the environment for a child process that shares this test's database."""
    return {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "EXEC_QUEUE_NAME": queue_name,
        "EXEC_VAR_DIR": str(settings.VAR_DIR),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def wait_until(
    condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Poll `condition` until it returns something truthy or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {timeout} s")
        time.sleep(interval)
