"""Detections about this machine in real vendor formats, for the walkthrough.

The documents follow what the vendors send: a Wazuh alert as its integrations
forward a line of alerts.json (a file integrity event in who-data mode that a
local rule raised to level 12), and a CrowdStrike Falcon streaming API
DetectionSummaryEvent. Both name the same harmless file.
"""

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbooks.detections import account_name

SAMPLE_FILE_NAME = "invoice-viewer.sh"
SAMPLE_FILE_TEXT = (
    "#!/bin/sh\n"
    "# A harmless file that Exec's demo detection names, so that a playbook\n"
    "# has a real file to collect. It only prints this line.\n"
    "echo 'Exec demo file: nothing to see here'\n"
)


@dataclass
class DemoFacts:
    """The machine, user, file and time a demo detection describes."""

    hostname: str
    username: str
    file_path: str
    file_sha256: str
    now: dt.datetime
    alert_id: str


def write_sample_file(folder: Path) -> Path:
    """Write the harmless sample file into `folder` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SAMPLE_FILE_NAME
    path.write_text(SAMPLE_FILE_TEXT)
    return path.resolve()


def file_sha256(path: Path) -> str:
    """Return the file's SHA-256, or "" when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _domain_and_name(username: str) -> tuple[str, str]:
    domain, _, _ = username.rpartition("\\")
    return domain, account_name(username)


def wazuh_alert(facts: DemoFacts) -> dict[str, Any]:
    """Build a Wazuh alert: a file added to a user's folder, rule level 12."""
    epoch = int(facts.now.timestamp())
    _, name = _domain_and_name(facts.username)
    return {
        "timestamp": facts.now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "rule": {
            "level": 12,
            "description": "Executable script added to a user folder",
            "id": "100210",
            "firedtimes": 1,
            "mail": True,
            "groups": ["local", "syscheck", "syscheck_entry_added"],
            "mitre": {
                "id": ["T1105"],
                "tactic": ["Command and Control"],
                "technique": ["Ingress Tool Transfer"],
            },
        },
        "agent": {"id": "001", "name": facts.hostname},
        "manager": {"name": "wazuh-manager"},
        "id": f"{epoch}.{facts.alert_id}",
        "full_log": f"File '{facts.file_path}' added\nMode: whodata\n",
        "syscheck": {
            "path": facts.file_path,
            "mode": "whodata",
            "event": "added",
            "size_after": str(len(SAMPLE_FILE_TEXT)),
            "perm_after": "rwxr-xr-x",
            "uname_after": name,
            "sha256_after": facts.file_sha256,
            "audit": {
                "login_user": {"id": "1000", "name": facts.username},
                "user": {"id": "1000", "name": name},
                "process": {"id": "4242", "name": "/usr/bin/curl", "ppid": "4100"},
            },
        },
        "decoder": {"name": "syscheck_new_entry"},
        "location": "syscheck",
    }


def crowdstrike_detection(facts: DemoFacts) -> dict[str, Any]:
    """Build a Falcon streaming API DetectionSummaryEvent, severity 4 (high)."""
    domain, name = _domain_and_name(facts.username)
    folder, _, file_name = facts.file_path.rpartition("/")
    millis = int(facts.now.timestamp() * 1000)
    sensor_id = uuid.uuid5(uuid.NAMESPACE_DNS, facts.hostname).hex
    return {
        "metadata": {
            "customerIDString": "0" * 32,
            "offset": 1,
            "eventType": "DetectionSummaryEvent",
            "eventCreationTime": millis,
            "version": "1.0",
        },
        "event": {
            "ProcessStartTime": millis // 1000,
            "ProcessId": 4242,
            "ParentProcessId": 4100,
            "ComputerName": facts.hostname,
            "UserName": name,
            "LogonDomain": domain,
            "DetectName": "Suspicious script written to a user folder",
            "DetectDescription": "A downloaded script was written to a user "
            "folder and made executable.",
            "Severity": 4,
            "SeverityName": "High",
            "FileName": file_name,
            "FilePath": folder,
            "CommandLine": f"/bin/sh {facts.file_path}",
            "SHA256String": facts.file_sha256,
            "Tactic": "Command and Control",
            "TacticId": "TA0011",
            "Technique": "Ingress Tool Transfer",
            "TechniqueId": "T1105",
            "SensorId": sensor_id,
            "DetectId": f"ldt:{sensor_id}:{facts.alert_id}",
            "PatternDispositionDescription": "Detection, standard detection.",
        },
    }


BUILDERS = {"wazuh": wazuh_alert, "crowdstrike": crowdstrike_detection}
