"""Pure parsers for Linux sources: procfs tables, utmp records and config files."""

import ipaddress
import re
import struct
from typing import Any

TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
    "0C": "NEW_SYN_RECV",
}


def _ipv4_word(hex_word: str) -> str:
    # One 32-bit word in host (little-endian) order.
    return str(ipaddress.IPv4Address(struct.pack("<I", int(hex_word, 16))))


def decode_proc_address(hex_address: str) -> tuple[str, bool]:
    """Decode a /proc/net address; return it and whether it was IPv4-mapped IPv6.

    IPv6 addresses are four 32-bit words, each in host byte order, not one
    16-byte string, and an IPv4 peer of a dual-stack socket shows as
    ::ffff:a.b.c.d, which is returned as plain IPv4.
    """
    if len(hex_address) == 8:
        return _ipv4_word(hex_address), False
    words = [int(hex_address[i : i + 8], 16) for i in range(0, 32, 8)]
    address = ipaddress.IPv6Address(struct.pack("<4I", *words))
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped), True
    return str(address), False


def parse_proc_net(text: str) -> list[dict[str, Any]]:
    """Parse /proc/net/{tcp,tcp6,udp,udp6,raw,raw6}, one dict per socket."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, local_port = fields[1].split(":")
        remote, remote_port = fields[2].split(":")
        local_address, local_mapped = decode_proc_address(local)
        remote_address, remote_mapped = decode_proc_address(remote)
        rows.append(
            {
                "local": local_address,
                "local_port": int(local_port, 16),
                "remote": remote_address,
                "remote_port": int(remote_port, 16),
                "state": TCP_STATES.get(fields[3].upper(), fields[3]),
                "uid": int(fields[7]),
                "inode": int(fields[9]),
                "ipv4_mapped": local_mapped or remote_mapped,
            }
        )
    return rows


def parse_proc_arp(text: str) -> list[dict[str, Any]]:
    """Parse /proc/net/arp; flag 0x2 means complete and 0x4 permanent."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        flags = int(fields[2], 16)
        rows.append(
            {
                "address": fields[0],
                "mac": fields[3],
                "interface": fields[5],
                "permanent": bool(flags & 0x4),
                "state": "complete" if flags & 0x2 else "incomplete",
                "family": "ipv4",
            }
        )
    return rows


