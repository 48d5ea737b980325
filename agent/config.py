"""The agent's configuration file: where it lives and how it is written safely.

The file contains the agent token, so it is created readable by its owner only
and replaced atomically, which means a crash never leaves half a file behind.
"""

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

CONFIG_ENV = "EXEC_AGENT_CONFIG"
FILE_NAME = "agent.json"
DEFAULT_CHECKIN_INTERVAL = 60


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


@dataclass
class AgentConfig:
    """The enrollment result and settings that every later run of the agent needs."""

    server_url: str
    endpoint_id: int
    agent_token: str
    ca_bundle: str | None = None
    checkin_interval: int = DEFAULT_CHECKIN_INTERVAL

    def __repr__(self) -> str:
        # The default repr would print the token into tracebacks and logs.
        return (
            f"AgentConfig(server_url={self.server_url!r}, "
            f"endpoint_id={self.endpoint_id}, agent_token='***', "
            f"ca_bundle={self.ca_bundle!r}, "
            f"checkin_interval={self.checkin_interval})"
        )


def default_config_path() -> Path:
    """Return the per-OS default location of the configuration file."""
    if sys.platform == "win32":
        program_data = os.environ.get("ProgramData", r"C:\ProgramData")
        return Path(program_data) / "Exec" / FILE_NAME
    if os.geteuid() == 0:
        return Path("/etc/exec-agent") / FILE_NAME
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Exec" / FILE_NAME
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "exec-agent" / FILE_NAME


def resolve_config_path(explicit: str | None) -> Path:
    """Return `--config` if given, else `EXEC_AGENT_CONFIG`, else the default."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return default_config_path()


def load_config(path: Path) -> AgentConfig:
    """Read and check the configuration file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no agent configuration at {path}; enroll first with "
            "`python -m agent enroll --server URL --token TOKEN`"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot read the configuration {path}: {error}") from None

    warn_if_readable_by_others(path)
    try:
        data = json.loads(text)
        config = AgentConfig(
            server_url=str(data["server_url"]),
            endpoint_id=int(data["endpoint_id"]),
            agent_token=str(data["agent_token"]),
            ca_bundle=data.get("ca_bundle") or None,
            checkin_interval=int(
                data.get("checkin_interval") or DEFAULT_CHECKIN_INTERVAL
            ),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"the configuration {path} is invalid ({error!r}); enroll again "
            "with --force to rewrite it"
        ) from None
    return config


def save_config(config: AgentConfig, path: Path) -> None:
    """Write `config` to `path` atomically, readable by its owner only."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps(asdict(config), indent=2, sort_keys=True) + "\n"

    # mkstemp creates the file with mode 0600 before anything is written to
    # it, so the token is never in a file that others could open.
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if sys.platform == "win32":
            restrict_windows_acl(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def delete_config(path: Path) -> None:
    """Remove the configuration file; a missing file is not an error."""
    path.unlink(missing_ok=True)


def warn_if_readable_by_others(path: Path) -> None:
    if sys.platform == "win32":
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        logger.warning(
            "configuration file is readable by others path=%s mode=%o; "
            "run `chmod 600 %s`",
            path,
            mode,
            path,
        )


def restrict_windows_acl(path: Path) -> None:
    """Limit the file to SYSTEM and Administrators.

    A file under ProgramData inherits an ACL that lets every local user read it,
    and os.chmod cannot change that on Windows.
    """
    # NOTE: written against icacls' documented options but never run on
    # Windows by the test suite.
    system_root = os.environ.get("SystemRoot", r"C:\Windows")
    icacls = Path(system_root) / "System32" / "icacls.exe"
    grants = ["*S-1-5-18:F", "*S-1-5-32-544:F"]  # SYSTEM, Administrators
    subprocess.run(
        [str(icacls), str(path), "/inheritance:r", "/grant:r", *grants],
        check=True,
        capture_output=True,
    )
