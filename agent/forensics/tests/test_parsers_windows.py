"""Windows parsers on sample outputs of PowerShell, the registry and prefetch files."""

import struct

import pytest

from agent.forensics import parsers_windows as parse

V30_HEADER = (
    bytes.fromhex("1e000000 53434341 11000000 3e4a0000")
    + "CMD.EXE".encode("utf-16-le").ljust(60, b"\0")
    + bytes.fromhex("8109d30b 00000000")
)


def test_prefetch_v30_header() -> None:
    assert len(V30_HEADER) == 84
    result = parse.parse_prefetch(V30_HEADER)
    expected = {
        "version": 30,
        "signature": "SCCA",
        "file_size": 19006,
        "executable": "CMD.EXE",
        "prefetch_hash": "0BD30981",
    }
    assert {key: result[key] for key in expected} == expected
    assert result["compressed"] is False
    assert result["status"] == "ok"


def test_prefetch_v31_parses_identically() -> None:
    result = parse.parse_prefetch(b"\x1f\x00\x00\x00" + V30_HEADER[4:])
    assert result["version"] == 31
    assert result["executable"] == "CMD.EXE"
    assert result["prefetch_hash"] == "0BD30981"


def test_prefetch_compressed_without_codec() -> None:
    data = b"MAM\x04" + b"\x3e\x4a\x00\x00" + b"\x12\x34" * 40
    result = parse.parse_prefetch(data)
    assert result == {
        "compressed": True,
        "uncompressed_size": 19006,
        "status": "error",
        "error": "unsupported_compression: MAM/LZXPRESS-Huffman",
    }


def test_prefetch_compressed_with_codec_and_run_info() -> None:
    body = bytearray(V30_HEADER.ljust(0x100, b"\0"))
    filetime = (1700000000 + 11_644_473_600) * 10_000_000
    struct.pack_into("<Q", body, 0x80, filetime)
    struct.pack_into("<Q", body, 0x88, filetime - 3600 * 10_000_000)
    struct.pack_into("<I", body, 0xD0, 12)
    calls = []

    def fake_decompress(data: bytes, size: int) -> bytes:
        calls.append((data, size))
        return bytes(body)

    result = parse.parse_prefetch(
        b"MAM\x04" + struct.pack("<I", len(body)) + b"xx", fake_decompress
    )
    assert calls == [(b"xx", len(body))]
    assert result["compressed"] is True
    assert result["run_count"] == 12
    assert result["last_run_time"] == 1700000000
    assert result["last_run_time_utc"] == "2023-11-14T22:13:20Z"
    assert result["other_run_times"] == ["2023-11-14T21:13:20Z"]


def test_prefetch_unknown_version_and_garbage() -> None:
    unknown = parse.parse_prefetch(b"\x40\x00\x00\x00" + V30_HEADER[4:])
    assert unknown["status"] == "error"
    assert unknown["error"] == "unsupported_version: 64"
    garbage = parse.parse_prefetch(b"not a prefetch file at all" * 4)
    assert garbage["status"] == "error"
    assert "SCCA" in garbage["error"]


def test_pipe_names_unchanged() -> None:
    names = ["lsass", "Winsock2\\CatalogChangeListener-230-0", "bad<name>|x"]
    rows = parse.pipe_rows(names)
    assert [row["name"] for row in rows] == names
    assert rows[1]["path"] == "\\\\.\\pipe\\Winsock2\\CatalogChangeListener-230-0"


def test_uninstall_entries_skip_missing_display_name() -> None:
    entries = [
        (r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\AddressBook", {}),
        (
            r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
            r"\Connection Manager",
            {"SystemComponent": 1},
        ),
        (
            r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{ABC}",
            {
                "DisplayName": "7-Zip 23.01 (x64)",
                "DisplayVersion": "23.01",
                "Publisher": "Igor Pavlov",
                "InstallDate": "20240102",
                "UninstallString": '"C:\\Program Files\\7-Zip\\Uninstall.exe"',
                "WindowsInstaller": 1,
            },
        ),
    ]
    rows = parse.parse_uninstall_entries(entries)
    assert len(rows) == 1
    assert rows[0]["name"] == "7-Zip 23.01 (x64)"
    assert rows[0]["identifier"] == "{ABC}"
    assert rows[0]["type"] == "msi"
    assert rows[0]["install_date"] == "20240102"


def test_windows_11_named_from_build() -> None:
    result = parse.parse_windows_version(
        {"ProductName": "Windows 10 Pro", "CurrentBuild": "26100", "UBR": 2033}
    )
    expected = {
        "name": "Windows 11 Pro",
        "build": 26100,
        "revision": 2033,
        "product_name_raw": "Windows 10 Pro",
    }
    assert {key: result[key] for key in expected} == expected
    older = parse.parse_windows_version(
        {"ProductName": "Windows 10 Pro", "CurrentBuild": "19045"}
    )
    assert older["name"] == "Windows 10 Pro"


def test_group_members_orphaned_sid() -> None:
    rows = parse.parse_group_members(
        [
            {"sid": "S-1-5-21-1111-2222-3333-500", "name": "Administrator"},
            {"sid": "S-1-5-21-999-888-777-1105", "name": "S-1-5-21-999-888-777-1105"},
            {"sid": "S-1-5-21-999-888-777-1106", "name": None},
        ]
    )
    assert rows == [
        {
            "sid": "S-1-5-21-1111-2222-3333-500",
            "name": "Administrator",
            "resolved": True,
        },
        {"sid": "S-1-5-21-999-888-777-1105", "name": None, "resolved": False},
        {"sid": "S-1-5-21-999-888-777-1106", "name": None, "resolved": False},
    ]


def test_local_groups_single_member_object() -> None:
    objects = parse.parse_ps_json(
        '{"Name":"Administrators","SID":"S-1-5-32-544","Description":"Admins",'
        '"Members":{"sid":"S-1-5-21-1-2-3-500","name":"Administrator"}}'
    )
    rows = parse.parse_local_groups(objects)
    assert rows[0]["gid"] == 544
    assert rows[0]["members"] == [
        {"sid": "S-1-5-21-1-2-3-500", "name": "Administrator", "resolved": True}
    ]


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("null", 0),
        ('{"a":1}', 1),
        ('[{"a":1},{"a":2}]', 2),
        (b"\xef\xbb\xbf[]", 0),
    ],
)
def test_ps_json_shapes(text: str | bytes, count: int) -> None:
    assert len(parse.parse_ps_json(text)) == count


