"""macOS collectors: the native tools (arp, netstat, dscl, launchctl, plists).

Each collector runs a tool and hands its output to a pure parser in
`parsers_macos`, which the tests exercise on sample outputs.
"""

import os
import socket
import time
from pathlib import Path

import psutil

from agent.forensics import parsers_macos as parse
from agent.forensics.common import (
    localtime_zone_name,
    read_user_file,
    time_row,
    uptime_row,
    user_homes,
)
from agent.forensics.linux import hosts_rows
from agent.forensics.model import MACOS, WINDOWS, Rows, collector
from agent.forensics.parsers_linux import parse_crontab, parse_exports
from agent.forensics.safeio import list_dir, read_capped, read_text, run_command

SLOW_COMMAND_TIMEOUT = 240.0


def tool_output(argv: list[str], rows: Rows, timeout: float = 60.0) -> bytes:
    """Run a tool, record it as a source, and raise PermissionError when denied."""
    output = run_command(argv, timeout=timeout)
    stderr = output.stderr.decode(errors="replace")
    if output.returncode != 0 and (
        "ermission" in stderr or "must be run as root" in stderr
    ):
        raise PermissionError(f"{' '.join(argv)}: {stderr.strip()}")
    if output.returncode != 0:
        rows.partial = True
        rows.warnings.append(
            f"{' '.join(argv)} exited {output.returncode}: {stderr[:300]}"
        )
    rows.sources.append(" ".join(argv))
    return output.stdout


@collector("network.arp_cache", MACOS)
def collect_arp_cache() -> Rows:
    rows = Rows()
    rows.rows = parse.parse_arp_an(tool_output(["arp", "-an"], rows).decode())
    rows.rows += parse.parse_ndp_an(tool_output(["ndp", "-an"], rows).decode())
    return rows


@collector("network.etc_hosts", MACOS)
def collect_etc_hosts() -> Rows:
    return hosts_rows("/etc/hosts")


@collector("network.firewall", MACOS)
def collect_firewall() -> Rows:
    rows = Rows()
    tool = "/usr/libexec/ApplicationFirewall/socketfilterfw"
    outputs = [
        tool_output([tool, flag], rows).decode(errors="replace")
        for flag in ("--getglobalstate", "--getstealthmode", "--listapps")
    ]
    rows.rows = parse.parse_socketfilterfw(*outputs)
    try:
        rules = tool_output(["pfctl", "-s", "rules"], rows).decode(errors="replace")
        rows.rows += [
            {"kind": "rule", "source": "pfctl", "rule": line}
            for line in rules.splitlines()
            if line.strip()
        ]
    except PermissionError as error:
        rows.partial = True
        rows.warnings.append(f"pf rules need root: {error}")
    return rows


@collector("network.routes", MACOS)
def collect_routes() -> Rows:
    rows = Rows()
    rows.rows = parse.parse_netstat_routes(
        tool_output(["netstat", "-rn"], rows).decode()
    )
    return rows


@collector("network.mounts", MACOS, WINDOWS)
def collect_mounts_psutil() -> Rows:
    rows = Rows(sources=["psutil.disk_partitions(all=True)"])
    for partition in psutil.disk_partitions(all=True):
        rows.rows.append(
            {
                "device": partition.device,
                "path": partition.mountpoint,
                "type": partition.fstype,
                "flags": partition.opts,
            }
        )
    return rows


@collector("network.shares", MACOS)
def collect_shares() -> Rows:
    rows = Rows()
    rows.rows = parse.parse_sharing_list(
        tool_output(["sharing", "-l"], rows).decode(errors="replace")
    )
    if os.path.exists("/etc/exports"):
        rows.rows += parse_exports(read_text("/etc/exports"))
        rows.sources.append("/etc/exports")
    return rows


@collector("software.pipes", MACOS)
def collect_pipes() -> Rows:
    rows = Rows()
    output = tool_output(["lsof", "-n", "-F", "pcfatin"], rows, SLOW_COMMAND_TIMEOUT)
    # lsof exits 1 when some files could not be listed; the rows are still valid.
    rows.partial = False
    rows.rows = parse.pipe_rows_from_lsof(
        parse.parse_lsof_fields(output.decode(errors="replace"))
    )
    return rows


@collector("software.kernel_modules", MACOS)
def collect_kernel_modules() -> Rows:
    rows = Rows()
    try:
        output = tool_output(["kmutil", "showloaded", "--list-only"], rows)
    except FileNotFoundError:
        output = tool_output(["kextstat"], rows)
    rows.rows = parse.parse_kmutil_showloaded(output.decode(errors="replace"))
    return rows


