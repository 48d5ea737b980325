"""Linux collectors: procfs, sysfs, account files, wtmp and configuration files."""

import gzip
import io
import json
import os
import platform
import socket
import stat
import time
from pathlib import Path
from typing import Any

from agent.forensics import parsers_linux as parse
from agent.forensics.common import (
    add_process_columns,
    as_listening_row,
    is_listening,
    localtime_zone_name,
    time_row,
    uptime_row,
    user_homes,
)
from agent.forensics.model import LINUX, Rows, Unsupported, collector, iso_utc
from agent.forensics.safeio import list_dir, read_capped, read_text, run_command

GZIP_CAP = 64 * 1024 * 1024


class ProcFS:
    """Access to a procfs tree; tests pass another root or override methods."""

    def __init__(self, root: str = "/proc") -> None:
        self.root = Path(root)

    def pids(self) -> list[int]:
        return sorted(int(name) for name in list_dir(self.root) if name.isdigit())

    def listdir(self, relative: str) -> list[str]:
        return os.listdir(self.root / relative)

    def readlink(self, relative: str) -> str:
        return os.readlink(self.root / relative)

    def read(self, relative: str) -> str:
        return read_text(self.root / relative)


SOCKET_TABLES = (("tcp", "ipv4"), ("tcp6", "ipv6"), ("udp", "ipv4"), ("udp6", "ipv6"))


def _namespace_id(link: str) -> str | None:
    # "net:[4026531992]" -> "4026531992"
    return link.partition("[")[2].rstrip("]") or None


def socket_owners(
    procfs: ProcFS,
) -> tuple[dict[int, tuple[int, int]], dict[int, str], bool]:
    """Map socket inodes to (pid, fd) and pids to net namespaces.

    Returns the two maps and whether any fd directory or link was denied,
    which happens even to root in some sandboxes.
    """
    owners: dict[int, tuple[int, int]] = {}
    namespaces: dict[int, str] = {}
    denied = False
    for pid in procfs.pids():
        try:
            namespace = _namespace_id(procfs.readlink(f"{pid}/ns/net"))
            if namespace:
                namespaces[pid] = namespace
        except OSError:
            pass
        try:
            fds = procfs.listdir(f"{pid}/fd")
        except PermissionError:
            denied = True
            continue
        except OSError:
            continue
        for fd in fds:
            try:
                target = procfs.readlink(f"{pid}/fd/{fd}")
            except PermissionError:
                denied = True
                continue
            except OSError:
                continue
            if target.startswith("socket:[") and fd.isdigit():
                owners.setdefault(int(target[8:-1]), (pid, int(fd)))
    return owners, namespaces, denied


def read_socket_tables(
    procfs: ProcFS, namespaces: dict[int, str]
) -> tuple[list[dict[str, Any]], str | None]:
    """Read /proc/<pid>/net/* once per network namespace.

    Returns the sockets and the host namespace (PID 1's, else our own).
    """
    host: str | None = namespaces.get(1)
    if host is None:
        try:
            host = _namespace_id(procfs.readlink("self/ns/net"))
        except OSError:
            host = None
    members: dict[str | None, list[int]] = {}
    for pid, namespace in namespaces.items():
        members.setdefault(namespace, []).append(pid)
    if host not in members:
        members[host] = []

    sockets = []
    for member_namespace, pids in members.items():
        for table, family in SOCKET_TABLES:
            text = _read_namespace_table(procfs, pids, table, member_namespace == host)
            for row in parse.parse_proc_net(text or ""):
                row.update(
                    protocol=table.rstrip("6"),
                    family=family,
                    net_namespace=member_namespace,
                    in_container=member_namespace is not None
                    and member_namespace != host,
                )
                sockets.append(row)
    return sockets, host


def _read_namespace_table(
    procfs: ProcFS, pids: list[int], table: str, is_host: bool
) -> str | None:
    for pid in pids:
        try:
            return procfs.read(f"{pid}/net/{table}")
        except OSError:
            continue
    if is_host:
        try:
            return procfs.read(f"net/{table}")
        except OSError:
            return None
    return None


