"""macOS parsers on sample outputs of arp, ndp, netstat, dscl, launchctl and others."""

import json
import plistlib
from datetime import datetime

from agent.forensics import parsers_macos as parse


def test_arp_an() -> None:
    text = (
        "? (192.0.2.1) at 2:fc:0:0:0:5 on en0 ifscope [ethernet]\n"
        "? (192.0.2.9) at (incomplete) on en0 ifscope [ethernet]\n"
        "? (224.0.0.251) at 1:0:5e:0:0:fb on en0 ifscope permanent [ethernet]\n"
    )
    rows = parse.parse_arp_an(text)
    assert [(r["address"], r["mac"], r["state"], r["permanent"]) for r in rows] == [
        ("192.0.2.1", "2:fc:0:0:0:5", "complete", False),
        ("192.0.2.9", None, "incomplete", False),
        ("224.0.0.251", "1:0:5e:0:0:fb", "complete", True),
    ]


def test_ndp_an() -> None:
    text = (
        "Neighbor                        Linklayer Address  Netif Expire    "
        "St Flgs Prbs\n"
        "fe80::1%en0                     2:fc:0:0:0:5         en0 23h59m58s S  R\n"
        "fe80::aede:48ff:fe00:1122%en0   ac:de:48:0:11:22     en0 permanent R\n"
    )
    rows = parse.parse_ndp_an(text)
    assert rows[0]["address"] == "fe80::1"
    assert rows[0]["family"] == "ipv6"
    assert rows[1]["permanent"] is True


def test_netstat_routes() -> None:
    text = (
        "Routing tables\n\nInternet:\n"
        "Destination        Gateway            Flags               Netif Expire\n"
        "default            192.0.2.1          UGScg                 en0\n"
        "192.0.2/24         link#6             UCS                   en0      !\n"
        "\nInternet6:\n"
        "Destination        Gateway            Flags               Netif Expire\n"
        "default            fe80::1%en0        UGcg                  en0\n"
    )
    rows = parse.parse_netstat_routes(text)
    assert [
        (r["family"], r["destination"], r["netmask"], r["gateway"]) for r in rows
    ] == [
        ("ipv4", "default", None, "192.0.2.1"),
        ("ipv4", "192.0.2", "24", "link#6"),
        ("ipv6", "default", None, "fe80::1%en0"),
    ]
    assert rows[0]["interface"] == "en0"
    assert rows[0]["type"] == "UGScg"


def test_mount_output() -> None:
    text = (
        "/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n"
        "map auto_home on /System/Volumes/Data/home (autofs, automounted, nobrowse)\n"
        "devfs on /dev (devfs)\n"
    )
    rows = parse.parse_mount(text)
    assert rows[0] == {
        "device": "/dev/disk3s1s1",
        "path": "/",
        "type": "apfs",
        "flags": "sealed, local, read-only, journaled",
    }
    assert rows[1]["device"] == "map auto_home"
    assert rows[2]["flags"] is None


def test_sharing_list() -> None:
    text = (
        "List of Share Points\n"
        "name:\t\tPublic\npath:\t\t/Users/alice/Public\n"
        "\tsmb:\t{\n\t\tname:\tAlice's Public Folder\n\t\tshared:\t1\n\t}\n\n"
        "name:\t\tProjects\npath:\t\t/Volumes/Data/Projects\n"
    )
    assert parse.parse_sharing_list(text) == [
        {"name": "Public", "path": "/Users/alice/Public", "type": "sharing"},
        {"name": "Projects", "path": "/Volumes/Data/Projects", "type": "sharing"},
    ]


def test_socketfilterfw() -> None:
    rows = parse.parse_socketfilterfw(
        "Firewall is enabled. (State = 1)\n",
        "Firewall stealth mode is off\n",
        "ALF: total number of apps = 1 \n\n1 :  /Applications/Tool.app \n"
        " \t ( Allow incoming connections ) \n",
    )
    assert rows[0]["enabled"] is True
    assert rows[1]["enabled"] is False
    assert rows[2] == {
        "kind": "app",
        "source": "socketfilterfw",
        "app_name": "/Applications/Tool.app",
        "action": "Allow incoming connections",
    }
    disabled = parse.parse_socketfilterfw("Firewall is disabled. (State = 0)", "", "")
    assert disabled[0]["enabled"] is False


