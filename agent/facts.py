"""Facts about this machine that the agent sends when it enrolls and checks in."""

import ipaddress
import logging
import platform
import re
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psutil

from agent import __version__

logger = logging.getLogger(__name__)

LINUX_MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
FALLBACK_ID_FILE = "machine-id"
EMPTY_MACS = frozenset({"", "00:00:00:00:00:00"})


class UnsupportedPlatform(Exception):
    """The agent runs only on Windows, macOS and Linux."""


def platform_name(system: str = sys.platform) -> str:
    """Return the protocol's platform value for a `sys.platform` string."""
    if system == "win32":
        return "windows"
    if system == "darwin":
        return "macos"
    if system.startswith("linux"):
        return "linux"
    raise UnsupportedPlatform(
        f"unsupported platform {system!r}; the agent runs on Windows, macOS and Linux"
    )


def os_name_and_version() -> tuple[str, str]:
    name = platform_name()
    if name == "linux":
        try:
            release = platform.freedesktop_os_release()
        except OSError:
            return "Linux", platform.release()
        return release.get("NAME", "Linux"), release.get("VERSION_ID", "")
    if name == "macos":
        return "macOS", platform.mac_ver()[0]
    return f"Windows {platform.release()}", platform.version()


def fqdn() -> str:
    # getfqdn returns the plain host name when no resolver has a longer one.
    return socket.getfqdn()


def machine_id(fallback_dir: Path) -> str:
    """Return an id that stays the same across reboots and re-enrollments.

    The operating system's own id comes first; without one, a random id is
    generated once and kept in `fallback_dir`.
    """
    found = os_machine_id()
    if found:
        return found
    return fallback_machine_id(fallback_dir / FALLBACK_ID_FILE)


def os_machine_id() -> str | None:
    name = platform_name()
    if name == "linux":
        return linux_machine_id(LINUX_MACHINE_ID_FILES)
    if name == "macos":
        return macos_platform_uuid()
    return windows_machine_guid()


def linux_machine_id(candidates: tuple[Path, ...]) -> str | None:
    for path in candidates:
        try:
            value = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if value:
            return value
    return None


def macos_platform_uuid() -> str | None:
    ioreg = shutil.which("ioreg")
    if ioreg is None:
        return None
    try:
        output = subprocess.run(
            [ioreg, "-rd1", "-c", "IOPlatformExpertDevice"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        logger.warning("ioreg failed, using the fallback machine id: %s", error)
        return None
    return parse_ioreg_uuid(output)


def parse_ioreg_uuid(output: str) -> str | None:
    match = re.search(r'"IOPlatformUUID"\s*=\s*"([^"]+)"', output)
    return match.group(1) if match else None


def windows_machine_guid() -> str | None:
    # This check also lets type checkers accept winreg on other systems.
    if sys.platform != "win32":
        return None
    import winreg

    try:
        with winreg.OpenKey(
            winreg.HKEY_LOCAL_MACHINE,
            r"SOFTWARE\Microsoft\Cryptography",
            0,
            winreg.KEY_READ | winreg.KEY_WOW64_64KEY,
        ) as key:
            value, _ = winreg.QueryValueEx(key, "MachineGuid")
    except OSError as error:
        logger.warning("MachineGuid is unreadable, using the fallback: %s", error)
        return None
    return str(value)


def fallback_machine_id(path: Path) -> str:
    try:
        existing = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        existing = ""
    if existing:
        return existing

    generated = str(uuid.uuid4())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(generated + "\n", encoding="ascii")
    logger.info("generated a machine id path=%s", path)
    return generated


def network_addresses() -> tuple[list[str], list[str]]:
    """Return the IP and MAC addresses of this machine, loopback excluded."""
    ips: set[str] = set()
    macs: set[str] = set()
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                ip = normalize_ip(address.address)
                if ip:
                    ips.add(ip)
            elif address.family == psutil.AF_LINK:
                mac = address.address.replace("-", ":").lower()
                if mac not in EMPTY_MACS:
                    macs.add(mac)
    return sorted(ips), sorted(macs)


def normalize_ip(text: str) -> str | None:
    # IPv6 link-local addresses carry a zone such as "%eth0".
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if ip.is_loopback or ip.is_unspecified:
        return None
    return str(ip)


def logged_in_users() -> list[dict[str, Any]]:
    """Return each user with a session on this machine, once."""
    names = sorted({session.name for session in psutil.users() if session.name})
    return [{"username": name, "logged_in": True} for name in names]


def enrollment_facts(fallback_dir: Path) -> dict[str, Any]:
    """Collect the enroll request's fields, without the enrollment token."""
    os_name, os_version = os_name_and_version()
    ips, macs = network_addresses()
    return {
        "hostname": socket.gethostname(),
        "fqdn": fqdn(),
        "platform": platform_name(),
        "os_name": os_name,
        "os_version": os_version,
        "agent_version": __version__,
        "machine_id": machine_id(fallback_dir),
        "ip_addresses": ips,
        "mac_addresses": macs,
    }


def checkin_facts() -> dict[str, Any]:
    """Collect the check-in's fields that change while the agent runs."""
    _, os_version = os_name_and_version()
    ips, macs = network_addresses()
    return {
        "agent_version": __version__,
        "hostname": socket.gethostname(),
        "os_version": os_version,
        "ip_addresses": ips,
        "mac_addresses": macs,
        "users": logged_in_users(),
    }
