"""Pure parsers for Windows sources: PowerShell JSON, registry values, prefetch."""

import json
import re
import struct
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent.forensics.model import iso_utc

# Seconds between 1601-01-01 (FILETIME's epoch) and 1970-01-01.
FILETIME_EPOCH_OFFSET = 11_644_473_600


def parse_ps_json(text: str | bytes) -> list[dict[str, Any]]:
    """Parse `ConvertTo-Json` output, which is one object, a list, or nothing."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    text = text.strip()
    if not text:
        return []
    document = json.loads(text)
    if document is None:
        return []
    return document if isinstance(document, list) else [document]


def ps_epoch(value: Any) -> int | None:
    """Convert a PowerShell date (`/Date(ms)/` or ISO 8601) to epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if isinstance(value, str):
        match = re.match(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$", value)
        if match:
            return int(match.group(1)) // 1000
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int(moment.astimezone().timestamp())
    return None


def ps_date_utc(value: Any) -> str | None:
    """Render a PowerShell date as ISO 8601 UTC."""
    return iso_utc(ps_epoch(value))


def filetime_to_epoch(filetime: int) -> float | None:
    """Convert a FILETIME (100 ns ticks since 1601) to epoch seconds."""
    if filetime <= 0:
        return None
    return filetime / 10_000_000 - FILETIME_EPOCH_OFFSET


def map_objects(
    objects: list[dict[str, Any]],
    fields: dict[str, str | Callable[[dict[str, Any]], Any]],
    **constants: Any,
) -> list[dict[str, Any]]:
    """Build rows from PowerShell objects: column -> property name or function."""
    rows = []
    for item in objects:
        row = {
            column: source(item) if callable(source) else item.get(source)
            for column, source in fields.items()
        }
        rows.append({**row, **constants})
    return rows


def parse_neighbors(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert `Get-NetNeighbor` objects to arp_cache rows."""
    return map_objects(
        objects,
        {
            "address": "IPAddress",
            "mac": "LinkLayerAddress",
            "interface": "InterfaceAlias",
            "state": "State",
            "permanent": lambda o: o.get("State") == "Permanent",
            "family": lambda o: "ipv6" if ":" in (o.get("IPAddress") or "") else "ipv4",
        },
    )


def parse_routes(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert `Get-NetRoute` objects to routes rows."""

    def prefix(item: dict[str, Any], part: int) -> str | None:
        value = item.get("DestinationPrefix") or ""
        pieces = value.split("/")
        return pieces[part] if len(pieces) == 2 else None

    return map_objects(
        objects,
        {
            "destination": lambda o: prefix(o, 0),
            "netmask": lambda o: prefix(o, 1),
            "gateway": "NextHop",
            "interface": "InterfaceAlias",
            "metric": "RouteMetric",
            "family": lambda o: (
                "ipv6" if ":" in (o.get("DestinationPrefix") or "") else "ipv4"
            ),
            "type": "Protocol",
        },
    )


def parse_firewall(
    profiles: list[dict[str, Any]], rules: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Convert firewall profiles and rules (from HNetCfg.FwPolicy2) to rows."""
    rows = map_objects(
        profiles,
        {
            "name": "Name",
            "enabled": lambda o: str(o.get("Enabled")).lower() in ("true", "1"),
            "policy": lambda o: (
                f"inbound {o.get('DefaultInboundAction')}, "
                f"outbound {o.get('DefaultOutboundAction')}"
            ),
            "rule": "LogFileName",
        },
        kind="profile",
        source="Get-NetFirewallProfile",
    )
    directions: dict[Any, str] = {1: "in", 2: "out"}
    actions: dict[Any, str] = {0: "block", 1: "allow"}
    protocols: dict[Any, str] = {
        1: "icmp",
        6: "tcp",
        17: "udp",
        58: "icmpv6",
        256: "any",
    }
    rows += map_objects(
        rules,
        {
            "name": "Name",
            "enabled": "Enabled",
            "direction": lambda o: directions.get(
                o.get("Direction"), o.get("Direction")
            ),
            "action": lambda o: actions.get(o.get("Action"), o.get("Action")),
            "protocol": lambda o: protocols.get(o.get("Protocol"), o.get("Protocol")),
            "local_ports": "LocalPorts",
            "remote_ports": "RemotePorts",
            "local_addresses": "LocalAddresses",
            "remote_addresses": "RemoteAddresses",
            "app_name": "ApplicationName",
            "profile": "Profiles",
            "table": "Grouping",
            "rule": "serviceName",
        },
        kind="rule",
        source="HNetCfg.FwPolicy2",
    )
    return rows


def parse_shares(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert `Get-SmbShare` objects to shares rows."""
    return map_objects(
        objects,
        {
            "name": "Name",
            "path": "Path",
            "description": "Description",
            "type": "ShareType",
            "options": "ScopeName",
        },
    )


def parse_drivers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert `Win32_SystemDriver` objects to kernel_modules rows."""
    return map_objects(
        objects,
        {
            "name": "Name",
            "description": "DisplayName",
            "path": "PathName",
            "state": "State",
            "status": "Status",
            "start_mode": "StartMode",
            "type": "ServiceType",
        },
    )


def parse_hotfixes(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert `Get-HotFix` objects to patches rows."""
    return map_objects(
        objects,
        {
            "hotfix_id": "HotFixID",
            "description": "Description",
            "installed_by": "InstalledBy",
            "installed_on": lambda o: ps_date_utc(o.get("InstalledOn")),
        },
        source="Win32_QuickFixEngineering",
        action="install",
    )


def parse_update_history(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert Windows Update Agent history entries to patches rows."""
    operations: dict[Any, str] = {1: "install", 2: "uninstall", 3: "other"}
    return map_objects(
        objects,
        {
            "name": "Title",
            "hotfix_id": lambda o: _kb(o.get("Title")),
            "installed_on": lambda o: ps_date_utc(o.get("Date")),
            "action": lambda o: operations.get(o.get("Operation"), o.get("Operation")),
            "description": lambda o: f"result code {o.get('ResultCode')}",
        },
        source="Microsoft.Update.Session",
    )


def _kb(title: str | None) -> str | None:
    match = re.search(r"\b(KB\d+)\b", title or "")
    return match.group(1) if match else None


def parse_services(
    objects: list[dict[str, Any]], service_dlls: dict[str, str]
) -> list[dict[str, Any]]:
    """Convert `Win32_Service` objects to services rows, adding each ServiceDll."""
    return map_objects(
        objects,
        {
            "name": "Name",
            "display_name": "DisplayName",
            "description": "Description",
            "status": "State",
            "start_type": "StartMode",
            "path": "PathName",
            "user_account": "StartName",
            "pid": "ProcessId",
            "service_type": "ServiceType",
            "module_path": lambda o: service_dlls.get((o.get("Name") or "").lower()),
        },
    )


def parse_scheduled_tasks(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert `Get-ScheduledTask` objects (actions flattened) to startup rows."""
    rows = []
    for task in objects:
        actions = task.get("Actions") or []
        if isinstance(actions, dict):
            actions = [actions]
        for action in actions or [{}]:
            rows.append(
                {
                    "name": task.get("TaskName"),
                    "path": f"{task.get('TaskPath') or ''}{task.get('TaskName') or ''}",
                    "type": "scheduled_task",
                    "source": "Get-ScheduledTask",
                    "status": task.get("State"),
                    "username": task.get("UserId"),
                    "command": action.get("Execute"),
                    "args": action.get("Arguments"),
                    "schedule": task.get("Triggers"),
                }
            )
    return rows


def parse_run_key(hive: str, key: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Convert the values of a Run/RunOnce key to startup rows."""
    return [
        {
            "name": name,
            "command": str(value),
            "path": f"{hive}\\{key}",
            "type": "run_key",
            "source": f"{hive}\\{key}\\{name}",
            "status": "enabled",
        }
        for name, value in sorted(values.items())
    ]


WMI_FIELDS = {
    "filter": {"name": "Name", "query": "Query", "query_language": "QueryLanguage"},
    "consumer": {
        "name": "Name",
        "command_line_template": "CommandLineTemplate",
        "executable_path": "ExecutablePath",
        "scripting_engine": "ScriptingEngine",
        "script_file_name": "ScriptFileName",
        "script_text": "ScriptText",
    },
    "binding": {"consumer": "Consumer", "filter": "Filter"},
}


def parse_wmi_persistence(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert __EventFilter, consumer and binding objects to rows.

    Each object carries `Kind` (filter, consumer, binding), `Namespace`,
    `Class` and `RelativePath` added by the collecting script.
    """
    rows = []
    for item in objects:
        kind = item.get("Kind")
        fields = WMI_FIELDS.get(str(kind), {})
        row = {column: item.get(source) for column, source in fields.items()}
        row.update(
            kind=f"{kind}:{item.get('Class')}" if kind == "consumer" else kind,
            namespace=item.get("Namespace"),
            relative_path=item.get("RelativePath"),
        )
        rows.append(row)
    return rows


def parse_local_users(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert `Win32_UserAccount` (LocalAccount=TRUE) objects to users rows."""
    return map_objects(
        objects,
        {
            "username": "Name",
            "uuid": "SID",
            "description": "Description",
            "enabled": lambda o: not o.get("Disabled"),
            "uid": lambda o: _rid(o.get("SID")),
            "type": "AccountType",
            "password_status": lambda o: (
                "required" if o.get("PasswordRequired") else "not_required"
            ),
        },
    )


def _rid(sid: str | None) -> int | None:
    tail = (sid or "").rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def parse_group_members(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark each group member resolved or not; an orphaned SID keeps no name.

    `Get-LocalGroupMember` fails for a whole group on one unresolvable SID, so
    members come from ADSI, which returns the SID itself as the name then.
    """
    rows = []
    for member in members:
        sid, name = member.get("sid"), member.get("name")
        resolved = bool(name) and name != sid and not str(name).startswith("S-1-")
        rows.append(
            {"sid": sid, "name": name if resolved else None, "resolved": resolved}
        )
    return rows


def parse_local_groups(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert groups with ADSI members to groups rows."""
    rows = []
    for group in objects:
        members = group.get("Members") or []
        if isinstance(members, dict):
            members = [members]
        rows.append(
            {
                "groupname": group.get("Name"),
                "group_sid": group.get("SID"),
                "gid": _rid(group.get("SID")),
                "comment": group.get("Description"),
                "members": parse_group_members(members),
            }
        )
    return rows


EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
LOGON_EVENTS = {
    4624: "logon",
    4625: "failed_logon",
    4634: "logoff",
    4647: "logoff",
    4648: "explicit_logon",
    4778: "rdp_reconnect",
    4779: "rdp_disconnect",
}


def parse_logon_event(xml_text: str) -> dict[str, Any]:
    """Convert one Security log event's XML to a login_history row."""
    # The XML comes from the local event log through PowerShell; expat 2.4+
    # (bundled with Python 3.11) refuses entity-expansion attacks.
    root = ElementTree.fromstring(xml_text)  # noqa: S314

    system = root.find(f"{EVENT_NS}System")
    event_id = (
        int(system.findtext(f"{EVENT_NS}EventID") or 0) if system is not None else 0
    )
    created = system.find(f"{EVENT_NS}TimeCreated") if system is not None else None
    when = ps_epoch((created.get("SystemTime") or "") if created is not None else None)

    data = {
        item.get("Name"): item.text
        for item in root.iter(f"{EVENT_NS}Data")
        if item.get("Name")
    }

    user = data.get("TargetUserName") or data.get("AccountName")
    domain = data.get("TargetDomainName")
    return {
        "username": f"{domain}\\{user}" if domain and user else user,
        "host": data.get("WorkstationName") or data.get("ClientName"),
        "address": data.get("IpAddress") or data.get("ClientAddress"),
        "logon_type": data.get("LogonType"),
        "event_id": event_id,
        "type_name": LOGON_EVENTS.get(event_id, str(event_id)),
        "time": when,
        "time_utc": iso_utc(when),
        "pid": int(data["ProcessId"] or "0", 16)
        if (data.get("ProcessId") or "").startswith("0x")
        else None,
        "source": "Security",
    }


def parse_logical_disks(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert `Win32_LogicalDisk` objects to drives rows."""
    drive_types: dict[Any, str] = {
        2: "removable",
        3: "local",
        4: "network",
        5: "cdrom",
        6: "ramdisk",
    }
    return map_objects(
        objects,
        {
            "name": "DeviceID",
            "size": "Size",
            "free_space": "FreeSpace",
            "file_system": "FileSystem",
            "label": "VolumeName",
            "serial": "VolumeSerialNumber",
            "type": lambda o: drive_types.get(o.get("DriveType"), o.get("DriveType")),
            "removable": lambda o: o.get("DriveType") == 2,
            "mountpoint": "DeviceID",
        },
    )


def parse_uninstall_entries(
    entries: list[tuple[str, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Convert Uninstall registry subkeys to programs rows.

    Subkeys without DisplayName (AddressBook, Connection Manager and the like)
    are not installed programs and are skipped.
    """
    rows = []
    for key_path, values in entries:
        name = values.get("DisplayName")
        if not name:
            continue
        rows.append(
            {
                "name": name,
                "version": values.get("DisplayVersion"),
                "install_location": values.get("InstallLocation"),
                "source": values.get("InstallSource"),
                "publisher": values.get("Publisher"),
                "uninstall_string": values.get("UninstallString"),
                "install_date": values.get("InstallDate"),
                "identifier": key_path.rsplit("\\", 1)[-1],
                "path": key_path,
                "type": "msi" if values.get("WindowsInstaller") == 1 else "registry",
            }
        )
    return rows


def parse_windows_version(values: dict[str, Any]) -> dict[str, Any]:
    """Describe Windows from HKLM\\...\\CurrentVersion values.

    Windows 11 still has "Windows 10" in ProductName, so build 22000 and later
    is named Windows 11.
    """
    raw = values.get("ProductName")
    build_text = str(
        values.get("CurrentBuild") or values.get("CurrentBuildNumber") or ""
    )
    build = int(build_text) if build_text.isdigit() else None
    name = raw
    if raw and build is not None and build >= 22000:
        name = raw.replace("Windows 10", "Windows 11")
    return {
        "name": name,
        "build": build,
        "revision": values.get("UBR"),
        "product_name_raw": raw,
        "version": values.get("DisplayVersion") or values.get("ReleaseId"),
        "major": values.get("CurrentMajorVersionNumber"),
        "minor": values.get("CurrentMinorVersionNumber"),
        "codename": values.get("EditionID"),
        "platform": "windows",
    }


def pipe_rows(names: list[str]) -> list[dict[str, Any]]:
    """Turn the names under \\\\.\\pipe\\ into pipes rows, names unchanged.

    Pipe names may contain backslashes and characters illegal in paths.
    """
    return [
        {"name": name, "path": f"\\\\.\\pipe\\{name}", "type": "named"}
        for name in names
    ]


PREFETCH_VERSIONS = {17, 23, 26, 30, 31}
# Offsets of the last run time(s) and the run count by format version,
# from the libyal/libscca description of the Windows Prefetch format.
PREFETCH_RUN_INFO = {
    17: (0x78, 1, 0x90),
    23: (0x80, 1, 0x98),
    26: (0x80, 8, 0xD0),
    30: (0x80, 8, 0xD0),
    31: (0x80, 8, 0xD0),
}
MAM_SIGNATURE = b"MAM\x04"


def parse_prefetch(
    data: bytes, decompress: Callable[[bytes, int], bytes] | None = None
) -> dict[str, Any]:
    """Parse a prefetch file's header and run information, detected by magic.

    Windows 10 and later compress the file ("MAM\\x04" + uncompressed size +
    LZXPRESS-Huffman). Without `decompress` the result reports the compression
    and the data is never parsed as SCCA.
    """
    result: dict[str, Any] = {"compressed": False, "uncompressed_size": None}
    if data[:4] == MAM_SIGNATURE:
        size = struct.unpack_from("<I", data, 4)[0]
        result.update(compressed=True, uncompressed_size=size)
        if decompress is None:
            return {
                **result,
                "status": "error",
                "error": "unsupported_compression: MAM/LZXPRESS-Huffman",
            }
        data = decompress(data[8:], size)
    if len(data) < 84 or data[4:8] != b"SCCA":
        return {
            **result,
            "status": "error",
            "error": "not a prefetch file (no SCCA signature)",
        }
    version, _signature, _unknown, file_size = struct.unpack_from("<I4sII", data, 0)
    if version not in PREFETCH_VERSIONS:
        return {
            **result,
            "version": version,
            "status": "error",
            "error": f"unsupported_version: {version}",
        }
    name = data[16:76].decode("utf-16-le", errors="replace").split("\0", 1)[0]
    result.update(
        version=version,
        signature="SCCA",
        file_size=file_size,
        executable=name,
        prefetch_hash=f"{struct.unpack_from('<I', data, 76)[0]:08X}",
        status="ok",
    )
    result.update(_prefetch_runs(data, version))
    return result


def _prefetch_runs(data: bytes, version: int) -> dict[str, Any]:
    # NOTE: some Windows 10 v30 files have a 212-byte file information block
    # with the run count at 0xC8; this reads the 0xD0 layout of other v30 files.
    times_offset, count, count_offset = PREFETCH_RUN_INFO[version]
    if len(data) < count_offset + 4:
        return {}
    times = [
        filetime_to_epoch(struct.unpack_from("<Q", data, times_offset + 8 * i)[0])
        for i in range(count)
    ]
    valid = [int(t) for t in times if t]
    return {
        "run_count": struct.unpack_from("<I", data, count_offset)[0],
        "last_run_time": valid[0] if valid else None,
        "last_run_time_utc": iso_utc(valid[0]) if valid else None,
        "other_run_times": [iso_utc(t) for t in valid[1:]],
    }