def parse_ip_neigh_json(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Convert `ip -j neigh show` entries (IPv4 and IPv6) to ARP cache rows."""
    rows = []
    for entry in entries:
        states = entry.get("state") or []
        address = entry.get("dst", "")
        rows.append(
            {
                "address": address,
                "mac": entry.get("lladdr"),
                "interface": entry.get("dev"),
                "permanent": "PERMANENT" in states,
                "state": ",".join(states).lower() or None,
                "family": "ipv6" if ":" in address else "ipv4",
            }
        )
    return rows


def _route_ipv4(hex_word: str) -> str:
    return _ipv4_word(hex_word)


def parse_proc_route(text: str) -> list[dict[str, Any]]:
    """Parse /proc/net/route (IPv4 main table, little-endian hex words)."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 11:
            continue
        netmask = _route_ipv4(fields[7])
        rows.append(
            {
                "destination": _route_ipv4(fields[1]),
                "netmask": str(ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen),
                "gateway": _route_ipv4(fields[2]),
                "flags": int(fields[3], 16),
                "interface": fields[0],
                "metric": int(fields[6]),
                "mtu": int(fields[8]),
                "family": "ipv4",
                "type": "gateway" if int(fields[3], 16) & 0x2 else "local",
            }
        )
    return rows


def parse_proc_ipv6_route(text: str) -> list[dict[str, Any]]:
    """Parse /proc/net/ipv6_route, whose addresses are in network byte order."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10:
            continue
        flags = int(fields[8], 16)
        rows.append(
            {
                "destination": str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))),
                "netmask": str(int(fields[1], 16)),
                "gateway": str(ipaddress.IPv6Address(bytes.fromhex(fields[4]))),
                "flags": flags,
                "interface": fields[9],
                "metric": int(fields[5], 16),
                "mtu": None,
                "family": "ipv6",
                "type": "gateway" if flags & 0x2 else "local",
            }
        )
    return rows


def unescape_octal(value: str) -> str:
    """Undo the kernel's octal escapes in mount paths (`\\040` is a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), value)


def parse_mountinfo(text: str) -> list[dict[str, Any]]:
    """Parse /proc/<pid>/mountinfo, whose optional fields end at a lone `-`."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 7:
            continue
        separator = fields.index("-")
        after = fields[separator + 1 :]
        rows.append(
            {
                "mount_id": int(fields[0]),
                "parent_id": int(fields[1]),
                "major_minor": fields[2],
                "root": unescape_octal(fields[3]),
                "path": unescape_octal(fields[4]),
                "flags": fields[5],
                "propagation": " ".join(fields[6:separator]) or None,
                "type": after[0] if after else None,
                "device": unescape_octal(after[1]) if len(after) > 1 else None,
                "super_options": after[2] if len(after) > 2 else None,
            }
        )
    return rows


UTMP_TYPES = {
    0: "EMPTY",
    1: "RUN_LVL",
    2: "BOOT_TIME",
    3: "NEW_TIME",
    4: "OLD_TIME",
    5: "INIT_PROCESS",
    6: "LOGIN_PROCESS",
    7: "USER_PROCESS",
    8: "DEAD_PROCESS",
    9: "ACCOUNTING",
}
# glibc's `struct utmp`: 384 bytes where 64-bit ABIs keep 32-bit time fields
# for compatibility (x86-64), 400 bytes where ut_session and ut_tv are 64-bit.
UTMP_384 = struct.Struct("<hxxi32s4s32s256shhiii16s20x")
UTMP_400 = struct.Struct("<hxxi32s4s32s256shhqqq16s20x4x")


def _cstring(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def _utmp_address(raw: bytes) -> str | None:
    if raw == bytes(16):
        return None
    if raw[4:] == bytes(12):
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw))


def utmp_record_size(data: bytes) -> int:
    """Choose 384 or 400 bytes per record from the length and the first record."""
    fits_384 = len(data) % UTMP_384.size == 0
    fits_400 = len(data) % UTMP_400.size == 0
    if fits_400 and not fits_384:
        return UTMP_400.size
    if fits_384 and not fits_400:
        return UTMP_384.size
    if len(data) >= UTMP_400.size:
        # Both fit: a 400-byte record has its seconds in a 64-bit field at
        # offset 344, whose high half is zero, and a valid record type.
        seconds = struct.unpack_from("<q", data, 344)[0]
        kind = struct.unpack_from("<h", data, 0)[0]
        if 0 <= kind <= 9 and 0 < seconds < 2**33:
            second_type = struct.unpack_from("<h", data, 400)[0]
            if len(data) < 800 or 0 <= second_type <= 9:
                return UTMP_400.size
    return UTMP_384.size


def parse_utmp(data: bytes) -> list[dict[str, Any]]:
    """Parse utmp/wtmp/btmp records; a torn last record is dropped."""
    size = utmp_record_size(data)
    layout = UTMP_400 if size == UTMP_400.size else UTMP_384
    rows = []
    for offset in range(0, len(data) - size + 1, size):
        fields = layout.unpack_from(data, offset)
        kind, pid, line, _id, user, host = fields[:6]
        seconds, micros, address = fields[9], fields[10], fields[11]
        rows.append(
            {
                "type": kind,
                "type_name": UTMP_TYPES.get(kind, str(kind)),
                "pid": pid,
                "tty": _cstring(line),
                "username": _cstring(user),
                "host": _cstring(host),
                "address": _utmp_address(address),
                "time": seconds,
                "time_usec": micros,
            }
        )
    return rows


def parse_passwd(text: str) -> list[dict[str, Any]]:
    """Parse /etc/passwd lines `name:x:uid:gid:gecos:home:shell`."""
    rows = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) != 7 or line.startswith(("#", "+", "-")):
            continue
        rows.append(
            {
                "username": fields[0],
                "uid": int(fields[2]) if fields[2].isdigit() else None,
                "gid": int(fields[3]) if fields[3].isdigit() else None,
                "description": fields[4],
                "directory": fields[5],
                "shell": fields[6],
            }
        )
    return rows


def parse_group(text: str) -> list[dict[str, Any]]:
    """Parse /etc/group lines `name:x:gid:member,member`."""
    rows = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) != 4 or line.startswith(("#", "+", "-")):
            continue
        rows.append(
            {
                "groupname": fields[0],
                "gid": int(fields[2]) if fields[2].isdigit() else None,
                "members": [name for name in fields[3].split(",") if name],
            }
        )
    return rows


def parse_shadow_status(text: str) -> dict[str, str]:
    """Map user names to `locked`, `no_password` or `password` from /etc/shadow."""
    status = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 2:
            continue
        secret = fields[1]
        if secret.startswith(("!", "*")):
            status[fields[0]] = "locked"
        elif secret == "":
            status[fields[0]] = "no_password"
        else:
            status[fields[0]] = "password"
    return status


def parse_os_release(text: str) -> dict[str, str]:
    """Parse /etc/os-release `KEY=value` lines, unquoting values."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def parse_control_stanzas(text: str) -> list[dict[str, str]]:
    """Parse Debian control data (dpkg status): blank-line separated stanzas."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last_key = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last_key = {}, None
        elif line[0] in " \t" and last_key:
            current[last_key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            last_key = key.strip()
            current[last_key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def parse_dpkg_status(text: str) -> list[dict[str, Any]]:
    """Convert dpkg's status file to deb_packages rows (installed or not)."""
    rows = []
    for stanza in parse_control_stanzas(text):
        if "Package" not in stanza:
            continue
        version = stanza.get("Version", "")
        upstream, _, revision = version.rpartition("-")
        rows.append(
            {
                "name": stanza["Package"],
                "version": version,
                "source": stanza.get("Source") or None,
                "size": int(stanza["Installed-Size"])
                if stanza.get("Installed-Size", "").isdigit()
                else None,
                "arch": stanza.get("Architecture"),
                "revision": revision if upstream else None,
                "status": stanza.get("Status"),
                "maintainer": stanza.get("Maintainer"),
                "section": stanza.get("Section"),
                "priority": stanza.get("Priority"),
                "type": "deb",
            }
        )
    return rows


DPKG_LOG = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (install|upgrade|remove|purge) "
    r"(\S+) (\S+) (\S+)$"
)


