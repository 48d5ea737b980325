"""Pure parsers for the output of macOS tools (arp, netstat, dscl, launchctl...)."""

import json
import plistlib
import re
from datetime import UTC, datetime
from typing import Any

from agent.forensics.model import iso_utc


def parse_arp_an(text: str) -> list[dict[str, Any]]:
    """Parse `arp -an`: `? (10.0.0.1) at 0:11:22:33:44:55 on en0 ifscope [ethernet]`."""
    pattern = re.compile(r"^\S+ \(([^)]+)\) at (\S+) on (\S+)(.*)$")
    rows = []
    for line in text.splitlines():
        match = pattern.match(line.strip())
        if not match:
            continue
        address, mac, interface, rest = match.groups()
        incomplete = mac == "(incomplete)"
        rows.append(
            {
                "address": address,
                "mac": None if incomplete else mac,
                "interface": interface,
                "permanent": "permanent" in rest,
                "state": "incomplete" if incomplete else "complete",
                "family": "ipv4",
            }
        )
    return rows


def parse_ndp_an(text: str) -> list[dict[str, Any]]:
    """Parse `ndp -an`: Neighbor, Linklayer Address, Netif, Expire, St, Flgs."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        address = fields[0].split("%", 1)[0]
        incomplete = fields[1] == "(incomplete)"
        rows.append(
            {
                "address": address,
                "mac": None if incomplete else fields[1],
                "interface": fields[2],
                "permanent": fields[3] == "permanent",
                "state": fields[4],
                "family": "ipv6",
            }
        )
    return rows


def parse_netstat_routes(text: str) -> list[dict[str, Any]]:
    """Parse `netstat -rn`, whose Internet: and Internet6: sections share columns."""
    rows = []
    family = None
    for line in text.splitlines():
        if line.startswith("Internet6"):
            family = "ipv6"
        elif line.startswith("Internet"):
            family = "ipv4"
        fields = line.split()
        if family is None or len(fields) < 4 or fields[0] in ("Destination", "Routing"):
            continue
        if line.startswith("Internet"):
            continue
        destination, _, netmask = fields[0].partition("/")
        rows.append(
            {
                "destination": destination,
                "netmask": netmask or None,
                "gateway": fields[1],
                "flags": None,
                "interface": fields[3],
                "metric": None,
                "mtu": None,
                "family": family,
                "type": fields[2],
            }
        )
    return rows


def parse_mount(text: str) -> list[dict[str, Any]]:
    """Parse `mount`: `/dev/disk3s1 on / (apfs, local, journaled)`."""
    pattern = re.compile(r"^(.*) on (.*) \(([^,)]+)(?:, ([^)]*))?\)$")
    rows = []
    for line in text.splitlines():
        match = pattern.match(line.strip())
        if match:
            device, path, kind, flags = match.groups()
            rows.append({"device": device, "path": path, "type": kind, "flags": flags})
    return rows


def parse_sharing_list(text: str) -> list[dict[str, Any]]:
    """Parse `sharing -l`: each share starts with unindented `name:` and `path:`."""
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("name:"):
            rows.append({"name": line[5:].strip(), "path": None, "type": "sharing"})
        elif line.startswith("path:") and rows:
            rows[-1]["path"] = line[5:].strip()
    return rows


def parse_socketfilterfw(
    global_state: str, stealth: str, apps: str
) -> list[dict[str, Any]]:
    """Parse the application firewall's global state, stealth mode and app list."""
    enabled = "enabled" in global_state.lower() and "(State = 0)" not in global_state
    rows = [
        {
            "kind": "profile",
            "source": "socketfilterfw",
            "name": "application firewall",
            "enabled": enabled,
            "policy": global_state.strip(),
        },
        {
            "kind": "profile",
            "source": "socketfilterfw",
            "name": "stealth mode",
            "enabled": "enabled" in stealth.lower()
            and "disabled" not in stealth.lower(),
            "policy": stealth.strip(),
        },
    ]
    current = None
    for line in apps.splitlines():
        match = re.match(r"^\s*\d+\s*:\s*(.+?)\s*$", line)
        if match:
            current = {
                "kind": "app",
                "source": "socketfilterfw",
                "app_name": match.group(1),
                "action": None,
            }
            rows.append(current)
        elif current is not None and "(" in line:
            current["action"] = line.strip().strip("()").strip()
    return rows


def parse_lsof_fields(text: str) -> list[dict[str, Any]]:
    """Parse `lsof -F pcfatin` output into one dict per open file."""
    files = []
    process: dict[str, Any] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        if not line:
            continue
        tag, value = line[0], line[1:]
        if tag == "p":
            process = {"pid": int(value), "process_name": None}
            current = None
        elif tag == "c":
            process["process_name"] = value
        elif tag == "f":
            current = {**process, "fd": value}
            files.append(current)
        elif current is not None:
            current[
                {"a": "mode", "t": "type", "i": "inode", "n": "name"}.get(tag, tag)
            ] = value
    return files


