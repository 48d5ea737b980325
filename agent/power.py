"""Telling a system shutdown apart from a plain service stop, and stop signals.

Both arrive as SIGTERM on Linux and macOS. The agent reports `shutdown` only
when the system itself is going down, so that stopping the service for an
upgrade does not mark the endpoint as shut down.

Going to sleep is reported by the Linux system-sleep hook in
packaging/linux/exec-agent-sleep, which runs `exec-agent event suspended`.
NOTE: Windows (WM_POWERBROADCAST) and macOS (IOKit sleep notifications) need a
message loop or bindings outside the standard library, so on those systems
the agent reports no `suspended` event yet.
"""

import logging
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 3
SHUTDOWN_TARGETS = (
    "shutdown.target",
    "poweroff.target",
    "reboot.target",
    "halt.target",
    "kexec.target",
)
# logind creates /run/nologin five minutes before a scheduled shutdown, and
# /run/systemd/shutdown/scheduled while one is scheduled.
NOLOGIN_FILE = Path("/run/nologin")
SCHEDULED_FILE = Path("/run/systemd/shutdown/scheduled")
# A scheduled shutdown counts only when it is due within this many seconds.
# A stop long before a planned shutdown is a plain stop.
SCHEDULED_WINDOW = 60


class StopRequested(BaseException):
    """SIGTERM or SIGINT arrived; a BaseException so handlers cannot catch it."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


@dataclass
class ShutdownProbes:
    """The checks that `linux_is_shutting_down` runs; tests pass their own."""

    system_state: Callable[[], str | None]
    queued_jobs: Callable[[], str | None]
    read_file: Callable[[Path], str | None]
    now: Callable[[], float] = time.time


def run_systemctl(*arguments: str) -> str | None:
    """Return systemctl's standard output, or None if it cannot be run."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return None
    try:
        # is-system-running exits non-zero for every state but "running", so
        # the exit code is not checked; the printed state is what matters.
        completed = subprocess.run(
            [systemctl, *arguments],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        logger.warning("systemctl probe failed arguments=%s: %s", arguments, error)
        return None
    return completed.stdout


def read_text_or_none(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


SYSTEMD_PROBES = ShutdownProbes(
    system_state=lambda: (run_systemctl("is-system-running") or "").strip() or None,
    queued_jobs=lambda: run_systemctl("list-jobs", "--no-legend", "--no-pager"),
    read_file=read_text_or_none,
)


def linux_is_shutting_down(probes: ShutdownProbes = SYSTEMD_PROBES) -> bool:
    """Return True when systemd is stopping the system, not just this service."""
    state = probes.system_state()
    if state == "stopping":
        logger.info("system state is stopping")
        return True
    if has_shutdown_job(probes.queued_jobs() or ""):
        logger.info("a shutdown job is queued")
        return True
    if probes.read_file(NOLOGIN_FILE) is not None:
        logger.info("logins are disabled path=%s", NOLOGIN_FILE)
        return True
    return scheduled_shutdown_due(probes.read_file(SCHEDULED_FILE), probes.now())


def has_shutdown_job(jobs: str) -> bool:
    """Return True if `systemctl list-jobs` output starts a shutdown target."""
    for line in jobs.splitlines():
        fields = line.split()
        # Each line is: job id, unit, job type, state.
        if len(fields) >= 3 and fields[1] in SHUTDOWN_TARGETS and fields[2] == "start":
            return True
    return False


def scheduled_shutdown_due(content: str | None, now: float) -> bool:
    """Return True if systemd's scheduled-shutdown file names a time about now."""
    if content is None:
        return False
    for line in content.splitlines():
        key, _, value = line.partition("=")
        if key == "USEC" and value.strip().isdigit():
            due = int(value) / 1_000_000
            return due <= now + SCHEDULED_WINDOW
    # A file without a readable time still means a shutdown is on its way.
    return True


def windows_is_shutting_down() -> bool:
    import ctypes

    sm_shuttingdown = 0x2000
    user32 = ctypes.windll.user32  # type: ignore[attr-defined]
    return bool(user32.GetSystemMetrics(sm_shuttingdown))


def system_is_shutting_down(platform: str = sys.platform) -> bool:
    """Return True when the operating system is shutting down or rebooting."""
    if platform.startswith("linux"):
        return linux_is_shutting_down()
    if platform == "win32":
        # NOTE: the agent has no Windows service wrapper yet, so nothing sends
        # it a stop during shutdown; this probe is ready for when one does.
        return windows_is_shutting_down()
    # NOTE: macOS has no probe without IOKit bindings, so a SIGTERM from launchd
    # during shutdown is taken for a plain stop and no event is posted.
    return False


def install_stop_handlers() -> None:
    """Make SIGTERM and SIGINT raise StopRequested once in the main thread."""
    signal.signal(signal.SIGTERM, raise_stop)
    signal.signal(signal.SIGINT, raise_stop)


def ignore_stop_signals() -> None:
    """Ignore further stop signals while the agent reports and exits."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def raise_stop(signal_number: int, frame: FrameType | None) -> None:
    ignore_stop_signals()
    raise StopRequested(signal_number)