def parse_dpkg_log(text: str) -> list[dict[str, Any]]:
    """Parse install/upgrade/remove/purge lines of /var/log/dpkg.log."""
    rows = []
    for line in text.splitlines():
        match = DPKG_LOG.match(line)
        if not match:
            continue
        when, action, package, old, new = match.groups()
        name, _, arch = package.partition(":")
        rows.append(
            {
                "installed_on": when,
                "action": action,
                "name": name,
                "arch": arch or None,
                "version_old": None if old == "<none>" else old,
                "version": None if new == "<none>" else new,
            }
        )
    return rows


CRON_SPECIAL = re.compile(r"^@(\w+)\s+(.*)$")


def parse_crontab(text: str, *, system: bool) -> list[dict[str, Any]]:
    """Parse crontab entries; system crontabs have a user field before the command."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or re.match(r"^[A-Za-z_]\w*\s*=", line):
            continue
        special = CRON_SPECIAL.match(line)
        if special:
            schedule = "@" + special.group(1)
            rest = special.group(2).split(None, 1 if system else 0)
        else:
            fields = line.split(None, 6 if system else 5)
            if len(fields) < (7 if system else 6):
                continue
            schedule = " ".join(fields[:5])
            rest = fields[5:]
        username = rest[0] if system and len(rest) > 1 else None
        command = rest[-1] if rest else ""
        rows.append({"schedule": schedule, "username": username, "command": command})
    return rows


def parse_ini_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """Parse systemd unit or .desktop files; keys may repeat within a section."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def first(section: dict[str, list[str]] | None, key: str) -> str | None:
    """Return the last value of a key (systemd's override rule), or None."""
    if not section or not section.get(key):
        return None
    return section[key][-1]


def parse_iptables_save(text: str, source: str) -> list[dict[str, Any]]:
    """Parse `iptables-save` output into chain policy and rule rows."""
    rows = []
    table = None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":"):
            chain, policy, *_ = [*line[1:].split(), "-"]
            rows.append(
                {
                    "source": source,
                    "table": table,
                    "chain": chain,
                    "policy": None if policy == "-" else policy,
                    "rule": None,
                }
            )
        elif line.startswith("-A "):
            chain = line.split()[1]
            rows.append(
                {
                    "source": source,
                    "table": table,
                    "chain": chain,
                    "policy": None,
                    "rule": line,
                }
            )
    return rows


def parse_nft_json(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Convert `nft -j list ruleset` chains and rules to firewall rows."""
    rows = []
    for item in document.get("nftables", []):
        if "chain" in item:
            chain = item["chain"]
            rows.append(
                {
                    "source": "nft",
                    "table": f"{chain.get('family')} {chain.get('table')}",
                    "chain": chain.get("name"),
                    "policy": chain.get("policy"),
                    "rule": None,
                }
            )
        elif "rule" in item:
            rule = item["rule"]
            rows.append(
                {
                    "source": "nft",
                    "table": f"{rule.get('family')} {rule.get('table')}",
                    "chain": rule.get("chain"),
                    "policy": None,
                    "rule": rule.get("expr"),
                }
            )
    return rows


def parse_exports(text: str) -> list[dict[str, Any]]:
    """Parse /etc/exports lines `path client(options) ...`."""
    rows = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        path, *clients = line.split()
        options = " ".join(clients)
        rows.append(
            {
                "name": path,
                "path": path,
                "type": "nfs",
                "options": options,
                "readonly": "rw" not in re.findall(r"[\w]+", options),
            }
        )
    return rows


def parse_smb_conf(text: str) -> list[dict[str, Any]]:
    """Parse Samba's smb.conf share sections (all but [global])."""
    rows = []
    sections: dict[str, dict[str, str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current[key.strip().lower()] = value.strip()
    for name, options in sections.items():
        if name.lower() == "global":
            continue
        read_only = options.get("read only", options.get("writable") and "no")
        rows.append(
            {
                "name": name,
                "path": options.get("path"),
                "type": "smb",
                "options": ", ".join(f"{k} = {v}" for k, v in options.items()),
                "readonly": (read_only or "yes").lower() in ("yes", "true", "1"),
            }
        )
    return rows


def parse_hosts(text: str) -> list[dict[str, Any]]:
    """Parse a hosts file: address followed by names, `#` starts a comment."""
    rows = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        address, *names = line.split()
        rows.append({"address": address, "hostnames": " ".join(names)})
    return rows