def test_ps_dates() -> None:
    assert parse.ps_epoch("/Date(1700000000000)/") == 1700000000
    assert parse.ps_epoch("2023-11-14T22:13:20.0000000Z") == 1700000000
    assert parse.ps_epoch({"value": "/Date(1700000000000)/"}) == 1700000000
    assert parse.ps_epoch(None) is None
    assert parse.ps_epoch("not a date") is None


def test_neighbors_and_routes() -> None:
    neighbors = parse.parse_neighbors(
        parse.parse_ps_json(
            '[{"IPAddress":"192.0.2.1","LinkLayerAddress":"02-FC-00-00-00-05",'
            '"InterfaceAlias":"Ethernet","State":"Reachable"},'
            '{"IPAddress":"ff02::1","LinkLayerAddress":"33-33-00-00-00-01",'
            '"InterfaceAlias":"Ethernet","State":"Permanent"}]'
        )
    )
    assert [(n["family"], n["permanent"]) for n in neighbors] == [
        ("ipv4", False),
        ("ipv6", True),
    ]
    routes = parse.parse_routes(
        parse.parse_ps_json(
            '{"DestinationPrefix":"0.0.0.0/0","NextHop":"192.0.2.1",'
            '"InterfaceAlias":"Ethernet","RouteMetric":0,"Protocol":"NetMgmt"}'
        )
    )
    assert routes[0]["destination"] == "0.0.0.0"  # noqa: S104 - a parsed route.
    assert routes[0]["netmask"] == "0"
    assert routes[0]["gateway"] == "192.0.2.1"


def test_firewall_profiles_and_rules() -> None:
    profiles = parse.parse_ps_json(
        '[{"Name":"Domain","Enabled":"True","DefaultInboundAction":"Block",'
        '"DefaultOutboundAction":"Allow","LogFileName":"%systemroot%\\\\pfirewall.log"}]'
    )
    rules = parse.parse_ps_json(
        '[{"Name":"Remote Desktop","Enabled":true,"Direction":1,"Action":1,'
        '"Protocol":6,"LocalPorts":"3389","RemotePorts":"*","LocalAddresses":"*",'
        '"RemoteAddresses":"*","ApplicationName":null,"serviceName":"TermService",'
        '"Profiles":2147483647,"Grouping":"@FirewallAPI.dll,-28752"}]'
    )
    rows = parse.parse_firewall(profiles, rules)
    assert rows[0]["kind"] == "profile"
    assert rows[0]["enabled"] is True
    assert rows[0]["policy"] == "inbound Block, outbound Allow"
    assert rows[1]["kind"] == "rule"
    assert (rows[1]["direction"], rows[1]["action"], rows[1]["protocol"]) == (
        "in",
        "allow",
        "tcp",
    )
    assert rows[1]["local_ports"] == "3389"


def test_services_add_service_dll() -> None:
    objects = parse.parse_ps_json(
        '[{"Name":"Dnscache","DisplayName":"DNS Client","State":"Running",'
        '"StartMode":"Auto","PathName":"C:\\\\Windows\\\\system32\\\\svchost.exe -k '
        'NetworkService -p","StartName":"NT AUTHORITY\\\\NetworkService",'
        '"ProcessId":1234,"ServiceType":"Share Process"}]'
    )
    rows = parse.parse_services(
        objects, {"dnscache": r"%SystemRoot%\System32\dnsrslvr.dll"}
    )
    assert rows[0]["module_path"] == r"%SystemRoot%\System32\dnsrslvr.dll"
    assert rows[0]["pid"] == 1234
    assert rows[0]["start_type"] == "Auto"