@collector("software.patches", MACOS)
def collect_patches() -> Rows:
    rows = Rows()
    path = "/Library/Receipts/InstallHistory.plist"
    if os.path.exists(path):
        data, _truncated = read_capped(path, 64 * 1024 * 1024, follow_links=True)
        rows.rows = parse.parse_install_history(data)
        rows.sources.append(path)
    output = tool_output(["softwareupdate", "--history"], rows, SLOW_COMMAND_TIMEOUT)
    rows.rows += parse.parse_softwareupdate_history(output.decode(errors="replace"))
    return rows


@collector("software.programs", MACOS)
def collect_programs() -> Rows:
    rows = Rows()
    output = tool_output(
        ["system_profiler", "SPApplicationsDataType", "-json"],
        rows,
        SLOW_COMMAND_TIMEOUT,
    )
    rows.rows = parse.parse_system_profiler_apps(output)
    return rows


LAUNCHD_FOLDERS = (
    "/Library/LaunchDaemons",
    "/Library/LaunchAgents",
    "/System/Library/LaunchDaemons",
    "/System/Library/LaunchAgents",
)


def launchd_rows(rows: Rows) -> list[dict]:
    """Read every launchd job plist, system-wide and in each user's LaunchAgents."""
    folders = [(Path(f), None) for f in LAUNCHD_FOLDERS] + [
        (home / "Library/LaunchAgents", name) for _uid, name, home in user_homes()
    ]
    jobs = []
    for folder, username in folders:
        for name in list_dir(folder):
            if not name.endswith(".plist"):
                continue
            data = read_user_file(folder / name, rows)
            if data is None:
                continue
            try:
                job = parse.parse_launchd_plist(data)
            except Exception as error:
                rows.warnings.append(f"{folder / name}: invalid plist: {error}")
                continue
            job.update(path=str(folder / name), source=str(folder), type="launchd")
            job["username"] = job["username"] or username
            jobs.append(job)
    return jobs


@collector("software.services", MACOS)
def collect_services() -> Rows:
    rows = Rows()
    rows.rows = parse.parse_launchctl_list(
        tool_output(["launchctl", "list"], rows).decode(errors="replace")
    )
    return rows


@collector("software.startup_items", MACOS)
def collect_startup_items() -> Rows:
    rows = Rows()
    rows.rows = launchd_rows(rows)
    for name in list_dir("/usr/lib/cron/tabs"):
        data = read_user_file(Path("/usr/lib/cron/tabs") / name, rows)
        for entry in parse_crontab(
            (data or b"").decode(errors="replace"), system=False
        ):
            rows.rows.append(
                {
                    "name": name,
                    "path": f"/usr/lib/cron/tabs/{name}",
                    "type": "cron",
                    "username": name,
                    **entry,
                    "source": "/usr/lib/cron/tabs",
                }
            )
    return rows


@collector("users.users", MACOS)
def collect_users() -> Rows:
    rows = Rows()
    output = tool_output(
        [
            "dscl",
            "-plist",
            ".",
            "-readall",
            "/Users",
            "RecordName",
            "UniqueID",
            "PrimaryGroupID",
            "NFSHomeDirectory",
            "UserShell",
            "RealName",
            "GeneratedUID",
            "IsHidden",
        ],
        rows,
    )
    rows.rows = parse.parse_dscl_users(output)
    return rows


@collector("users.groups", MACOS)
def collect_groups() -> Rows:
    rows = Rows()
    output = tool_output(
        [
            "dscl",
            "-plist",
            ".",
            "-readall",
            "/Groups",
            "RecordName",
            "PrimaryGroupID",
            "GroupMembership",
            "RealName",
            "GeneratedUID",
        ],
        rows,
    )
    rows.rows = parse.parse_dscl_groups(output)
    return rows


@collector("users.login_history", MACOS)
def collect_login_history() -> Rows:
    rows = Rows()
    rows.rows = parse.parse_last(tool_output(["last"], rows).decode(errors="replace"))
    return rows


@collector("system.time", MACOS)
def collect_time() -> Rows:
    return Rows(rows=[time_row(localtime_zone_name())], sources=["/etc/localtime"])


@collector("system.os_version", MACOS)
def collect_os_version() -> Rows:
    rows = Rows()
    row = parse.parse_sw_vers(tool_output(["sw_vers"], rows).decode(errors="replace"))
    uname = os.uname()
    row.update(
        arch=uname.machine, kernel_version=uname.release, hostname=socket.gethostname()
    )
    rows.rows = [row]
    return rows


@collector("system.uptime", MACOS)
def collect_uptime() -> Rows:
    rows = Rows()
    output = tool_output(["sysctl", "-n", "kern.boottime"], rows)
    rows.rows = [uptime_row(parse.parse_sysctl_boottime(output.decode()), time.time())]
    return rows


@collector("system.drives", MACOS)
def collect_drives() -> Rows:
    rows = Rows()
    rows.rows = parse.parse_diskutil_list(
        tool_output(["diskutil", "list", "-plist"], rows)
    )
    return rows
