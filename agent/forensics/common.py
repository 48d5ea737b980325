"""Collectors and helpers shared by the Linux, macOS and Windows collectors."""

import json
import os
import socket
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from agent.forensics import artifacts  # noqa: F401 - defines the artifacts used below.
from agent.forensics.history import HISTORY_FILES, parse_history
from agent.forensics.model import (
    LINUX,
    MACOS,
    WINDOWS,
    Rows,
    collector,
    current_platform,
    iso_utc,
)
from agent.forensics.safeio import NotRegularFile, list_dir, read_capped


def user_homes() -> list[tuple[int | None, str, Path]]:
    """Return (uid, username, home) for every local account with a home directory."""
    homes: dict[Path, tuple[int | None, str, Path]] = {}
    if current_platform() == WINDOWS:
        root = Path(os.environ.get("SystemDrive", "C:") + "\\Users")
        for name in list_dir(root):
            if (root / name).is_dir():
                homes[root / name] = (None, name, root / name)
        return list(homes.values())

    import pwd

    for entry in pwd.getpwall():
        home = Path(entry.pw_dir)
        if entry.pw_dir in ("", "/", "/nonexistent") or home in homes:
            continue
        if home.is_dir():
            homes[home] = (entry.pw_uid, entry.pw_name, home)
    return sorted(homes.values(), key=lambda item: str(item[2]))


def read_user_file(path: Path, rows: Rows) -> bytes | None:
    """Read a per-user file, noting in `rows` what was denied, odd or too large."""
    try:
        data, truncated = read_capped(path)
    except FileNotFoundError:
        return None
    except PermissionError:
        rows.partial = True
        rows.warnings.append(f"permission denied: {path}")
        return None
    except NotRegularFile as error:
        rows.warnings.append(f"{path}: {error}")
        return None
    except OSError as error:
        rows.warnings.append(f"{path}: {error}")
        return None
    rows.sources.append(str(path))
    if truncated:
        rows.warnings.append(f"{path}: read only the first {len(data)} bytes")
    return data


def history_rows(
    uid: int | None, username: str, shell: str, path: Path, data: bytes
) -> list[dict[str, Any]]:
    """Turn one history file's bytes into shell_history rows."""
    rows = []
    for entry in parse_history(shell, data):
        rows.append(
            {
                "uid": uid,
                "username": username,
                "shell": shell,
                "time": entry["time"],
                "time_utc": iso_utc(entry["time"]),
                "duration": entry.get("duration"),
                "command": entry["command"],
                "command_b64": entry.get("command_b64"),
                "history_file": str(path),
            }
        )
    return rows


@collector("users.shell_history", LINUX, MACOS, WINDOWS)
def collect_shell_history() -> Rows:
    rows = Rows()
    for uid, username, home in user_homes():
        candidates = [(home / name, shell) for name, shell in HISTORY_FILES]
        # macOS Terminal keeps one history per window session.
        for folder, shell in ((".zsh_sessions", "zsh"), (".bash_sessions", "bash")):
            for name in list_dir(home / folder):
                if name.endswith((".history", ".historynew")):
                    candidates.append((home / folder / name, shell))
        for path, shell in candidates:
            data = read_user_file(path, rows)
            if data is not None:
                rows.rows.extend(history_rows(uid, username, shell, path, data))
    if not rows.sources:
        rows.reason = "no shell history files found in any home directory"
    return rows