def test_hotfixes_and_update_history() -> None:
    hotfixes = parse.parse_hotfixes(
        parse.parse_ps_json(
            '{"HotFixID":"KB5034441","Description":"Security Update",'
            '"InstalledBy":"NT AUTHORITY\\\\SYSTEM",'
            '"InstalledOn":"2024-01-10T00:00:00.0000000Z"}'
        )
    )
    assert hotfixes[0]["hotfix_id"] == "KB5034441"
    assert hotfixes[0]["installed_on"] == "2024-01-10T00:00:00Z"
    history = parse.parse_update_history(
        parse.parse_ps_json(
            '{"Title":"2024-01 Cumulative Update for Windows 11 (KB5034123)",'
            '"Operation":1,"ResultCode":2,"Date":"2024-01-10T03:00:00.0000000Z"}'
        )
    )
    assert history[0]["hotfix_id"] == "KB5034123"
    assert history[0]["action"] == "install"


def test_scheduled_tasks_and_run_keys() -> None:
    tasks = parse.parse_scheduled_tasks(
        parse.parse_ps_json(
            '{"TaskName":"Updater","TaskPath":"\\\\Vendor\\\\","State":"Ready",'
            '"UserId":"SYSTEM","Actions":{"Execute":"C:\\\\u.exe","Arguments":"/q"},'
            '"Triggers":"MSFT_TaskDailyTrigger"}'
        )
    )
    assert tasks[0]["path"] == "\\Vendor\\Updater"
    assert tasks[0]["command"] == "C:\\u.exe"
    assert tasks[0]["args"] == "/q"
    run = parse.parse_run_key(
        "HKLM",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run",
        {"SecurityHealth": r"%windir%\system32\SecurityHealthSystray.exe"},
    )
    assert run[0]["name"] == "SecurityHealth"
    assert run[0]["type"] == "run_key"


def test_wmi_persistence_rows() -> None:
    objects = parse.parse_ps_json(
        '[{"Kind":"filter","Class":"__EventFilter","Namespace":"root/subscription",'
        '"Name":"f1","Query":"SELECT * FROM __InstanceModificationEvent WITHIN 60",'
        '"QueryLanguage":"WQL","RelativePath":"__EventFilter.Name=\\"f1\\""},'
        '{"Kind":"consumer","Class":"CommandLineEventConsumer",'
        '"Namespace":"root/subscription","Name":"c1",'
        '"CommandLineTemplate":"powershell -enc AAAA","RelativePath":"x"},'
        '{"Kind":"binding","Class":"__FilterToConsumerBinding",'
        '"Namespace":"root/subscription","Consumer":"CommandLineEventConsumer.Name=\\"c1\\"",'
        '"Filter":"__EventFilter.Name=\\"f1\\"","RelativePath":"y"}]'
    )
    rows = parse.parse_wmi_persistence(objects)
    assert [r["kind"] for r in rows] == [
        "filter",
        "consumer:CommandLineEventConsumer",
        "binding",
    ]
    assert rows[0]["query_language"] == "WQL"
    assert rows[1]["command_line_template"] == "powershell -enc AAAA"
    assert rows[2]["filter"] == '__EventFilter.Name="f1"'


LOGON_XML = """<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
<System><Provider Name="Microsoft-Windows-Security-Auditing"/><EventID>4624</EventID>
<TimeCreated SystemTime="2023-11-14T22:13:20.1234567Z"/></System>
<EventData><Data Name="TargetUserName">alice</Data>
<Data Name="TargetDomainName">LAB</Data><Data Name="LogonType">10</Data>
<Data Name="WorkstationName">WS1</Data><Data Name="IpAddress">192.0.2.44</Data>
<Data Name="ProcessId">0x2a8</Data></EventData></Event>"""


def test_logon_event_xml() -> None:
    row = parse.parse_logon_event(LOGON_XML)
    assert row["username"] == "LAB\\alice"
    assert row["event_id"] == 4624
    assert row["type_name"] == "logon"
    assert row["logon_type"] == "10"
    assert row["address"] == "192.0.2.44"
    assert row["time"] == 1700000000
    assert row["pid"] == 0x2A8


def test_users_and_drives() -> None:
    users = parse.parse_local_users(
        parse.parse_ps_json(
            '{"Name":"Guest","SID":"S-1-5-21-1-2-3-501","Disabled":true,'
            '"AccountType":512,"PasswordRequired":false}'
        )
    )
    assert users[0]["uid"] == 501
    assert users[0]["enabled"] is False
    drives = parse.parse_logical_disks(
        parse.parse_ps_json(
            '{"DeviceID":"C:","Size":255369777152,"FreeSpace":100000000000,'
            '"FileSystem":"NTFS","VolumeName":"OS","VolumeSerialNumber":"1A2B3C4D",'
            '"DriveType":3}'
        )
    )
    assert drives[0]["type"] == "local"
    assert drives[0]["size"] == 255369777152
    assert drives[0]["removable"] is False