def pipe_rows_from_lsof(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep lsof's FIFO and PIPE rows as pipes rows."""
    rows = []
    for item in files:
        if item.get("type") not in ("FIFO", "PIPE"):
            continue
        fd = item.get("fd", "")
        rows.append(
            {
                "pid": item.get("pid"),
                "process_name": item.get("process_name"),
                "fd": int(fd) if fd.isdigit() else None,
                "mode": item.get("mode"),
                "inode": item.get("inode"),
                "type": "named" if item.get("type") == "FIFO" else "unnamed",
                "path": item.get("name") if item.get("type") == "FIFO" else None,
                "name": item.get("name"),
            }
        )
    return rows


KEXT_LINE = re.compile(
    r"^\s*(\d+)\s+(\d+)\s+(0x[0-9a-fA-F]+|0)\s+(0x[0-9a-fA-F]+|\d+)\s+"
    r"(0x[0-9a-fA-F]+|\d+)\s+(\S+)\s+\(([^)]*)\)"
)


def parse_kmutil_showloaded(text: str) -> list[dict[str, Any]]:
    """Parse `kmutil showloaded` or `kextstat` rows.

    Columns: Index, Refs, Address, Size, Wired, Name (Version), UUID.
    """
    rows = []
    for line in text.splitlines():
        match = KEXT_LINE.match(line)
        if not match:
            continue
        _index, refs, address, size, _wired, name, version = match.groups()
        rows.append(
            {
                "name": name,
                "size": int(size, 0),
                "used_by": refs,
                "status": "loaded",
                "address": address,
                "version": version,
                "type": "kernel_extension",
            }
        )
    return rows


def parse_install_history(data: bytes) -> list[dict[str, Any]]:
    """Parse /Library/Receipts/InstallHistory.plist into patches rows."""
    rows = []
    for item in plistlib.loads(data):
        date = item.get("date")
        rows.append(
            {
                "name": item.get("displayName"),
                "version": item.get("displayVersion"),
                "installed_on": iso_utc(date.replace(tzinfo=UTC)) if date else None,
                "installed_by": item.get("processName"),
                "description": ", ".join(item.get("packageIdentifiers", [])) or None,
                "action": "install",
                "source": "InstallHistory.plist",
            }
        )
    return rows


def parse_system_profiler_apps(data: bytes) -> list[dict[str, Any]]:
    """Parse `system_profiler SPApplicationsDataType -json` into programs rows."""
    document = json.loads(data)
    rows = []
    for app in document.get("SPApplicationsDataType", []):
        modified = app.get("lastModified")
        rows.append(
            {
                "name": app.get("_name"),
                "version": app.get("version"),
                "path": app.get("path"),
                "source": app.get("obtained_from"),
                "publisher": ", ".join(app.get("signed_by", [])[:1]) or None,
                "arch": app.get("arch_kind"),
                "install_date": modified,
                "type": "app",
            }
        )
    return rows


def parse_launchctl_list(text: str) -> list[dict[str, Any]]:
    """Parse `launchctl list`: PID, last exit status and label, tab-separated."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        pid, status, label = fields
        rows.append(
            {
                "name": label,
                "pid": int(pid) if pid.isdigit() else None,
                "status": "running" if pid.isdigit() else "stopped",
                "description": f"last exit status {status}",
                "service_type": "launchd",
            }
        )
    return rows


def parse_launchd_plist(data: bytes) -> dict[str, Any]:
    """Read a launchd job plist's label, program and run conditions."""
    job = plistlib.loads(data)
    arguments = job.get("ProgramArguments") or []
    program = job.get("Program") or (arguments[0] if arguments else None)
    schedule = []
    if job.get("StartInterval"):
        schedule.append(f"every {job['StartInterval']} s")
    if job.get("StartCalendarInterval"):
        schedule.append(json.dumps(job["StartCalendarInterval"], default=str))
    if job.get("RunAtLoad"):
        schedule.append("at load")
    if job.get("KeepAlive"):
        schedule.append("keep alive")
    return {
        "name": job.get("Label"),
        "command": program,
        "args": " ".join(str(a) for a in arguments[1:]) or None,
        "status": "disabled" if job.get("Disabled") else "enabled",
        "username": job.get("UserName"),
        "schedule": "; ".join(schedule) or None,
    }


def _dscl_value(record: dict[str, Any], attribute: str) -> str | None:
    values = record.get(f"dsAttrTypeStandard:{attribute}") or []
    return values[0] if values else None


def parse_dscl_users(data: bytes) -> list[dict[str, Any]]:
    """Parse `dscl -plist . -readall /Users ...` into users rows."""
    rows = []
    for record in plistlib.loads(data):
        uid = _dscl_value(record, "UniqueID")
        gid = _dscl_value(record, "PrimaryGroupID")
        hidden = _dscl_value(record, "IsHidden")
        rows.append(
            {
                "username": _dscl_value(record, "RecordName"),
                "uid": int(uid) if uid and uid.lstrip("-").isdigit() else None,
                "gid": int(gid) if gid and gid.lstrip("-").isdigit() else None,
                "description": _dscl_value(record, "RealName"),
                "directory": _dscl_value(record, "NFSHomeDirectory"),
                "shell": _dscl_value(record, "UserShell"),
                "uuid": _dscl_value(record, "GeneratedUID"),
                "is_hidden": (hidden or "").lower() in ("1", "yes", "true"),
                "type": "local",
            }
        )
    return rows


def parse_dscl_groups(data: bytes) -> list[dict[str, Any]]:
    """Parse `dscl -plist . -readall /Groups ...` into groups rows."""
    rows = []
    for record in plistlib.loads(data):
        gid = _dscl_value(record, "PrimaryGroupID")
        rows.append(
            {
                "groupname": _dscl_value(record, "RecordName"),
                "gid": int(gid) if gid and gid.lstrip("-").isdigit() else None,
                "group_sid": _dscl_value(record, "GeneratedUID"),
                "comment": _dscl_value(record, "RealName"),
                "members": record.get("dsAttrTypeStandard:GroupMembership") or [],
            }
        )
    return rows


LAST_LINE = re.compile(
    r"^(\S+)\s+(\S+)\s+(?:(\S+)\s+)?(\w{3} \w{3} [ \d]\d \d\d:\d\d)\s*(.*)$"
)


def parse_last(text: str) -> list[dict[str, Any]]:
    """Parse macOS `last`; it prints no year, so the time stays as text."""
    rows = []
    for line in text.splitlines():
        match = LAST_LINE.match(line)
        if not match or line.startswith("wtmp begins"):
            continue
        user, tty, host, when, rest = match.groups()
        kind = {"reboot": "BOOT_TIME", "shutdown": "RUN_LVL"}.get(user, "USER_PROCESS")
        rows.append(
            {
                "username": user,
                "tty": tty,
                "host": host,
                "type_name": kind,
                "time": None,
                "time_utc": None,
                "source": f"last: {when} {rest}".strip(),
            }
        )
    return rows


def parse_sysctl_boottime(text: str) -> int:
    """Parse `sysctl -n kern.boottime`: `{ sec = 1700000000, usec = 0 } ...`."""
    match = re.search(r"sec = (\d+)", text)
    if not match:
        raise ValueError(f"no boot time in sysctl output {text[:80]!r}")
    return int(match.group(1))


def parse_sw_vers(text: str) -> dict[str, Any]:
    """Parse `sw_vers` (`ProductName: macOS`) into os_version columns."""
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        values[key.strip()] = value.strip()
    version = values.get("ProductVersion", "")
    parts = [int(p) if p.isdigit() else None for p in [*version.split("."), "", ""][:3]]
    return {
        "name": values.get("ProductName"),
        "version": version or None,
        "major": parts[0],
        "minor": parts[1],
        "patch": parts[2],
        "build": values.get("BuildVersion"),
        "platform": "darwin",
    }


def parse_diskutil_list(data: bytes) -> list[dict[str, Any]]:
    """Parse `diskutil list -plist` disks, partitions and APFS volumes."""
    rows = []
    document = plistlib.loads(data)
    for disk in document.get("AllDisksAndPartitions", []):
        name = disk.get("DeviceIdentifier")
        rows.append(
            {
                "name": f"/dev/{name}",
                "parent": None,
                "size": disk.get("Size"),
                "type": disk.get("Content") or "disk",
                "mountpoint": disk.get("MountPoint"),
            }
        )
        children = disk.get("Partitions", []) + disk.get("APFSVolumes", [])
        for part in children:
            rows.append(
                {
                    "name": f"/dev/{part.get('DeviceIdentifier')}",
                    "parent": f"/dev/{name}",
                    "size": part.get("Size"),
                    "type": part.get("Content") or "apfs_volume",
                    "label": part.get("VolumeName"),
                    "uuid": part.get("VolumeUUID") or part.get("DiskUUID"),
                    "mountpoint": part.get("MountPoint"),
                }
            )
    return rows


def parse_softwareupdate_history(text: str) -> list[dict[str, Any]]:
    """Parse `softwareupdate --history`: name, version and date columns."""
    rows = []
    for line in text.splitlines():
        fields = re.split(r"\s{2,}", line.strip())
        if (
            len(fields) < 3
            or fields[0] in ("Display Name", "")
            or set(fields[0]) == {"-"}
        ):
            continue
        when = fields[2]
        for fmt in ("%m/%d/%Y, %H:%M:%S", "%d/%m/%Y, %H:%M:%S"):
            try:
                when = iso_utc(datetime.strptime(fields[2], fmt).astimezone()) or when
                break
            except ValueError:
                continue
        rows.append(
            {
                "name": fields[0],
                "version": fields[1],
                "installed_on": when,
                "action": "install",
                "source": "softwareupdate --history",
            }
        )
    return rows
