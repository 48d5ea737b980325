# mypy: disable-error-code="attr-defined"
# (winreg's stubs define its functions only when checking for Windows.)
"""Windows collectors: PowerShell with ConvertTo-Json, CIM, and the registry.

Each collector runs a PowerShell pipeline that ends in `ConvertTo-Json` (or
reads the registry with `winreg`) and hands the objects to a pure parser in
`parsers_windows`, which the tests exercise on sample outputs. Windows
PowerShell 5.1 is used because it ships with every supported Windows.
"""

import os
from pathlib import Path
from typing import Any

from agent.forensics import parsers_windows as parse
from agent.forensics.common import time_row
from agent.forensics.linux import hosts_rows
from agent.forensics.model import WINDOWS, Rows, collector
from agent.forensics.safeio import list_dir, read_capped, run_command

POWERSHELL = "powershell.exe"
PREFETCH_CAP = 16 * 1024 * 1024


def powershell_json(script: str, rows: Rows, timeout: float = 120.0) -> list[dict]:
    """Run a PowerShell pipeline, convert its output to JSON and parse it."""
    wrapped = (
        "$ErrorActionPreference = 'Stop'; "
        "[Console]::OutputEncoding = [System.Text.Encoding]::UTF8; "
        f"@({script}) | ConvertTo-Json -Depth 4 -Compress"
    )
    output = run_command(
        [POWERSHELL, "-NoProfile", "-NonInteractive", "-Command", wrapped],
        timeout=timeout,
    )
    stderr = output.stderr.decode(errors="replace")
    if output.returncode != 0:
        if "Access is denied" in stderr or "UnauthorizedAccess" in stderr:
            raise PermissionError(f"PowerShell: {stderr.strip()[:500]}")
        raise RuntimeError(
            f"PowerShell exited {output.returncode}: {stderr.strip()[:500]}"
        )
    rows.sources.append(f"powershell: {script[:120]}")
    return parse.parse_ps_json(output.stdout)


def registry_values(hive: Any, path: str) -> dict[str, Any]:
    """Return the values of a registry key, or {} when it does not exist."""
    import winreg

    values: dict[str, Any] = {}
    try:
        with winreg.OpenKey(hive, path) as key:
            index = 0
            while True:
                try:
                    name, value, _kind = winreg.EnumValue(key, index)
                except OSError:
                    break
                values[name] = value
                index += 1
    except FileNotFoundError:
        pass
    return values


def registry_subkeys(hive: Any, path: str) -> list[str]:
    """Return the names of a key's subkeys, or [] when it does not exist."""
    import winreg

    names = []
    try:
        with winreg.OpenKey(hive, path) as key:
            index = 0
            while True:
                try:
                    names.append(winreg.EnumKey(key, index))
                except OSError:
                    break
                index += 1
    except FileNotFoundError:
        pass
    return names


def user_hives() -> list[tuple[str, Any, str]]:
    """Return (label, hive, prefix) for HKLM and each loaded user hive in HKU."""
    import winreg

    hives = [("HKLM", winreg.HKEY_LOCAL_MACHINE, "")]
    for sid in registry_subkeys(winreg.HKEY_USERS, ""):
        if not sid.endswith("_Classes"):
            hives.append((f"HKU\\{sid}", winreg.HKEY_USERS, sid + "\\"))
    return hives


@collector("network.arp_cache", WINDOWS)
def collect_arp_cache() -> Rows:
    rows = Rows()
    objects = powershell_json(
        "Get-NetNeighbor | Select-Object IPAddress, LinkLayerAddress, InterfaceAlias, "
        "@{n='State';e={$_.State.ToString()}}",
        rows,
    )
    rows.rows = parse.parse_neighbors(objects)
    return rows


@collector("network.etc_hosts", WINDOWS)
def collect_etc_hosts() -> Rows:
    import winreg

    # The hosts directory is configurable; DataBasePath names it.
    parameters = registry_values(
        winreg.HKEY_LOCAL_MACHINE, r"SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"
    )
    folder = os.path.expandvars(
        parameters.get("DataBasePath", r"%SystemRoot%\System32\drivers\etc")
    )
    return hosts_rows(os.path.join(folder, "hosts"))