CHROMIUM_ROOTS = {
    LINUX: {
        "chrome": ".config/google-chrome",
        "chromium": ".config/chromium",
        "brave": ".config/BraveSoftware/Brave-Browser",
        "edge": ".config/microsoft-edge",
        "opera": ".config/opera",
        "vivaldi": ".config/vivaldi",
    },
    MACOS: {
        "chrome": "Library/Application Support/Google/Chrome",
        "chromium": "Library/Application Support/Chromium",
        "brave": "Library/Application Support/BraveSoftware/Brave-Browser",
        "edge": "Library/Application Support/Microsoft Edge",
        "vivaldi": "Library/Application Support/Vivaldi",
    },
    WINDOWS: {
        "chrome": "AppData/Local/Google/Chrome/User Data",
        "chromium": "AppData/Local/Chromium/User Data",
        "brave": "AppData/Local/BraveSoftware/Brave-Browser/User Data",
        "edge": "AppData/Local/Microsoft/Edge/User Data",
        "vivaldi": "AppData/Local/Vivaldi/User Data",
    },
}
FIREFOX_ROOTS = {
    LINUX: (".mozilla/firefox", "snap/firefox/common/.mozilla/firefox"),
    MACOS: ("Library/Application Support/Firefox/Profiles",),
    WINDOWS: ("AppData/Roaming/Mozilla/Firefox/Profiles",),
}


def parse_chrome_manifest(data: bytes) -> dict[str, Any]:
    """Read the columns of a Chromium extension's manifest.json."""
    manifest = json.loads(data.decode("utf-8-sig", errors="replace"))
    permissions = manifest.get("permissions", [])
    if isinstance(manifest.get("host_permissions"), list):
        permissions = [*permissions, *manifest["host_permissions"]]
    return {
        "name": manifest.get("name"),
        "version": manifest.get("version"),
        "description": manifest.get("description"),
        "permissions": permissions,
        "source_url": manifest.get("update_url"),
    }


def parse_firefox_extensions(data: bytes) -> list[dict[str, Any]]:
    """Read the add-ons listed in a Firefox profile's extensions.json."""
    document = json.loads(data.decode("utf-8", errors="replace"))
    rows = []
    for addon in document.get("addons", []):
        locale = addon.get("defaultLocale") or {}
        rows.append(
            {
                "name": locale.get("name"),
                "identifier": addon.get("id"),
                "version": addon.get("version"),
                "description": locale.get("description"),
                "type": addon.get("type"),
                "active": addon.get("active"),
                "source_url": addon.get("sourceURI"),
                "path": addon.get("path"),
                "permissions": (addon.get("userPermissions") or {}).get("permissions"),
            }
        )
    return rows


@collector("software.browser_extensions", LINUX, MACOS, WINDOWS)
def collect_browser_extensions() -> Rows:
    rows = Rows()
    platform = current_platform()
    for uid, username, home in user_homes():
        owner = {"uid": uid, "username": username}
        for browser, relative in CHROMIUM_ROOTS[platform].items():
            root = home / relative
            for profile in list_dir(root):
                extensions = root / profile / "Extensions"
                for identifier in list_dir(extensions):
                    for version in list_dir(extensions / identifier):
                        manifest = extensions / identifier / version / "manifest.json"
                        data = read_user_file(manifest, rows)
                        if data is None:
                            continue
                        try:
                            fields = parse_chrome_manifest(data)
                        except ValueError as error:
                            rows.warnings.append(f"{manifest}: invalid JSON: {error}")
                            continue
                        rows.rows.append(
                            {
                                **owner,
                                **fields,
                                "browser_type": browser,
                                "profile": profile,
                                "identifier": identifier,
                                "path": str(manifest.parent),
                                "type": "extension",
                            }
                        )
        for relative in FIREFOX_ROOTS[platform]:
            root = home / relative
            for profile in list_dir(root):
                listing = root / profile / "extensions.json"
                data = read_user_file(listing, rows)
                if data is None:
                    continue
                try:
                    addons = parse_firefox_extensions(data)
                except ValueError as error:
                    rows.warnings.append(f"{listing}: invalid JSON: {error}")
                    continue
                for addon in addons:
                    rows.rows.append(
                        {
                            **owner,
                            **addon,
                            "browser_type": "firefox",
                            "profile": profile,
                        }
                    )
    if not rows.sources:
        rows.reason = "no browser profiles found in any home directory"
    return rows


