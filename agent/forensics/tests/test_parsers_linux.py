"""Linux parsers: /proc/net tables, ARP, routes, mountinfo, utmp and config files."""

import struct

from agent.forensics import parsers_linux as parse

TCP_HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
    "retrnsmt   uid  timeout inode\n"
)
TAIL = " 1 0000000000000000 20 4 30 10 -1"
TCP = TCP_HEADER + (
    "   1: 0100007F:9390 0100007F:A343 01 00000000:00000000 00:00000000 00000000"
    "  1000        0 27175" + TAIL + "\n"
)
TCP6 = TCP_HEADER + (
    "   2: 0000000000000000FFFF00000100007F:A343 0000000000000000FFFF00000100007F:9390"
    " 01 00000000:00000000 00:00000000 00000000  1000        0 27176" + TAIL + "\n"
    "   1: 00000000000000000000000001000000:B277 00000000000000000000000000000000:0000"
    " 0A 00000000:00000000 00:00000000 00000000  1000        0 27177" + TAIL + "\n"
    "   3: B80D0120000000000000000001000000:01BB B80D01200000000000000000EFBE0000:C350"
    " 01 00000000:00000000 00:00000000 00000000     0        0 31337" + TAIL + "\n"
)


def test_proc_net_ipv4_and_ipv6_words() -> None:
    rows = parse.parse_proc_net(TCP) + parse.parse_proc_net(TCP6)
    expected = [
        {
            "local": "127.0.0.1",
            "local_port": 37776,
            "remote": "127.0.0.1",
            "remote_port": 41795,
            "state": "ESTABLISHED",
            "uid": 1000,
            "inode": 27175,
            "ipv4_mapped": False,
        },
        {
            "local": "127.0.0.1",
            "local_port": 41795,
            "remote": "127.0.0.1",
            "remote_port": 37776,
            "state": "ESTABLISHED",
            "uid": 1000,
            "inode": 27176,
            "ipv4_mapped": True,
        },
        {
            "local": "::1",
            "local_port": 45687,
            "remote": "::",
            "remote_port": 0,
            "state": "LISTEN",
            "uid": 1000,
            "inode": 27177,
            "ipv4_mapped": False,
        },
        {
            "local": "2001:db8::1",
            "local_port": 443,
            "remote": "2001:db8::beef",
            "remote_port": 50000,
            "state": "ESTABLISHED",
            "uid": 0,
            "inode": 31337,
            "ipv4_mapped": False,
        },
    ]
    assert rows == expected


def test_proc_arp_flags() -> None:
    text = (
        "IP address       HW type     Flags       HW address            Mask     "
        "Device\n"
        "192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n"
        "192.0.2.9        0x1         0x6         02:fc:00:00:00:09     *        eth0\n"
        "192.0.2.7        0x1         0x0         00:00:00:00:00:00     *        eth1\n"
    )
    rows = parse.parse_proc_arp(text)
    assert [(r["address"], r["permanent"], r["state"]) for r in rows] == [
        ("192.0.2.1", False, "complete"),
        ("192.0.2.9", True, "complete"),
        ("192.0.2.7", False, "incomplete"),
    ]
    assert rows[0]["mac"] == "02:fc:00:00:00:05"
    assert rows[2]["interface"] == "eth1"


def test_ip_neigh_json_includes_ipv6() -> None:
    entries = [
        {
            "dst": "192.0.2.1",
            "dev": "eth0",
            "lladdr": "02:fc:00:00:00:05",
            "state": ["REACHABLE"],
        },
        {
            "dst": "fe80::1",
            "dev": "eth0",
            "lladdr": "02:fc:00:00:00:06",
            "state": ["PERMANENT"],
        },
    ]
    rows = parse.parse_ip_neigh_json(entries)
    assert [(r["family"], r["permanent"], r["state"]) for r in rows] == [
        ("ipv4", False, "reachable"),
        ("ipv6", True, "permanent"),
    ]


def test_proc_route_little_endian() -> None:
    text = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\t"
        "Window\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t1500\t0\t0\n"
    )
    rows = parse.parse_proc_route(text)
    assert rows[0]["destination"] == "0.0.0.0"  # noqa: S104 - a parsed route.
    assert rows[0]["gateway"] == "192.0.2.1"
    assert rows[0]["netmask"] == "0"
    assert rows[0]["type"] == "gateway"
    assert rows[1]["destination"] == "192.0.2.0"
    assert rows[1]["netmask"] == "24"
    assert rows[1]["mtu"] == 1500