@collector("network.firewall", WINDOWS)
def collect_firewall() -> Rows:
    rows = Rows()
    profiles = powershell_json(
        "Get-NetFirewallProfile | Select-Object Name, "
        "@{n='Enabled';e={$_.Enabled.ToString()}}, "
        "@{n='DefaultInboundAction';e={$_.DefaultInboundAction.ToString()}}, "
        "@{n='DefaultOutboundAction';e={$_.DefaultOutboundAction.ToString()}}, "
        "LogFileName",
        rows,
    )
    # The COM policy object lists rules about three times faster than
    # Get-NetFirewallRule joined with its filter cmdlets.
    rules = powershell_json(
        "(New-Object -ComObject HNetCfg.FwPolicy2).Rules | "
        "Select-Object Name, Enabled, "
        "Direction, Action, Protocol, LocalPorts, RemotePorts, LocalAddresses, "
        "RemoteAddresses, ApplicationName, serviceName, Profiles, Grouping",
        rows,
        timeout=280.0,
    )
    rows.rows = parse.parse_firewall(profiles, rules)
    return rows


@collector("network.routes", WINDOWS)
def collect_routes() -> Rows:
    rows = Rows()
    objects = powershell_json(
        "Get-NetRoute | Select-Object DestinationPrefix, NextHop, InterfaceAlias, "
        "RouteMetric, @{n='Protocol';e={$_.Protocol.ToString()}}",
        rows,
    )
    rows.rows = parse.parse_routes(objects)
    return rows


@collector("network.shares", WINDOWS)
def collect_shares() -> Rows:
    rows = Rows()
    objects = powershell_json(
        "Get-SmbShare | Select-Object Name, Path, Description, ScopeName, "
        "@{n='ShareType';e={$_.ShareType.ToString()}}",
        rows,
    )
    rows.rows = parse.parse_shares(objects)
    return rows


def decompress_xpress_huffman(data: bytes, size: int) -> bytes:
    """Decompress LZXPRESS-Huffman with ntdll's RtlDecompressBufferEx."""
    import ctypes

    ntdll = ctypes.windll.ntdll  # type: ignore[attr-defined]
    workspace_size = ctypes.c_ulong()
    fragment_size = ctypes.c_ulong()
    compression_format = 4  # COMPRESSION_FORMAT_XPRESS_HUFF
    status = ntdll.RtlGetCompressionWorkSpaceSize(
        compression_format, ctypes.byref(workspace_size), ctypes.byref(fragment_size)
    )
    if status != 0:
        raise OSError(f"RtlGetCompressionWorkSpaceSize failed with status {status:#x}")
    workspace = ctypes.create_string_buffer(workspace_size.value)
    output = ctypes.create_string_buffer(size)
    final_size = ctypes.c_ulong()
    status = ntdll.RtlDecompressBufferEx(
        compression_format,
        output,
        size,
        data,
        len(data),
        ctypes.byref(final_size),
        workspace,
    )
    if status != 0:
        raise OSError(f"RtlDecompressBufferEx failed with status {status:#x}")
    return output.raw[: final_size.value]


@collector("software.prefetch", WINDOWS)
def collect_prefetch() -> Rows:
    folder = Path(os.environ.get("SystemRoot", r"C:\Windows")) / "Prefetch"
    rows = Rows(sources=[str(folder)])
    names = [name for name in list_dir(folder) if name.lower().endswith(".pf")]
    if not names:
        rows.reason = "no prefetch files: prefetch is off by default on Windows Server"
    for name in names:
        path = folder / name
        try:
            data, _truncated = read_capped(path, PREFETCH_CAP)
        except OSError as error:
            rows.partial = True
            rows.warnings.append(f"{path}: {error}")
            continue
        parsed = parse.parse_prefetch(data, decompress_xpress_huffman)
        rows.rows.append(
            {
                "path": str(path),
                "filename": name,
                "hash": parsed.pop("prefetch_hash", None),
                **parsed,
            }
        )
    return rows


@collector("software.pipes", WINDOWS)
def collect_pipes() -> Rows:
    # Listing \\.\pipe\ uses FindFirstFileW and opens no pipe, unlike asking
    # each pipe for its server PID, which would connect to it.
    return Rows(
        rows=parse.pipe_rows(os.listdir("\\\\.\\pipe\\")), sources=["\\\\.\\pipe\\"]
    )


@collector("software.kernel_modules", WINDOWS)
def collect_drivers() -> Rows:
    rows = Rows()
    objects = powershell_json(
        "Get-CimInstance Win32_SystemDriver | Select-Object Name, DisplayName, "
        "PathName, State, Status, StartMode, ServiceType",
        rows,
    )
    rows.rows = parse.parse_drivers(objects)
    return rows


