"""The runner stops hung and crashed collectors and carries on with the next one."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.forensics.model import ERROR, OK, TIMEOUT, UNSUPPORTED, WINDOWS
from agent.forensics.runner import Runner
from agent.forensics.tests import slow_collectors

SLOW_MODULE = "agent.forensics.tests.slow_collectors"


@pytest.fixture
def slow_artifacts() -> Iterator[None]:
    slow_collectors.register()
    yield
    slow_collectors.unregister()


@pytest.mark.usefixtures("slow_artifacts")
def test_runner_hung_collector_times_out_then_next_runs() -> None:
    with Runner(extra_modules=[SLOW_MODULE]) as runner:
        started = time.monotonic()
        hung = runner.collect_one(slow_collectors.HANGS)
        elapsed = time.monotonic() - started
        after = runner.collect_one("system.uptime")

    assert hung.status == TIMEOUT
    assert hung.error is not None
    assert "within 1 s" in hung.error["message"]
    # One second of limit plus the worker's start-up, far below the 600 s sleep.
    assert elapsed < 15
    assert after.status == OK
    assert len(after.rows) == 1


@pytest.mark.usefixtures("slow_artifacts")
def test_runner_fifo_blocked_collector_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv(slow_collectors.FIFO_ENV, str(fifo))
    with Runner(extra_modules=[SLOW_MODULE]) as runner:
        result = runner.collect_one(slow_collectors.BLOCKS_ON_FIFO)
    assert result.status == TIMEOUT


@pytest.mark.usefixtures("slow_artifacts")
def test_runner_crashed_worker_reports_error() -> None:
    with Runner(extra_modules=[SLOW_MODULE]) as runner:
        crashed = runner.collect_one(slow_collectors.CRASHES)
        after = runner.collect_one("system.time")
    assert crashed.status == ERROR
    assert "exit code 3" in crashed.error["message"]
    assert after.status == OK


def test_runner_unsupported_needs_no_worker() -> None:
    with Runner(platform="linux") as runner:
        result = runner.collect_one("software.wmi_persistence")
        assert runner.worker is None
    assert result.status == UNSUPPORTED
    assert result.reason == "this artifact exists on Windows only"
    assert result.error is None


def test_runner_timeout_override_applies() -> None:
    with Runner(timeout=30.0) as runner:
        result = runner.collect_one("system.time")
    assert result.status == OK
    assert result.duration_ms >= 0


def test_runner_collector_exception_becomes_error() -> None:
    # The Windows registry collector fails on Linux with a plain exception,
    # which must become an error entry, not end the collection.
    with Runner(platform=WINDOWS) as runner:
        result = runner.collect_one("system.os_version")
    assert result.status == ERROR
    assert result.error["type"] == "ModuleNotFoundError"
    assert "traceback" in result.error