def linux_sockets(procfs: ProcFS) -> Rows:
    """Return every TCP/UDP socket with its owning pid where procfs allows it."""
    owners, namespaces, denied = socket_owners(procfs)
    sockets, _host = read_socket_tables(procfs, namespaces)
    result = Rows(
        sources=[str(procfs.root / "<pid>/net"), str(procfs.root / "<pid>/fd")]
    )
    unresolved = 0
    for row in sockets:
        owner = owners.get(row["inode"])
        if owner:
            resolution = "resolved"
        elif row["inode"] == 0:
            resolution = "no_inode"
        else:
            resolution = "denied" if denied else "not_found"
            unresolved += resolution == "denied"
        pid, fd = owner or (None, None)
        result.rows.append(
            {
                "pid": pid,
                "fd": fd,
                "socket": row["inode"],
                "family": row["family"],
                "protocol": row["protocol"],
                "local_address": row["local"],
                "local_port": row["local_port"],
                "remote_address": row["remote"],
                "remote_port": row["remote_port"],
                "state": row["state"],
                "uid": row["uid"],
                "ipv4_mapped": row["ipv4_mapped"],
                "net_namespace": row["net_namespace"],
                "in_container": row["in_container"],
                "pid_resolution": resolution,
            }
        )
    if unresolved:
        result.partial = True
        result.warnings.append(
            f"{unresolved} socket(s) without owning PID: permission denied"
        )
    return result


def socket_rows(listening: bool, procfs: ProcFS | None = None) -> Rows:
    """Build connections or listening_ports rows from procfs."""
    result = linux_sockets(procfs or ProcFS())
    result.rows = [row for row in result.rows if is_listening(row) == listening]
    add_process_columns(result.rows)
    if listening:
        result.rows = [as_listening_row(row) for row in result.rows]
    return result


@collector("network.connections", LINUX)
def collect_connections() -> Rows:
    return socket_rows(listening=False)


@collector("network.listening_ports", LINUX)
def collect_listening_ports() -> Rows:
    return socket_rows(listening=True)


@collector("network.arp_cache", LINUX)
def collect_arp_cache() -> Rows:
    result = Rows(sources=["/proc/net/arp"])
    try:
        # `ip -j neigh` also lists IPv6 neighbours, which /proc/net/arp lacks.
        output = run_command(["ip", "-j", "neigh", "show"], timeout=30)
        if output.returncode == 0 and output.stdout.strip():
            result.rows = parse.parse_ip_neigh_json(json.loads(output.stdout))
            result.sources = ["ip -j neigh show"]
            return result
    except (FileNotFoundError, ValueError, OSError) as error:
        result.warnings.append(
            f"ip -j neigh show failed, reading /proc/net/arp: {error}"
        )
    result.rows = parse.parse_proc_arp(read_text("/proc/net/arp"))
    return result


@collector("network.etc_hosts", LINUX)
def collect_etc_hosts() -> Rows:
    return hosts_rows("/etc/hosts")


def hosts_rows(path: str) -> Rows:
    """Read a hosts file into etc_hosts rows."""
    rows = parse.parse_hosts(read_text(path))
    for row in rows:
        row["source"] = path
    return Rows(rows=rows, sources=[path])


FIREWALL_TOOLS = (
    ("iptables-save", "iptables"),
    ("ip6tables-save", "ip6tables"),
    ("iptables-legacy-save", "iptables-legacy"),
    ("ip6tables-legacy-save", "ip6tables-legacy"),
    ("iptables-nft-save", "iptables-nft"),
    ("ip6tables-nft-save", "ip6tables-nft"),
)


@collector("network.firewall", LINUX)
def collect_firewall() -> Rows:
    result = Rows()
    found = denied = False
    try:
        output = run_command(["nft", "-j", "list", "ruleset"])
        found = True
        if output.returncode == 0:
            result.sources.append("nft -j list ruleset")
            for row in parse.parse_nft_json(json.loads(output.stdout or b"{}")):
                if not isinstance(row["rule"], str) and row["rule"] is not None:
                    row["rule"] = json.dumps(row["rule"])
                result.rows.append({**row, "kind": "rule" if row["rule"] else "chain"})
        else:
            denied |= (
                b"ermission" in output.stderr
                or b"Operation not permitted" in output.stderr
            )
            result.warnings.append(
                f"nft failed: {output.stderr.decode(errors='replace')}"
            )
    except FileNotFoundError:
        pass
    for tool, source in FIREWALL_TOOLS:
        try:
            output = run_command([tool])
        except FileNotFoundError:
            continue
        found = True
        if output.returncode != 0:
            denied |= b"ermission" in output.stderr
            result.warnings.append(
                f"{tool} failed: {output.stderr.decode(errors='replace')}"
            )
            continue
        result.sources.append(tool)
        for row in parse.parse_iptables_save(
            output.stdout.decode(errors="replace"), source
        ):
            result.rows.append({**row, "kind": "rule" if row["rule"] else "chain"})
    if not found:
        raise Unsupported("none of nft, iptables-save or ip6tables-save is installed")
    if denied and not result.sources:
        raise PermissionError(
            "reading the firewall rule set needs root (CAP_NET_ADMIN)"
        )
    if not result.sources:
        raise RuntimeError("; ".join(result.warnings))
    result.partial = bool(result.warnings)
    return result