def describe_process(process: Any) -> dict[str, Any] | None:
    """Read a process's name, exe and status with per-field error capture.

    Returns None when the process exited. A zombie is kept with its status, and
    `field_errors` names the fields that were denied or belong to a zombie.
    """
    row: dict[str, Any] = {"pid": process.pid}
    errors: dict[str, str] = {}
    for field in ("name", "exe", "status"):
        try:
            row[field] = getattr(process, field)()
        except psutil.ZombieProcess:
            row[field], errors[field] = None, "zombie"
        except psutil.NoSuchProcess:
            return None
        except psutil.AccessDenied:
            row[field], errors[field] = None, "access_denied"
    try:
        row["cmdline"] = process.cmdline()
    except psutil.ZombieProcess:
        row["cmdline"], errors["cmdline"] = None, "zombie"
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        row["cmdline"], errors["cmdline"] = None, "access_denied"
    if "zombie" in errors.values():
        row["status"] = psutil.STATUS_ZOMBIE
    row["field_errors"] = errors
    return row


def describe_processes(
    processes: Iterable[Any],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Describe each process; those that exit meanwhile are dropped and counted."""
    rows, exited = [], 0
    for process in processes:
        row = describe_process(process)
        if row is None:
            exited += 1
        else:
            rows.append(row)
    warnings = [f"{exited} process exited during collection"] if exited else []
    return rows, warnings


def process_details(pids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Return name, exe and command line of each live pid, by pid."""
    details = {}
    for pid in sorted(set(pids)):
        try:
            process = psutil.Process(pid)
        except psutil.Error:
            continue
        row = describe_process(process)
        if row is not None:
            details[pid] = row
    return details


def add_process_columns(rows: list[dict[str, Any]]) -> None:
    """Fill the name, path and cmdline columns from each row's pid."""
    details = process_details(row["pid"] for row in rows if row.get("pid"))
    for row in rows:
        detail = details.get(row.get("pid") or -1, {})
        row["name"] = detail.get("name")
        row["path"] = detail.get("exe")
        cmdline = detail.get("cmdline")
        row["cmdline"] = " ".join(cmdline) if cmdline else None


FAMILIES = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}
PROTOCOLS = {socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp"}


def psutil_sockets() -> list[dict[str, Any]]:
    """Return inet sockets with owning pids from psutil (macOS and Windows APIs)."""
    rows = []
    for connection in psutil.net_connections(kind="inet"):
        local = connection.laddr
        remote = connection.raddr
        local_address, mapped = normalise_mapped(local.ip if local else None)
        remote_address, remote_mapped = normalise_mapped(remote.ip if remote else None)
        rows.append(
            {
                "pid": connection.pid,
                "fd": connection.fd if connection.fd != -1 else None,
                "family": FAMILIES.get(connection.family, str(connection.family)),
                "protocol": PROTOCOLS.get(connection.type, str(connection.type)),
                "local_address": local_address,
                "local_port": local.port if local else None,
                "remote_address": remote_address,
                "remote_port": remote.port if remote else None,
                "state": connection.status,
                "ipv4_mapped": mapped or remote_mapped,
                "pid_resolution": "resolved" if connection.pid else "not_found",
            }
        )
    return rows


def normalise_mapped(address: str | None) -> tuple[str | None, bool]:
    """Turn ::ffff:a.b.c.d into a.b.c.d and report whether it was mapped."""
    if address and address.lower().startswith("::ffff:") and "." in address:
        return address[7:], True
    return address, False


def is_listening(row: dict[str, Any]) -> bool:
    """Tell whether a socket row is a TCP listener or an unconnected UDP socket."""
    if row["protocol"] == "tcp":
        return row["state"] == "LISTEN"
    return not row.get("remote_port")


def as_listening_row(row: dict[str, Any]) -> dict[str, Any]:
    """Rename a socket row's columns to listening_ports' names."""
    listening = dict(row)
    listening["address"] = listening.pop("local_address")
    listening["port"] = listening.pop("local_port")
    for name in ("remote_address", "remote_port", "state"):
        listening.pop(name, None)
    return listening


def psutil_socket_rows(listening: bool) -> Rows:
    """Build connections or listening_ports rows from psutil (macOS, Windows)."""
    sockets = [row for row in psutil_sockets() if is_listening(row) == listening]
    add_process_columns(sockets)
    rows = [as_listening_row(row) for row in sockets] if listening else sockets
    result = Rows(rows=rows, sources=["psutil.net_connections"])
    unresolved = sum(1 for row in sockets if row["pid"] is None)
    if unresolved:
        result.partial = True
        result.warnings.append(f"{unresolved} socket(s) without owning PID")
    return result


@collector("network.connections", MACOS, WINDOWS)
def collect_connections_psutil() -> Rows:
    return psutil_socket_rows(listening=False)


@collector("network.listening_ports", MACOS, WINDOWS)
def collect_listening_psutil() -> Rows:
    return psutil_socket_rows(listening=True)


ADDRESS_FAMILIES = {
    socket.AF_INET: "ipv4",
    socket.AF_INET6: "ipv6",
    psutil.AF_LINK: "link",
}


@collector("network.interfaces", LINUX, MACOS, WINDOWS)
def collect_interfaces() -> Rows:
    stats = psutil.net_if_stats()
    rows = Rows(sources=["psutil.net_if_addrs", "psutil.net_if_stats"])
    for interface, addresses in sorted(psutil.net_if_addrs().items()):
        stat = stats.get(interface)
        mac = next((a.address for a in addresses if a.family == psutil.AF_LINK), None)
        for address in addresses:
            rows.rows.append(
                {
                    "interface": interface,
                    "address": address.address,
                    "mask": address.netmask,
                    "broadcast": address.broadcast,
                    "family": ADDRESS_FAMILIES.get(address.family, str(address.family)),
                    "mac": mac,
                    "mtu": stat.mtu if stat else None,
                    "is_up": stat.isup if stat else None,
                    "speed": stat.speed if stat else None,
                    "flags": getattr(stat, "flags", None) if stat else None,
                }
            )
    return rows


@collector("users.logged_in_users", MACOS, WINDOWS)
def collect_logged_in_psutil() -> Rows:
    rows = Rows(sources=["psutil.users"])
    for user in psutil.users():
        rows.rows.append(
            {
                "type": "user",
                "user": user.name,
                "tty": user.terminal,
                "host": user.host,
                "time": int(user.started),
                "time_utc": iso_utc(user.started),
                "pid": user.pid,
            }
        )
    return rows


def uptime_row(boot_time: float, now: float) -> dict[str, Any]:
    """Split the seconds since `boot_time` into osquery's uptime columns."""
    total = max(0, int(now - boot_time))
    return {
        "days": total // 86400,
        "hours": total % 86400 // 3600,
        "minutes": total % 3600 // 60,
        "seconds": total % 60,
        "total_seconds": total,
        "boot_time": int(boot_time),
        "boot_time_utc": iso_utc(boot_time),
    }


@collector("system.uptime", WINDOWS)
def collect_uptime_psutil() -> Rows:
    return Rows(rows=[uptime_row(psutil.boot_time(), time.time())], sources=["psutil"])


def time_row(zone_name: str | None) -> dict[str, Any]:
    """Describe the current UTC time, local time and the local zone."""
    now = time.time()
    local = datetime.fromtimestamp(now).astimezone()
    offset = local.strftime("%z")
    return {
        "unix_time": int(now),
        "datetime": iso_utc(now),
        "local_time": local.isoformat(),
        "local_timezone": local.tzname(),
        "utc_offset": f"{offset[:3]}:{offset[3:]}" if offset else None,
        "timezone_name": zone_name,
    }


def localtime_zone_name(path: str = "/etc/localtime") -> str | None:
    """Read the zone name from the /etc/localtime link target (POSIX)."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else None
