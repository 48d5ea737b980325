"""Optional osquery source: `osqueryi --json` for artifacts with a matching table.

Used only when a collection requests it and `osqueryi` is on PATH; the native
collectors stay the default and the fallback. `osqueryi --json` prints every
value as a string, so values are converted back to the artifact's column types.
"""

import json
import shutil
from typing import Any

from agent.forensics.model import ARTIFACTS, Rows
from agent.forensics.safeio import run_command

OSQUERY_TIMEOUT = 60.0

# The SELECTs use osquery's own column names, which the artifacts share.
OSQUERY_QUERIES = {
    "network.arp_cache": "SELECT address, mac, interface, permanent FROM arp_cache",
    "network.etc_hosts": "SELECT address, hostnames FROM etc_hosts",
    "network.routes": (
        "SELECT destination, netmask, gateway, flags, interface, mtu, metric, type "
        "FROM routes"
    ),
    "network.mounts": (
        "SELECT device, path, type, flags, blocks_size, blocks, blocks_free, "
        "blocks_available, inodes, inodes_free FROM mounts"
    ),
    "software.kernel_modules": (
        "SELECT name, size, used_by, status, address FROM kernel_modules"
    ),
    "users.users": (
        "SELECT uid, gid, username, description, directory, shell, uuid, type "
        "FROM users"
    ),
    "users.groups": "SELECT gid, groupname, group_sid, comment FROM groups",
    "users.logged_in_users": (
        "SELECT type, user, tty, host, time, pid FROM logged_in_users"
    ),
    "system.uptime": (
        "SELECT days, hours, minutes, seconds, total_seconds FROM uptime"
    ),
    "system.os_version": (
        "SELECT name, version, major, minor, patch, build, platform, platform_like, "
        "codename, arch FROM os_version"
    ),
}


def osquery_available() -> bool:
    """Tell whether an `osqueryi` binary is on PATH."""
    return shutil.which("osqueryi") is not None


def convert(value: Any, kind: str) -> Any:
    """Turn an osqueryi string back into the column's type; "" becomes None."""
    if value is None or value == "":
        return None
    if kind in ("integer", "bigint"):
        try:
            number = int(value)
        except (TypeError, ValueError):
            return None
        return str(number) if kind == "bigint" else number
    if kind == "boolean":
        return str(value) not in ("0", "false", "")
    if kind == "double":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return value


def parse_osqueryi_json(name: str, text: bytes) -> list[dict[str, Any]]:
    """Convert `osqueryi --json` output to rows typed by artifact `name`'s columns."""
    kinds = dict(ARTIFACTS[name].columns)
    rows = []
    for item in json.loads(text or b"[]"):
        rows.append(
            {key: convert(value, kinds.get(key, "text")) for key, value in item.items()}
        )
    return rows


def collect_with_osquery(name: str) -> Rows:
    """Collect `name` through osqueryi; raise RuntimeError when it fails."""
    query = OSQUERY_QUERIES[name]
    output = run_command(["osqueryi", "--json", query], timeout=OSQUERY_TIMEOUT)
    if output.returncode != 0:
        message = output.stderr.decode(errors="replace").strip()[:300]
        raise RuntimeError(f"osqueryi exited {output.returncode}: {message}")
    return Rows(
        rows=parse_osqueryi_json(name, output.stdout), sources=[f"osqueryi: {query}"]
    )