def test_lsof_pipes() -> None:
    text = (
        "p321\ncsshd\nf3\nar\ntPIPE\nn->0x1234\n"
        "f4\naw\ntFIFO\ni9876\nn/tmp/ctl\nf5\nau\ntIPv4\n"
    )
    rows = parse.pipe_rows_from_lsof(parse.parse_lsof_fields(text))
    assert rows == [
        {
            "pid": 321,
            "process_name": "sshd",
            "fd": 3,
            "mode": "r",
            "inode": None,
            "type": "unnamed",
            "path": None,
            "name": "->0x1234",
        },
        {
            "pid": 321,
            "process_name": "sshd",
            "fd": 4,
            "mode": "w",
            "inode": "9876",
            "type": "named",
            "path": "/tmp/ctl",
            "name": "/tmp/ctl",
        },
    ]


def test_kmutil_showloaded() -> None:
    text = (
        "Index Refs Address            Size       Wired      Name (Version) UUID "
        "<Linked Against>\n"
        "    1  147 0                  0          0          "
        "com.apple.kpi.bsd (23.2.0) "
        "4F8F-11 <>\n"
        "  152    0 0xffffff7f9a2b3000 0x5000     0x5000     com.vendor.driver (1.2.3) "
        "AB-CD <8 6 5 3 1>\n"
    )
    rows = parse.parse_kmutil_showloaded(text)
    assert [(r["name"], r["version"], r["size"]) for r in rows] == [
        ("com.apple.kpi.bsd", "23.2.0", 0),
        ("com.vendor.driver", "1.2.3", 0x5000),
    ]


def test_install_history_plist() -> None:
    data = plistlib.dumps(
        [
            {
                "date": datetime(2024, 1, 10, 3, 0, 0),
                "displayName": "macOS Sonoma 14.2.1",
                "displayVersion": "14.2.1",
                "processName": "softwareupdated",
                "packageIdentifiers": ["com.apple.pkg.update.os.14.2.1"],
            },
        ]
    )
    rows = parse.parse_install_history(data)
    assert rows[0]["name"] == "macOS Sonoma 14.2.1"
    assert rows[0]["installed_on"] == "2024-01-10T03:00:00Z"
    assert rows[0]["description"] == "com.apple.pkg.update.os.14.2.1"


def test_system_profiler_apps() -> None:
    data = json.dumps(
        {
            "SPApplicationsDataType": [
                {
                    "_name": "Safari",
                    "version": "17.2",
                    "path": "/Applications/Safari.app",
                    "obtained_from": "apple",
                    "lastModified": "2024-01-10T03:00:00Z",
                    "signed_by": ["Software Signing", "Apple Code Signing"],
                    "arch_kind": "arch_arm_i64",
                },
            ]
        }
    ).encode()
    rows = parse.parse_system_profiler_apps(data)
    assert rows[0]["name"] == "Safari"
    assert rows[0]["publisher"] == "Software Signing"
    assert rows[0]["source"] == "apple"


def test_launchctl_list_and_plist() -> None:
    rows = parse.parse_launchctl_list(
        "PID\tStatus\tLabel\n-\t0\tcom.apple.idle\n412\t0\tcom.vendor.agent\n"
    )
    assert [(r["name"], r["pid"], r["status"]) for r in rows] == [
        ("com.apple.idle", None, "stopped"),
        ("com.vendor.agent", 412, "running"),
    ]
    job = parse.parse_launchd_plist(
        plistlib.dumps(
            {
                "Label": "com.evil.persist",
                "ProgramArguments": ["/tmp/x", "--beacon"],
                "RunAtLoad": True,
                "StartInterval": 300,
            }
        )
    )
    assert job == {
        "name": "com.evil.persist",
        "command": "/tmp/x",
        "args": "--beacon",
        "status": "enabled",
        "username": None,
        "schedule": "every 300 s; at load",
    }