@collector("network.routes", LINUX)
def collect_routes() -> Rows:
    rows = parse.parse_proc_route(read_text("/proc/net/route"))
    sources = ["/proc/net/route"]
    if os.path.exists("/proc/net/ipv6_route"):
        rows += parse.parse_proc_ipv6_route(read_text("/proc/net/ipv6_route"))
        sources.append("/proc/net/ipv6_route")
    return Rows(rows=rows, sources=sources)


# statvfs on a hung network mount blocks in the kernel; skip those types.
REMOTE_FILESYSTEMS = (
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "afs",
    "9p",
    "fuse",
    "sshfs",
)


@collector("network.mounts", LINUX)
def collect_mounts() -> Rows:
    rows = parse.parse_mountinfo(read_text("/proc/self/mountinfo"))
    for row in rows:
        row.update(
            blocks_size=None,
            blocks=None,
            blocks_free=None,
            blocks_available=None,
            inodes=None,
            inodes_free=None,
        )
        kind = row["type"] or ""
        if kind.startswith(REMOTE_FILESYSTEMS):
            continue
        try:
            usage = os.statvfs(row["path"])
        except OSError:
            continue
        row.update(
            blocks_size=usage.f_frsize,
            blocks=usage.f_blocks,
            blocks_free=usage.f_bfree,
            blocks_available=usage.f_bavail,
            inodes=usage.f_files,
            inodes_free=usage.f_ffree,
        )
    return Rows(rows=rows, sources=["/proc/self/mountinfo"])


@collector("network.shares", LINUX)
def collect_shares() -> Rows:
    result = Rows()
    exports = ["/etc/exports"] + [
        f"/etc/exports.d/{name}"
        for name in list_dir("/etc/exports.d")
        if name.endswith(".exports")
    ]
    for path in exports:
        if os.path.exists(path):
            result.rows += parse.parse_exports(read_text(path))
            result.sources.append(path)
    if os.path.exists("/etc/samba/smb.conf"):
        result.rows += parse.parse_smb_conf(read_text("/etc/samba/smb.conf"))
        result.sources.append("/etc/samba/smb.conf")
    if not result.sources:
        result.reason = "no NFS exports or Samba configuration on this host"
    return result


def _fd_mode(procfs: ProcFS, pid: int, fd: str) -> str | None:
    try:
        info = procfs.read(f"{pid}/fdinfo/{fd}")
    except OSError:
        return None
    for line in info.splitlines():
        if line.startswith("flags:"):
            access = int(line.split()[1], 8) & os.O_ACCMODE
            return {os.O_RDONLY: "r", os.O_WRONLY: "w", os.O_RDWR: "rw"}.get(access)
    return None


@collector("software.pipes", LINUX)
def collect_pipes() -> Rows:
    procfs = ProcFS()
    result = Rows(sources=["/proc/<pid>/fd"])
    denied = 0
    for pid in procfs.pids():
        try:
            fds = procfs.listdir(f"{pid}/fd")
        except PermissionError:
            denied += 1
            continue
        except OSError:
            continue
        for fd in fds:
            try:
                target = procfs.readlink(f"{pid}/fd/{fd}")
            except OSError:
                continue
            row = _pipe_row(procfs, pid, fd, target)
            if row:
                result.rows.append(row)
    _pair_pipes(result.rows)
    add_process_columns(result.rows)
    for row in result.rows:
        row["process_name"] = row.pop("name", None)
        row["name"] = row["path"] if row["type"] == "named" else None
        row.pop("cmdline", None)
    if denied:
        result.partial = True
        result.warnings.append(f"{denied} process(es) with an unreadable fd directory")
    return result