@collector("software.patches", WINDOWS)
def collect_patches() -> Rows:
    rows = Rows()
    hotfixes = powershell_json(
        "Get-HotFix | Select-Object HotFixID, Description, InstalledBy, "
        "@{n='InstalledOn';e={if ($_.InstalledOn) {$_.InstalledOn.ToUniversalTime()"
        ".ToString('o')}}}",
        rows,
    )
    rows.rows = parse.parse_hotfixes(hotfixes)
    # Get-HotFix lists CBS updates only; the update agent's history has the rest.
    history = powershell_json(
        "$s = New-Object -ComObject Microsoft.Update.Session; "
        "$q = $s.CreateUpdateSearcher(); "
        "$n = $q.GetTotalHistoryCount(); if ($n -gt 0) { $q.QueryHistory(0, $n) | "
        "Select-Object Title, Operation, ResultCode, "
        "@{n='Date';e={$_.Date.ToUniversalTime().ToString('o')}} }",
        rows,
        timeout=240.0,
    )
    rows.rows += parse.parse_update_history(history)
    return rows


UNINSTALL_KEYS = (
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
    r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
)


@collector("software.programs", WINDOWS)
def collect_programs() -> Rows:
    # Win32_Product is never queried: it makes Windows Installer check, and
    # sometimes repair, every MSI product.
    rows = Rows()
    entries = []
    for label, hive, prefix in user_hives():
        for key in UNINSTALL_KEYS:
            for name in registry_subkeys(hive, prefix + key):
                path = f"{prefix}{key}\\{name}"
                entries.append((f"{label}\\{key}\\{name}", registry_values(hive, path)))
            rows.sources.append(f"{label}\\{key}")
    rows.rows = parse.parse_uninstall_entries(entries)
    return rows


@collector("software.services", WINDOWS)
def collect_services() -> Rows:
    import winreg

    rows = Rows()
    objects = powershell_json(
        "Get-CimInstance Win32_Service | Select-Object Name, DisplayName, Description, "
        "State, StartMode, PathName, StartName, ProcessId, ServiceType",
        rows,
    )
    services_key = r"SYSTEM\CurrentControlSet\Services"
    dlls = {}
    for name in registry_subkeys(winreg.HKEY_LOCAL_MACHINE, services_key):
        values = registry_values(
            winreg.HKEY_LOCAL_MACHINE, f"{services_key}\\{name}\\Parameters"
        )
        if values.get("ServiceDll"):
            dlls[name.lower()] = str(values["ServiceDll"])
    rows.rows = parse.parse_services(objects, dlls)
    return rows


RUN_KEYS = (
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run",
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\RunOnce",
    r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Run",
    r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\RunOnce",
)


@collector("software.startup_items", WINDOWS)
def collect_startup_items() -> Rows:
    rows = Rows()
    for label, hive, prefix in user_hives():
        for key in RUN_KEYS:
            rows.rows += parse.parse_run_key(
                label, key, registry_values(hive, prefix + key)
            )
            rows.sources.append(f"{label}\\{key}")
    startup = r"Microsoft\Windows\Start Menu\Programs\StartUp"
    folders = [Path(os.environ.get("ProgramData", r"C:\ProgramData")) / startup]
    users = Path(os.environ.get("SystemDrive", "C:") + "\\Users")
    folders += [users / name / "AppData/Roaming" / startup for name in list_dir(users)]
    for folder in folders:
        for name in list_dir(folder):
            rows.rows.append(
                {
                    "name": name,
                    "path": str(folder / name),
                    "type": "startup_folder",
                    "source": str(folder),
                    "status": "enabled",
                }
            )
    tasks = powershell_json(
        "Get-ScheduledTask | Select-Object TaskName, TaskPath, "
        "@{n='State';e={$_.State.ToString()}}, "
        "@{n='UserId';e={$_.Principal.UserId}}, "
        "@{n='Actions';e={@($_.Actions | Select-Object Execute, Arguments)}}, "
        "@{n='Triggers';e={($_.Triggers | ForEach-Object { $_.CimClass.CimClassName }) "
        "-join ', '}}",
        rows,
    )
    rows.rows += parse.parse_scheduled_tasks(tasks)
    return rows