def test_dscl_users_and_groups() -> None:
    users = plistlib.dumps(
        [
            {
                "dsAttrTypeStandard:RecordName": ["alice"],
                "dsAttrTypeStandard:UniqueID": ["501"],
                "dsAttrTypeStandard:PrimaryGroupID": ["20"],
                "dsAttrTypeStandard:NFSHomeDirectory": ["/Users/alice"],
                "dsAttrTypeStandard:UserShell": ["/bin/zsh"],
                "dsAttrTypeStandard:RealName": ["Alice"],
                "dsAttrTypeStandard:GeneratedUID": ["A1B2"],
            },
            {
                "dsAttrTypeStandard:RecordName": ["_hidden"],
                "dsAttrTypeStandard:UniqueID": ["-2"],
                "dsAttrTypeStandard:IsHidden": ["1"],
            },
        ]
    )
    rows = parse.parse_dscl_users(users)
    assert rows[0]["uid"] == 501
    assert rows[0]["shell"] == "/bin/zsh"
    assert rows[0]["is_hidden"] is False
    assert rows[1]["uid"] == -2
    assert rows[1]["is_hidden"] is True
    groups = plistlib.dumps(
        [
            {
                "dsAttrTypeStandard:RecordName": ["admin"],
                "dsAttrTypeStandard:PrimaryGroupID": ["80"],
                "dsAttrTypeStandard:GroupMembership": ["root", "alice"],
            },
        ]
    )
    assert parse.parse_dscl_groups(groups)[0]["members"] == ["root", "alice"]


def test_last_output() -> None:
    text = (
        "alice     ttys000                   Thu Dec  3 10:00   still logged in\n"
        "bob       ttys001  192.0.2.4        Wed Dec  2 09:15 - 09:40  (00:25)\n"
        "reboot    ~                         Wed Dec  2 09:00\n"
        "\nwtmp begins Mon Nov 30 08:00\n"
    )
    rows = parse.parse_last(text)
    assert [(r["username"], r["host"], r["type_name"]) for r in rows] == [
        ("alice", None, "USER_PROCESS"),
        ("bob", "192.0.2.4", "USER_PROCESS"),
        ("reboot", None, "BOOT_TIME"),
    ]


def test_boottime_sw_vers_and_diskutil() -> None:
    assert (
        parse.parse_sysctl_boottime(
            "{ sec = 1700000000, usec = 123456 } Tue Nov 14 22:13:20 2023\n"
        )
        == 1700000000
    )
    version = parse.parse_sw_vers(
        "ProductName:\t\tmacOS\nProductVersion:\t\t14.2.1\nBuildVersion:\t\t23C71\n"
    )
    assert (version["name"], version["major"], version["minor"], version["patch"]) == (
        "macOS",
        14,
        2,
        1,
    )
    assert version["build"] == "23C71"
    disks = plistlib.dumps(
        {
            "AllDisksAndPartitions": [
                {
                    "DeviceIdentifier": "disk0",
                    "Size": 500277790720,
                    "Content": "GUID_partition_scheme",
                    "Partitions": [
                        {
                            "DeviceIdentifier": "disk0s1",
                            "Size": 524288000,
                            "Content": "Apple_APFS_ISC",
                            "DiskUUID": "U1",
                        }
                    ],
                },
            ]
        }
    )
    rows = parse.parse_diskutil_list(disks)
    assert [(r["name"], r["parent"]) for r in rows] == [
        ("/dev/disk0", None),
        ("/dev/disk0s1", "/dev/disk0"),
    ]
    assert rows[1]["uuid"] == "U1"


def test_softwareupdate_history() -> None:
    text = (
        "Display Name                                       Version    Date\n"
        "------------                                       -------    ----\n"
        "macOS Sonoma 14.2.1                                14.2.1     "
        "01/10/2024, 03:00:00  \n"
    )
    rows = parse.parse_softwareupdate_history(text)
    assert len(rows) == 1
    assert rows[0]["name"] == "macOS Sonoma 14.2.1"
    assert rows[0]["version"] == "14.2.1"
    assert rows[0]["installed_on"].endswith("Z")