def _pipe_row(procfs: ProcFS, pid: int, fd: str, target: str) -> dict[str, Any] | None:
    if target.startswith("pipe:["):
        kind, inode, path = "unnamed", int(target[6:-1]), None
    elif target.startswith("/"):
        try:
            # stat follows the fd link without opening the FIFO, so it cannot block.
            status = os.stat(procfs.root / f"{pid}/fd/{fd}")
        except OSError:
            return None
        if not stat.S_ISFIFO(status.st_mode):
            return None
        kind, inode, path = "named", status.st_ino, target
    else:
        return None
    return {
        "pid": pid,
        "fd": int(fd),
        "mode": _fd_mode(procfs, pid, fd),
        "inode": inode,
        "type": kind,
        "path": path,
    }


def _pair_pipes(rows: list[dict[str, Any]]) -> None:
    by_inode: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_inode.setdefault(row["inode"], []).append(row)
    for row in rows:
        partner = next(
            (
                other
                for other in by_inode[row["inode"]]
                if other["pid"] != row["pid"] and other["mode"] != row["mode"]
            ),
            None,
        )
        row["partner_pid"] = partner["pid"] if partner else None
        row["partner_fd"] = partner["fd"] if partner else None


@collector("software.kernel_modules", LINUX)
def collect_kernel_modules() -> Rows:
    if not os.path.exists("/proc/modules"):
        raise Unsupported("/proc/modules not present")
    rows = []
    for line in read_text("/proc/modules").splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        name = fields[0]
        version = None
        try:
            version = read_text(f"/sys/module/{name}/version", 4096).strip() or None
        except OSError:
            pass
        rows.append(
            {
                "name": name,
                "size": int(fields[1]),
                "used_by": fields[3].strip(",") if fields[3] != "-" else None,
                "status": fields[4],
                "address": fields[5],
                "version": version,
                "type": "kernel_module",
            }
        )
    return Rows(rows=rows, sources=["/proc/modules", "/sys/module"])


def _read_bytes_maybe_gzip(path: str, cap: int = GZIP_CAP) -> bytes:
    """Read a file, decompressing rotated `.gz` copies, up to `cap` bytes."""
    data, _truncated = read_capped(path, cap, follow_links=True)
    if not path.endswith(".gz"):
        return data
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        return stream.read(cap)


def _read_maybe_gzip(path: str) -> str:
    return _read_bytes_maybe_gzip(path).decode("utf-8", errors="replace")


@collector("software.patches", LINUX)
def collect_patches() -> Rows:
    result = Rows()
    logs = sorted(
        (
            f"/var/log/{name}"
            for name in list_dir("/var/log")
            if name.startswith("dpkg.log")
        ),
        reverse=True,
    )
    for path in logs:
        try:
            text = _read_maybe_gzip(path)
        except (OSError, EOFError) as error:
            result.warnings.append(f"{path}: {error}")
            continue
        for row in parse.parse_dpkg_log(text):
            result.rows.append({**row, "source": path})
        result.sources.append(path)
    if not result.sources:
        try:
            output = run_command(["rpm", "-qa", "--last"])
            result.sources.append("rpm -qa --last")
            for line in output.stdout.decode(errors="replace").splitlines():
                package, _, when = line.partition(" ")
                result.rows.append(
                    {
                        "name": package,
                        "installed_on": when.strip(),
                        "action": "install",
                        "source": "rpm",
                    }
                )
        except FileNotFoundError:
            result.reason = "no dpkg log and no rpm database on this host"
    return result


@collector("software.programs", LINUX)
def collect_programs() -> Rows:
    result = Rows()
    if os.path.exists("/var/lib/dpkg/status"):
        result.rows += parse.parse_dpkg_status(read_text("/var/lib/dpkg/status"))
        result.sources.append("/var/lib/dpkg/status")
    try:
        output = run_command(
            [
                "rpm",
                "-qa",
                "--qf",
                "%{NAME}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{VENDOR}\n",
            ]
        )
        result.sources.append("rpm -qa")
        for line in output.stdout.decode(errors="replace").splitlines():
            name, version, release, arch, vendor = (line.split("\t") + [""] * 5)[:5]
            result.rows.append(
                {
                    "name": name,
                    "version": version,
                    "revision": release,
                    "arch": arch,
                    "publisher": vendor,
                    "type": "rpm",
                }
            )
    except FileNotFoundError:
        pass
    if not result.sources:
        result.reason = "neither a dpkg nor an rpm database on this host"
    return result


SYSTEMD_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)