WMI_SCRIPT = """
foreach ($ns in 'root/subscription', 'root/default') {
  foreach ($spec in @(@('filter','__EventFilter'),
      @('binding','__FilterToConsumerBinding'),
      @('consumer','CommandLineEventConsumer'),
      @('consumer','ActiveScriptEventConsumer'),
      @('consumer','LogFileEventConsumer'), @('consumer','NTEventLogEventConsumer'),
      @('consumer','SMTPEventConsumer'))) {
    Get-CimInstance -Namespace $ns -ClassName $spec[1] -ErrorAction SilentlyContinue |
      ForEach-Object {
        [pscustomobject]@{Kind=$spec[0]; Class=$spec[1]; Namespace=$ns;
          Name=$_.Name; Query=$_.Query; QueryLanguage=$_.QueryLanguage;
          CommandLineTemplate=$_.CommandLineTemplate;
          ExecutablePath=$_.ExecutablePath; ScriptingEngine=$_.ScriptingEngine;
          ScriptFileName=$_.ScriptFileName; ScriptText=$_.ScriptText;
          Consumer=[string]$_.Consumer; Filter=[string]$_.Filter;
          RelativePath=[string]$_.CimInstanceProperties['__RELPATH'].Value}
      }
  }
}
"""


@collector("software.wmi_persistence", WINDOWS)
def collect_wmi_persistence() -> Rows:
    rows = Rows()
    rows.rows = parse.parse_wmi_persistence(powershell_json(WMI_SCRIPT, rows))
    return rows


@collector("users.users", WINDOWS)
def collect_users() -> Rows:
    rows = Rows()
    # LocalAccount=TRUE: without it a domain member enumerates the whole domain.
    objects = powershell_json(
        "Get-CimInstance Win32_UserAccount -Filter 'LocalAccount=TRUE' | Select-Object "
        "Name, SID, Description, Disabled, AccountType, PasswordRequired",
        rows,
    )
    rows.rows = parse.parse_local_users(objects)
    return rows


GROUPS_SCRIPT = """
Get-CimInstance Win32_Group -Filter 'LocalAccount=TRUE' | ForEach-Object {
  $members = @()
  try {
    $group = [ADSI]"WinNT://$env:COMPUTERNAME/$($_.Name),group"
    foreach ($m in $group.psbase.Invoke('Members')) {
      $t = $m.GetType()
      $bytes = $t.InvokeMember('objectSid', 'GetProperty', $null, $m, $null)
      $sid = (New-Object System.Security.Principal.SecurityIdentifier($bytes, 0)).Value
      $name = $t.InvokeMember('Name', 'GetProperty', $null, $m, $null)
      $members += [pscustomobject]@{sid=$sid; name=$name}
    }
  } catch {}
  [pscustomobject]@{Name=$_.Name; SID=$_.SID; Description=$_.Description;
    Members=$members}
}
"""


@collector("users.groups", WINDOWS)
def collect_groups() -> Rows:
    rows = Rows()
    rows.rows = parse.parse_local_groups(powershell_json(GROUPS_SCRIPT, rows))
    return rows


@collector("users.login_history", WINDOWS)
def collect_login_history() -> Rows:
    rows = Rows()
    objects = powershell_json(
        "Get-WinEvent -FilterHashtable @{LogName='Security'; "
        "Id=4624,4625,4634,4647,4648,4778,4779} -MaxEvents 5000 "
        "-ErrorAction SilentlyContinue | "
        "ForEach-Object { [pscustomobject]@{Xml=$_.ToXml()} }",
        rows,
        timeout=240.0,
    )
    rows.rows = [
        parse.parse_logon_event(item["Xml"]) for item in objects if item.get("Xml")
    ]
    return rows


@collector("system.time", WINDOWS)
def collect_time() -> Rows:
    import winreg

    zone = registry_values(
        winreg.HKEY_LOCAL_MACHINE,
        r"SYSTEM\CurrentControlSet\Control\TimeZoneInformation",
    ).get("TimeZoneKeyName")
    return Rows(rows=[time_row(zone)], sources=["TimeZoneInformation"])


@collector("system.os_version", WINDOWS)
def collect_os_version() -> Rows:
    import platform
    import socket
    import winreg

    values = registry_values(
        winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Windows NT\CurrentVersion"
    )
    row = parse.parse_windows_version(values)
    row.update(
        arch=platform.machine(),
        kernel_version=platform.version(),
        hostname=socket.gethostname(),
    )
    return Rows(
        rows=[row], sources=[r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"]
    )


@collector("system.drives", WINDOWS)
def collect_drives() -> Rows:
    rows = Rows()
    objects = powershell_json(
        "Get-CimInstance Win32_LogicalDisk | Select-Object DeviceID, Size, FreeSpace, "
        "FileSystem, VolumeName, VolumeSerialNumber, DriveType",
        rows,
    )
    rows.rows = parse.parse_logical_disks(objects)
    return rows
