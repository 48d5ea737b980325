"""The agent installs on its own, and its Linux service files work."""

import configparser
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent import __version__
from agent.cli import EXIT_TOKEN_REJECTED

AGENT_DIR = Path(__file__).resolve().parents[1]
LINUX_DIR = AGENT_DIR / "packaging" / "linux"


def declared_packages() -> set[str]:
    project = tomllib.loads((AGENT_DIR / "pyproject.toml").read_text())
    return set(project["tool"]["setuptools"]["packages"])


def test_pyproject_lists_every_subpackage():
    # setuptools installs only the packages listed, so a missing entry would
    # leave a subpackage out of the installed agent.
    found = {
        ".".join(("agent", *init.parent.relative_to(AGENT_DIR).parts))
        for init in AGENT_DIR.rglob("__init__.py")
        if not {"tests", "build"} & set(init.relative_to(AGENT_DIR).parts)
    }

    assert found - declared_packages() == set()


def test_agent_installs_without_the_repository(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(
        AGENT_DIR,
        source,
        ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"),
    )
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    version = subprocess.run(
        [sys.executable, "-m", "agent", "--version"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imports = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, agent.cli, agent.handlers.ping; "
            "print(agent.cli.__file__); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert version.stdout.strip() == __version__
    module_file, django_modules = imports.stdout.splitlines()
    assert module_file.startswith(str(target))
    assert django_modules == "[]"
    assert (target / "agent" / "packaging" / "linux" / "exec-agent.service").exists()
    assert not (target / "agent" / "tests").exists()


def read_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(LINUX_DIR / "exec-agent.service")
    return unit


def test_service_restarts_on_failure_but_not_on_revocation():
    service = read_unit()["Service"]

    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == str(EXIT_TOKEN_REJECTED)
    assert service["ExecStart"].split()[-1] == "run"
    assert service["User"] == "root"
    assert "CAP_SYS_PTRACE" in service["CapabilityBoundingSet"]
    assert service["ProtectSystem"] == "strict"
    assert "ProtectProc" not in service


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd")
def test_service_unit_verifies(tmp_path):
    unit = tmp_path / "exec-agent.service"
    text = (LINUX_DIR / "exec-agent.service").read_text()
    # verify checks that ExecStart's program exists.
    unit.write_text(text.replace("/usr/local/bin/exec-agent", shutil.which("true")))

    checked = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert checked.returncode == 0, checked.stderr
    assert str(unit) not in checked.stderr


def recording_command(directory: Path, name: str, log: Path) -> Path:
    """Write a command that appends its own name and arguments to `log`."""
    directory.mkdir(parents=True, exist_ok=True)
    command = directory / name
    command.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
    command.chmod(0o755)
    return command


def run_hook(tmp_path: Path, *arguments: str) -> tuple[int, list[str]]:
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    agent = recording_command(bin_dir, "exec-agent", log)
    recording_command(bin_dir, "systemd-run", log)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "EXEC_AGENT": str(agent),
    }
    hook = subprocess.run(
        [str(LINUX_DIR / "exec-agent-sleep"), *arguments], env=env, timeout=30
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return hook.returncode, calls


def test_sleep_hook_pre_reports_suspended(tmp_path):
    code, calls = run_hook(tmp_path, "pre", "suspend")

    assert code == 0
    assert calls == ["exec-agent event suspended"]


def test_sleep_hook_post_starts_one_checkin(tmp_path):
    code, calls = run_hook(tmp_path, "post", "suspend")

    assert code == 0
    assert calls == [
        "systemd-run --no-block --collect --quiet --unit=exec-agent-wake "
        f"{tmp_path / 'bin' / 'exec-agent'} once"
    ]


def test_sleep_hook_survives_agent_failure(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    failing = bin_dir / "exec-agent"
    failing.write_text("#!/bin/sh\nexit 1\n")
    failing.chmod(0o755)
    env = {**os.environ, "EXEC_AGENT": str(failing)}

    hook = subprocess.run(
        [str(LINUX_DIR / "exec-agent-sleep"), "pre", "suspend"], env=env, timeout=30
    )

    assert hook.returncode == 0
