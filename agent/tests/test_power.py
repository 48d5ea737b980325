"""Shutdown detection, and SIGTERM as a plain stop or as part of a shutdown."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.cli import EXIT_TOKEN_REJECTED
from agent.power import (
    NOLOGIN_FILE,
    SCHEDULED_FILE,
    ShutdownProbes,
    has_shutdown_job,
    linux_is_shutting_down,
    scheduled_shutdown_due,
)
from agent.tests.conftest import AGENT_TOKEN

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0


def probes(state="running", jobs="", files=None):
    files = files or {}
    return ShutdownProbes(
        system_state=lambda: state,
        queued_jobs=lambda: jobs,
        read_file=lambda path: files.get(path),
        now=lambda: NOW,
    )


def test_shutting_down_when_system_stopping():
    assert linux_is_shutting_down(probes(state="stopping"))


def test_not_shutting_down_when_running():
    assert not linux_is_shutting_down(probes(state="running"))
    assert not linux_is_shutting_down(probes(state=None))


def test_shutting_down_with_queued_reboot_job():
    jobs = "1234 reboot.target start waiting\n1240 exec-agent.service stop running\n"

    assert linux_is_shutting_down(probes(jobs=jobs))


def test_shutdown_job_must_start_a_target():
    assert not has_shutdown_job("1240 exec-agent.service stop running\n")
    assert not has_shutdown_job("77 poweroff.target stop waiting\n")
    assert has_shutdown_job("77 poweroff.target start waiting\n")


def test_shutting_down_when_logins_disabled():
    assert linux_is_shutting_down(probes(files={NOLOGIN_FILE: ""}))


def test_scheduled_shutdown_counts_when_due():
    due_now = f"USEC={int(NOW * 1_000_000)}\nWARN_WALL=1\nMODE=reboot\n"
    later = f"USEC={int((NOW + 3600) * 1_000_000)}\nMODE=poweroff\n"

    assert linux_is_shutting_down(probes(files={SCHEDULED_FILE: due_now}))
    assert not linux_is_shutting_down(probes(files={SCHEDULED_FILE: later}))
    assert scheduled_shutdown_due("MODE=poweroff\n", NOW)
    assert not scheduled_shutdown_due(None, NOW)


def fake_systemctl(directory: Path, state: str) -> Path:
    """Write a `systemctl` that reports `state` and no queued jobs."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = is-system-running ]; then echo {state}; exit 1; fi\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    return directory


def start_agent(config_path: Path, bin_dir: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "EXEC_AGENT_LOG_LEVEL": "DEBUG",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config_path)],
        cwd=config_path.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_checkins(server, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 15
    while len(server.state.checkins()) < count:
        if process.poll() is not None:
            pytest.fail(f"agent exited early: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no check-in arrived: {process.communicate()[1]}")
        time.sleep(0.05)


def stop_agent(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, stderr


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or NOLOGIN_FILE.exists(),
    reason="needs Linux without a shutdown in progress",
)
def test_sigterm_plain_stop_posts_nothing(fake_server, config_path, tmp_path):
    process = start_agent(config_path, fake_systemctl(tmp_path / "bin", "running"))
    wait_for_checkins(fake_server, 1, process)

    code, stderr = stop_agent(process)

    assert code == 0
    assert [body["event"] for body in fake_server.state.checkins()] == [None]
    assert "no event reported" in stderr
    assert AGENT_TOKEN not in stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="systemd probe")
def test_sigterm_during_shutdown_posts_event(fake_server, config_path, tmp_path):
    process = start_agent(config_path, fake_systemctl(tmp_path / "bin", "stopping"))
    wait_for_checkins(fake_server, 1, process)

    code, stderr = stop_agent(process)

    assert code == 0
    events = [body["event"] for body in fake_server.state.checkins()]
    assert events == [None, "shutdown"]
    assert "event reported event=shutdown" in stderr
    assert AGENT_TOKEN not in stderr


def test_run_exits_78_when_token_rejected(fake_server, config_path, tmp_path):
    fake_server.state.agent_tokens.clear()
    process = start_agent(config_path, fake_systemctl(tmp_path / "bin", "running"))

    try:
        _, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise

    assert process.returncode == EXIT_TOKEN_REJECTED == 78
    assert "rejected the agent token" in stderr
    assert AGENT_TOKEN not in stderr