def test_proc_ipv6_route_network_order() -> None:
    line = (
        "20010db8000000000000000000000000 20 00000000000000000000000000000000 00 "
        "fe800000000000000000000000000001 00000100 00000001 00000000 00000003 eth0\n"
    )
    row = parse.parse_proc_ipv6_route(line)[0]
    assert row["destination"] == "2001:db8::"
    assert row["netmask"] == "32"
    assert row["gateway"] == "fe80::1"
    assert row["metric"] == 256
    assert row["interface"] == "eth0"


def test_mountinfo_octal_escapes_and_optional_fields() -> None:
    text = (
        "36 35 98:0 /mnt1 /mnt\\040with\\040space rw,noatime master:1 shared:2 - ext3 "
        "/dev/root rw,errors=continue\n"
        "40 36 0:5 / /proc rw - proc proc rw\n"
    )
    rows = parse.parse_mountinfo(text)
    assert rows[0]["path"] == "/mnt with space"
    assert rows[0]["propagation"] == "master:1 shared:2"
    assert rows[0]["type"] == "ext3"
    assert rows[0]["device"] == "/dev/root"
    assert rows[0]["super_options"] == "rw,errors=continue"
    assert rows[1]["propagation"] is None
    assert rows[1]["mount_id"] == 40


def utmp_record(
    size: int, kind: int, user: str, tty: str, host: str, when: int
) -> bytes:
    layout = parse.UTMP_400 if size == 400 else parse.UTMP_384
    address = bytes([192, 0, 2, 10]) + bytes(12)
    fields = [kind, 4242, tty.encode(), b"ts/0", user.encode(), host.encode(), 0, 0]
    fields += [0, when, 0, address]
    return layout.pack(*fields)


def test_utmp_384_byte_records() -> None:
    data = utmp_record(384, 7, "alice", "pts/0", "192.0.2.10", 1700000000)
    data += utmp_record(384, 2, "reboot", "~", "6.1.0", 1699990000)
    rows = parse.parse_utmp(data)
    assert len(rows) == 2
    assert rows[0]["username"] == "alice"
    assert rows[0]["type_name"] == "USER_PROCESS"
    assert rows[0]["time"] == 1700000000
    assert rows[0]["address"] == "192.0.2.10"
    assert rows[0]["pid"] == 4242
    assert rows[1]["type_name"] == "BOOT_TIME"


def test_utmp_400_byte_records() -> None:
    data = b"".join(
        utmp_record(400, 7, f"user{i}", "pts/1", "host", 1700000000 + i)
        for i in range(3)
    )
    assert parse.utmp_record_size(data) == 400
    rows = parse.parse_utmp(data)
    assert [r["username"] for r in rows] == ["user0", "user1", "user2"]
    assert rows[2]["time"] == 1700000002


def test_utmp_torn_last_record_is_dropped() -> None:
    data = utmp_record(384, 7, "bob", "pts/2", "", 1700000000) + b"\x07\x00" * 10
    assert [r["username"] for r in parse.parse_utmp(data)] == ["bob"]


def test_utmp_ambiguous_length_prefers_plausible_layout() -> None:
    # 9600 bytes is 25 records of 384 and 24 of 400.
    data = b"".join(
        utmp_record(384, 7, "carol", "pts/3", "", 1700000000) for _ in range(25)
    )
    assert len(data) == 9600
    assert parse.utmp_record_size(data) == 384
    assert struct.unpack_from("<h", data, 0)[0] == 7


def test_passwd_group_and_shadow() -> None:
    users = parse.parse_passwd(
        "root:x:0:0:root:/root:/bin/bash\n# comment\n"
        "alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh\n"
    )
    assert users[1] == {
        "username": "alice",
        "uid": 1000,
        "gid": 1000,
        "description": "Alice,,,",
        "directory": "/home/alice",
        "shell": "/bin/zsh",
    }
    groups = parse.parse_group("sudo:x:27:alice,bob\nempty:x:100:\n")
    assert groups[0]["members"] == ["alice", "bob"]
    assert groups[1]["members"] == []
    shadow = parse.parse_shadow_status(
        "root:!:19000::::::\nalice:$y$abc:19000::::::\nx::1::::::\n"
    )
    assert shadow == {"root": "locked", "alice": "password", "x": "no_password"}


def test_os_release_quotes() -> None:
    values = parse.parse_os_release(
        'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
    )
    assert values == {"NAME": "Debian GNU/Linux", "VERSION_ID": "12", "ID": "debian"}


