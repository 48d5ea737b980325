"""Kernel modules on a kernel built without module support."""

import os

import pytest

from agent.forensics import linux
from agent.forensics.model import ARTIFACTS, UNSUPPORTED
from agent.forensics.runner import load_collectors, run_collector


def test_kernel_modules_without_proc_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    load_collectors()
    real_exists = os.path.exists
    monkeypatch.setattr(
        linux.os.path,
        "exists",
        lambda path: path != "/proc/modules" and real_exists(path),
    )
    outcome = run_collector(ARTIFACTS["software.kernel_modules"], "linux")
    assert outcome == {"status": UNSUPPORTED, "reason": "/proc/modules not present"}