def systemd_units(suffix: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Find unit files of a kind, the first directory in search order winning."""
    units: dict[str, tuple[str, dict[str, Any]]] = {}
    for directory in SYSTEMD_DIRS:
        for name in list_dir(directory):
            path = os.path.join(directory, name)
            if not name.endswith(suffix) or name in units or os.path.isdir(path):
                continue
            try:
                target = os.path.realpath(path)
                sections = (
                    {}
                    if target == "/dev/null"
                    else parse.parse_ini_sections(read_text(target, 1024 * 1024))
                )
            except OSError:
                continue
            units[name] = (path, sections)
    return units


def enabled_units() -> set[str]:
    """Return unit names linked from a *.wants or *.requires directory."""
    enabled = set()
    for directory in SYSTEMD_DIRS[:2]:
        for name in list_dir(directory):
            if name.endswith((".wants", ".requires")):
                enabled.update(list_dir(os.path.join(directory, name)))
    return enabled


def _unit_state(name: str, path: str, enabled: set[str]) -> str:
    if os.path.realpath(path) == "/dev/null":
        return "masked"
    return "enabled" if name in enabled else "disabled"


@collector("software.services", LINUX)
def collect_services() -> Rows:
    result = Rows(sources=list(SYSTEMD_DIRS))
    enabled = enabled_units()
    for name, (path, sections) in sorted(systemd_units(".service").items()):
        service = sections.get("Service")
        result.rows.append(
            {
                "name": name,
                "description": parse.first(sections.get("Unit"), "Description"),
                "start_type": _unit_state(name, path, enabled),
                "path": parse.first(service, "ExecStart"),
                "user_account": parse.first(service, "User"),
                "service_type": parse.first(service, "Type") or "simple",
                "source_path": path,
            }
        )
    for name in list_dir("/etc/init.d"):
        result.rows.append(
            {
                "name": name,
                "path": f"/etc/init.d/{name}",
                "service_type": "sysv",
                "source_path": f"/etc/init.d/{name}",
            }
        )
    return result


CRON_FOLDERS = (
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
)


@collector("software.startup_items", LINUX)
def collect_startup_items() -> Rows:
    result = Rows()
    _add_crontabs(result)
    for folder in CRON_FOLDERS:
        for name in list_dir(folder):
            result.rows.append(
                {
                    "name": name,
                    "path": f"{folder}/{name}",
                    "type": "cron_script",
                    "source": folder,
                    "schedule": folder.rsplit(".", 1)[1],
                }
            )
    enabled = enabled_units()
    for name, (path, sections) in sorted(systemd_units(".timer").items()):
        timer = sections.get("Timer") or {}
        schedule = "; ".join(
            f"{key}={value[-1]}" for key, value in timer.items() if key.startswith("On")
        )
        result.rows.append(
            {
                "name": name,
                "path": path,
                "type": "systemd_timer",
                "source": path,
                "status": _unit_state(name, path, enabled),
                "schedule": schedule or None,
                "command": parse.first(timer, "Unit")
                or name.replace(".timer", ".service"),
            }
        )
    _add_autostart(result)
    for path, kind in (
        ("/etc/rc.local", "rc_local"),
        ("/etc/ld.so.preload", "ld_preload"),
    ):
        if os.path.exists(path):
            result.rows.append(
                {
                    "name": os.path.basename(path),
                    "path": path,
                    "type": kind,
                    "source": path,
                    "command": read_text(path, 64 * 1024).strip() or None,
                }
            )
            result.sources.append(path)
    result.sources += ["/etc/crontab", "/etc/cron.d", *CRON_FOLDERS, *SYSTEMD_DIRS]
    return result


def _add_crontabs(result: Rows) -> None:
    system_tabs = ["/etc/crontab"] + [
        f"/etc/cron.d/{n}" for n in list_dir("/etc/cron.d")
    ]
    user_dirs = ("/var/spool/cron/crontabs", "/var/spool/cron")
    user_tabs = [
        (f"{d}/{n}", n)
        for d in user_dirs
        for n in list_dir(d)
        if os.path.isfile(f"{d}/{n}")
    ]
    for path, owner in [(p, None) for p in system_tabs] + user_tabs:
        try:
            text = read_text(path, 1024 * 1024)
        except PermissionError:
            result.partial = True
            result.warnings.append(f"permission denied: {path}")
            continue
        except OSError:
            continue
        for entry in parse.parse_crontab(text, system=owner is None):
            result.rows.append(
                {
                    "name": os.path.basename(path),
                    "path": path,
                    "type": "cron",
                    "source": path,
                    "username": entry["username"] or owner,
                    "schedule": entry["schedule"],
                    "command": entry["command"],
                }
            )


def _add_autostart(result: Rows) -> None:
    folders = [(Path("/etc/xdg/autostart"), None)] + [
        (home / ".config/autostart", name) for _uid, name, home in user_homes()
    ]
    for folder, username in folders:
        for name in list_dir(folder):
            if not name.endswith(".desktop"):
                continue
            try:
                entry = parse.parse_ini_sections(read_text(folder / name, 1024 * 1024))
            except OSError:
                continue
            desktop = entry.get("Desktop Entry")
            hidden = parse.first(desktop, "Hidden") == "true"
            result.rows.append(
                {
                    "name": parse.first(desktop, "Name") or name,
                    "path": str(folder / name),
                    "type": "xdg_autostart",
                    "source": str(folder),
                    "username": username,
                    "status": "disabled" if hidden else "enabled",
                    "command": parse.first(desktop, "Exec"),
                }
            )


@collector("users.users", LINUX)
def collect_users() -> Rows:
    result = Rows(
        rows=parse.parse_passwd(read_text("/etc/passwd")), sources=["/etc/passwd"]
    )
    try:
        shadow = parse.parse_shadow_status(read_text("/etc/shadow"))
        result.sources.append("/etc/shadow")
    except PermissionError:
        shadow = {}
        result.warnings.append("/etc/shadow is not readable: password_status unknown")
    except FileNotFoundError:
        shadow = {}
    for row in result.rows:
        row["password_status"] = shadow.get(row["username"])
        row["type"] = "local"
    return result


@collector("users.groups", LINUX)
def collect_groups() -> Rows:
    return Rows(rows=parse.parse_group(read_text("/etc/group")), sources=["/etc/group"])


def _utmp_file(path: str, cap: int = 256 * 1024 * 1024) -> bytes:
    # NOTE: a wtmp over the cap is read only up to it, so its newest logins are
    # missing. Rotation usually keeps real files far below 256 MiB.
    return _read_bytes_maybe_gzip(path, cap)


@collector("users.logged_in_users", LINUX)
def collect_logged_in_users() -> Rows:
    for path in ("/run/utmp", "/var/run/utmp"):
        if os.path.exists(path):
            break
    else:
        raise Unsupported("no utmp file (/run/utmp) on this host")
    rows = []
    for record in parse.parse_utmp(_utmp_file(path)):
        if record["type_name"] not in ("USER_PROCESS", "LOGIN_PROCESS"):
            continue
        rows.append(
            {
                "type": record["type_name"].lower(),
                "user": record["username"],
                "tty": record["tty"],
                "host": record["host"],
                "time": record["time"],
                "time_utc": parse_time(record["time"]),
                "pid": record["pid"],
            }
        )
    return Rows(rows=rows, sources=[path])


def parse_time(seconds: int | None) -> str | None:
    """Format a utmp time; zero means the record had none."""
    return iso_utc(seconds) if seconds else None


@collector("users.login_history", LINUX)
def collect_login_history() -> Rows:
    result = Rows()
    paths = sorted(
        f"/var/log/{name}"
        for name in list_dir("/var/log")
        if name.startswith(("wtmp", "btmp"))
    )
    for path in paths:
        try:
            records = parse.parse_utmp(_utmp_file(path))
        except PermissionError:
            result.partial = True
            result.warnings.append(f"permission denied: {path}")
            continue
        except (OSError, EOFError) as error:
            result.partial = True
            result.warnings.append(f"{path}: {error}")
            continue
        result.sources.append(path)
        kind = "btmp" if "btmp" in path else "wtmp"
        for record in records:
            if record["type"] == 0:
                continue
            result.rows.append(
                {
                    **{
                        k: record[k]
                        for k in (
                            "username",
                            "tty",
                            "pid",
                            "type",
                            "type_name",
                            "time",
                            "host",
                            "address",
                        )
                    },
                    "time_utc": parse_time(record["time"]),
                    "source": f"{kind}:{path}",
                }
            )
    if os.path.exists("/var/lib/wtmpdb/wtmp.db"):
        result.rows += _wtmpdb_rows("/var/lib/wtmpdb/wtmp.db", result)
    if not result.sources:
        result.reason = "no wtmp, btmp or wtmpdb file on this host"
    return result


def _wtmpdb_rows(path: str, result: Rows) -> list[dict[str, Any]]:
    import sqlite3

    rows = []
    try:
        database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            query = "SELECT User, Login, Logout, TTY, RemoteHost FROM wtmp"
            for user, login, logout, tty, host in database.execute(query):
                for usec, name in ((login, "LOGIN"), (logout, "LOGOUT")):
                    if usec:
                        rows.append(
                            {
                                "username": user,
                                "tty": tty,
                                "host": host,
                                "type_name": name,
                                "time": usec // 1_000_000,
                                "time_utc": parse_time(usec // 1_000_000),
                                "source": f"wtmpdb:{path}",
                            }
                        )
        finally:
            database.close()
        result.sources.append(path)
    except sqlite3.Error as error:
        result.partial = True
        result.warnings.append(f"{path}: {error}")
    return rows


@collector("system.time", LINUX)
def collect_time() -> Rows:
    zone = localtime_zone_name()
    if zone is None and os.path.exists("/etc/timezone"):
        zone = read_text("/etc/timezone", 4096).strip() or None
    return Rows(rows=[time_row(zone)], sources=["/etc/localtime", "/etc/timezone"])


@collector("system.uptime", LINUX)
def collect_uptime() -> Rows:
    boot = None
    for line in read_text("/proc/stat").splitlines():
        if line.startswith("btime "):
            boot = int(line.split()[1])
    up = float(read_text("/proc/uptime").split()[0])
    now = time.time()
    row = uptime_row(boot if boot is not None else now - up, now)
    row.update(
        {
            key: value
            for key, value in uptime_row(now - up, now).items()
            if key in ("days", "hours", "minutes", "seconds", "total_seconds")
        }
    )
    return Rows(rows=[row], sources=["/proc/uptime", "/proc/stat"])


@collector("system.os_version", LINUX)
def collect_os_version() -> Rows:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        if os.path.exists(path):
            release = parse.parse_os_release(read_text(path))
            break
    else:
        release, path = {}, None
    parts = ([*release.get("VERSION_ID", "").split("."), "", "", ""])[:3]
    numbers = [int(p) if p.isdigit() else None for p in parts]
    uname = platform.uname()
    row = {
        "name": release.get("NAME"),
        "version": release.get("VERSION") or release.get("VERSION_ID"),
        "major": numbers[0],
        "minor": numbers[1],
        "patch": numbers[2],
        "build": release.get("BUILD_ID"),
        "platform": release.get("ID"),
        "platform_like": release.get("ID_LIKE"),
        "codename": release.get("VERSION_CODENAME"),
        "arch": uname.machine,
        "kernel_version": uname.release,
        "hostname": socket.gethostname(),
    }
    return Rows(rows=[row], sources=[p for p in (path, "uname") if p])


def _sys_value(path: Path) -> str | None:
    try:
        return read_text(path, 4096).strip() or None
    except OSError:
        return None


@collector("system.drives", LINUX)
def collect_drives() -> Rows:
    uuids = {}
    for name in list_dir("/dev/disk/by-uuid"):
        target = os.path.realpath(f"/dev/disk/by-uuid/{name}")
        uuids[os.path.basename(target)] = name
    rows = []
    for disk in list_dir("/sys/block"):
        base = Path("/sys/block") / disk
        devices = [(disk, None, base)] + [
            (part, disk, base / part)
            for part in list_dir(base)
            if part.startswith(disk) and (base / part / "partition").exists()
        ]
        for name, parent, path in devices:
            sectors = _sys_value(path / "size")
            block = _sys_value(base / "queue/logical_block_size")
            rows.append(
                {
                    "name": f"/dev/{name}",
                    "parent": f"/dev/{parent}" if parent else None,
                    "vendor": _sys_value(base / "device/vendor"),
                    "model": _sys_value(base / "device/model"),
                    "size": int(sectors) * 512
                    if sectors and sectors.isdigit()
                    else None,
                    "block_size": int(block) if block and block.isdigit() else None,
                    "type": "partition" if parent else "disk",
                    "uuid": uuids.get(name),
                    "serial": _sys_value(base / "device/serial"),
                    "removable": _sys_value(base / "removable") == "1",
                }
            )
    return Rows(rows=rows, sources=["/sys/block", "/dev/disk/by-uuid"])