def test_dpkg_status_and_log() -> None:
    status = (
        "Package: openssl\nStatus: install ok installed\nInstalled-Size: 2280\n"
        "Architecture: amd64\nVersion: 3.0.15-1~deb12u1\nDescription: tools\n"
        " continued description\n\nPackage: half\nStatus: deinstall ok config-files\n"
        "Version: 1.0\n"
    )
    rows = parse.parse_dpkg_status(status)
    assert rows[0]["name"] == "openssl"
    assert rows[0]["version"] == "3.0.15-1~deb12u1"
    assert rows[0]["revision"] == "1~deb12u1"
    assert rows[0]["size"] == 2280
    assert rows[1]["status"] == "deinstall ok config-files"
    log = (
        "2024-05-01 10:00:00 startup archives unpack\n"
        "2024-05-01 10:00:01 upgrade openssl:amd64 3.0.11-1 3.0.15-1\n"
        "2024-05-01 10:00:02 install curl:amd64 <none> 7.88.1-10\n"
    )
    entries = parse.parse_dpkg_log(log)
    assert entries == [
        {
            "installed_on": "2024-05-01 10:00:01",
            "action": "upgrade",
            "name": "openssl",
            "arch": "amd64",
            "version_old": "3.0.11-1",
            "version": "3.0.15-1",
        },
        {
            "installed_on": "2024-05-01 10:00:02",
            "action": "install",
            "name": "curl",
            "arch": "amd64",
            "version_old": None,
            "version": "7.88.1-10",
        },
    ]


def test_crontab_system_and_user() -> None:
    system = (
        "SHELL=/bin/sh\n# m h dom mon dow user command\n"
        "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n"
        "@reboot root /usr/local/bin/start.sh --now\n"
    )
    assert parse.parse_crontab(system, system=True) == [
        {
            "schedule": "17 * * * *",
            "username": "root",
            "command": "cd / && run-parts --report /etc/cron.hourly",
        },
        {
            "schedule": "@reboot",
            "username": "root",
            "command": "/usr/local/bin/start.sh --now",
        },
    ]
    user = "*/5 * * * * curl -s http://127.0.0.1/x | sh\n@daily /bin/true\n"
    assert parse.parse_crontab(user, system=False) == [
        {
            "schedule": "*/5 * * * *",
            "username": None,
            "command": "curl -s http://127.0.0.1/x | sh",
        },
        {"schedule": "@daily", "username": None, "command": "/bin/true"},
    ]


def test_unit_file_sections() -> None:
    sections = parse.parse_ini_sections(
        "[Unit]\nDescription=Demo\n[Service]\nExecStart=\nExecStart=/usr/bin/demo -x\n"
        "User=demo\n"
    )
    assert parse.first(sections["Unit"], "Description") == "Demo"
    assert parse.first(sections["Service"], "ExecStart") == "/usr/bin/demo -x"
    assert parse.first(sections.get("Install"), "WantedBy") is None


def test_iptables_save_and_nft_json() -> None:
    text = (
        "# Generated by iptables-save\n*filter\n:INPUT DROP [0:0]\n"
        ":FORWARD ACCEPT [0:0]\n"
        "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    )
    rows = parse.parse_iptables_save(text, "iptables")
    assert [(r["chain"], r["policy"], r["rule"]) for r in rows] == [
        ("INPUT", "DROP", None),
        ("FORWARD", "ACCEPT", None),
        ("INPUT", None, "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
    ]
    document = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {
                "chain": {
                    "family": "inet",
                    "table": "filter",
                    "name": "input",
                    "policy": "drop",
                }
            },
            {
                "rule": {
                    "family": "inet",
                    "table": "filter",
                    "chain": "input",
                    "expr": [{"accept": None}],
                }
            },
        ]
    }
    nft = parse.parse_nft_json(document)
    assert nft[0]["policy"] == "drop"
    assert nft[0]["table"] == "inet filter"
    assert nft[1]["rule"] == [{"accept": None}]


def test_exports_smb_and_hosts() -> None:
    exports = parse.parse_exports("/srv/nfs 192.0.2.0/24(rw,sync) # lab\n/ro *(ro)\n")
    assert [(r["path"], r["readonly"]) for r in exports] == [
        ("/srv/nfs", False),
        ("/ro", True),
    ]
    smb = parse.parse_smb_conf(
        "[global]\nworkgroup = X\n[public]\npath = /srv/public\nread only = no\n"
        "[docs]\npath = /srv/docs\n"
    )
    assert [(r["name"], r["path"], r["readonly"]) for r in smb] == [
        ("public", "/srv/public", False),
        ("docs", "/srv/docs", True),
    ]
    hosts = parse.parse_hosts(
        "127.0.0.1 localhost # loop\n\n::1 ip6-localhost ip6-loopback\n"
    )
    assert hosts == [
        {"address": "127.0.0.1", "hostnames": "localhost"},
        {"address": "::1", "hostnames": "ip6-localhost ip6-loopback"},
    ]
