"""Sweep over the sample alerts of real vendor formats, when they are present.

The samples are read in place from SAMPLES_DIR (or EXEC_SAMPLE_ALERTS_DIR) and
never copied into the repository; without the folder these tests are skipped.
Each subfolder contains the alerts of one product. Okta and Windows events are posted
as `generic`, because Exec has no source of their own for them.
"""

import os
import re
from datetime import UTC
from pathlib import Path
from typing import NamedTuple

import pytest

from playbooks.normalizers import (
    SEVERITIES,
    NormalizationError,
    NormalizedDetection,
    normalize,
    parse_body,
)

SAMPLES_DIR = Path(os.environ.get("EXEC_SAMPLE_ALERTS_DIR", "/work/shared/data/alerts"))

FOLDER_SOURCES = {
    "wazuh": "wazuh",
    "elastic": "elastic",
    "crowdstrike": "crowdstrike",
    "defender": "defender",
    "okta": "generic",
    "windows": "generic",
}

needs_samples = pytest.mark.skipif(
    not SAMPLES_DIR.is_dir(), reason=f"no sample alerts at {SAMPLES_DIR}"
)


class Key(NamedTuple):
    external_id: str
    severity: str
    occurred: str
    hostname: str
    username: str
    mitre_technique: str


class Rejected(NamedTuple):
    field: str


# The key fields of every document of every sample file, in file order. Two
# samples are placeholders with no usable time, so they are rejected.
EXPECTED: dict[str, list[Key | Rejected]] = {
    "crowdstrike/elastic-integrations-alerts-api-entities.ndjson": [
        Key(
            "92012896127c4a8236ba7601b886b0:ind:2ce412d17b334ad4adc8c1c54dbfec4b:399748687993-5761-42627600",
            "low",
            "2023-11-03T18:00:22.328000+00:00",
            "ABC709-1175",
            "ABSYS\\test.user2",
            "",
        ),
        Key(
            "874694c2ff8c43fdb64ef3056ddfb96d:ind:4446934rf3fdb64ec3056ddfb96e:5876E98F-D91B-48AC-8FFC-1191C663A1E9",
            "high",
            "2024-08-19T18:44:01.100000+00:00",
            "ABDC454.net.example.com",
            "admin.abcdef",
            "T1110",
        ),
        Key(
            "4446934rf3fdb64ec3056ddfb96e:ods:4446934rf3fdb64ec3056ddfb96e:bcd3dcf7224c4b75ad16b9387e982fd0",
            "medium",
            "2024-08-20T09:11:27+00:00",
            "INCHAKLSP049",
            "EU\\admin.abcd",
            "",
        ),
    ],
    (
        "crowdstrike/"
        "elastic-integrations-falcon-detection-summary-duplicated.concat.json"
    ): [
        Key(
            "detect::id::test",
            "low",
            "2023-06-15T16:06:52.400000+00:00",
            "ELASTICHOST",
            "ELASTICUSER",
            "",
        ),
        Key(
            "detect::id::test",
            "low",
            "2023-06-15T16:06:52.400000+00:00",
            "ELASTICHOST",
            "ELASTICUSER",
            "",
        ),
    ],
    "crowdstrike/elastic-integrations-falcon-epp-detection-summary.ndjson": [
        Key(
            "44be50f58ccfcfcfcfcfcfcfcffc:ind:c8d1292a8a904216aa25ab728f4b45fd:11111111111-2222-3333333",
            "low",
            "2023-06-15T16:06:52.400000+00:00",
            "DESKTOP1111",
            "OVAC\\USER11111",
            "",
        ),
        Key(
            "44be50f58ccfcfcfcfcfcfcfcffc:ind:c8d1292a8a904216aa25ab728f4b45fd:11111111111-2222-3333333",
            "high",
            "2023-06-15T16:06:52.400000+00:00",
            "linux-vm",
            "azureuser",
            "",
        ),
        Key(
            "7da61e27e34f4b8394081896af72e2c7",
            "high",
            "2023-06-15T16:06:52.400000+00:00",
            "FRHOSTNAME",
            "",
            "",
        ),
        Key(
            "44be50f58ccfcfcfcfcfcfcfcffc:ind:c8d1292a8a904216aa25ab728f4b45fd:11111111111-2222-3333333",
            "high",
            "2023-06-15T16:06:52.400000+00:00",
            "linux-vm",
            "azureuser",
            "",
        ),
        Key(
            "cccccccccccccccccccccccccccccccc:ind:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee:43185188660-10197-561424",
            "low",
            "2025-03-21T19:07:20+00:00",
            "CISO-DUMMY-CSDEV",
            "CISO-DUMMY-CSDEV\\Administrator",
            "",
        ),
        Key(
            "cccccccccccccccccccccccccccccccc:ind:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee:43186863960-41001-568080",
            "high",
            "2025-03-21T19:10:02+00:00",
            "CISO-DUMMY-CSDEV",
            "CISO-DUMMY-CSDEV\\Administrator",
            "",
        ),
    ],
    "crowdstrike/panther-epp-detection-summary-crit.json": [
        Key(
            "DETECTION ID",
            "critical",
            "2024-12-03T19:54:30+00:00",
            "",
            "Administrator",
            "",
        ),
    ],
    "crowdstrike/panther-externalapi-detection-summary-nested-json-string.json": [
        Key(
            "00000000000000000000000000000000:ind:00000000006e49842267fc5837c4e2fc:222222222222222222-33333-444444",
            "low",
            "2021-09-18T20:38:52+00:00",
            "macbook",
            "bobert",
            "",
        ),
    ],
    "crowdstrike/panther-fdr-processrollup2-unicode-cmdline.json": [
        Key(
            "b0c07877-f288-49f8-8cb3-150149a557b2",
            "medium",
            "2023-04-24T20:33:36.719000+00:00",
            "",
            "",
            "",
        ),
    ],
    "defender/elastic-integrations-graph-security-alert-v2-mde.json": [
        Key(
            "da637551227677560813_-961444813",
            "low",
            "2021-04-26T07:45:50.116000+00:00",
            "tempDns",
            "NT AUTHORITY\\SYSTEM",
            "T1564.001",
        ),
    ],
    "defender/elastic-integrations-mde-alerts-api-v1.ndjson": [
        Key(
            "da637291085411733957_-1043898914",
            "low",
            "2020-06-30T10:07:44.333733+00:00",
            "testserver4",
            "",
            "",
        ),
        Key(
            "da637291048912199236_1126926584",
            "medium",
            "2020-06-30T09:04:56.849067+00:00",
            "testserver4",
            "TestServer4\\administrator1",
            "",
        ),
        Key(
            "da637291048912199236_1126926584",
            "medium",
            "2020-06-30T09:04:56.849067+00:00",
            "testserver4",
            "TestServer4\\administrator1",
            "",
        ),
        Key(
            "da637291063515066999_-2102938302",
            "low",
            "2020-06-30T09:31:22.572955+00:00",
            "testserver4",
            "",
            "",
        ),
    ],
    "defender/panther-graph-security-alert-v2-anonymous-login.json": [
        Key(
            "abcd12345efghijk6789",
            "medium",
            "2026-04-01T14:31:48.438000+00:00",
            "",
            "homer.simpson@corporation.onmicrosoft.com",
            "",
        ),
    ],
    "defender/panther-graph-security-alert-v2-password-spray.json": [
        Key(
            "abcdefg-123456-hijklmno",
            "high",
            "2026-04-02T14:22:00.698000+00:00",
            "",
            "homer.simpson@corporation.onmicrosoft.com",
            "",
        ),
    ],
    "elastic/endpoint-package-malware-prevention-alert-sample.json": [
        Key(
            "MYfSjQEEEFe1o09b+++++D5Q",
            "high",
            "2022-04-04T12:15:41.594406+00:00",
            "security-win-1",
            "NT AUTHORITY\\SYSTEM",
            "",
        ),
    ],
    "elastic/kibana-es-archive-7.16.0-legacy-siem-signal.json": [
        Key(
            "0bb0c0d5488d757907f6be6e4c27ff698666948e2cf01d53e8fa43958b36c6a8",
            "low",
            "2022-03-23T16:50:32.045000+00:00",
            "security-linux-1",
            "",
            "",
        ),
    ],
    "elastic/kibana-es-archive-8.1.0-threat-match-alert.json": [
        Key(
            "30a75fe46d3dbdfab55982036f77a8d60e2d1112e96f277c3b8c22f9bb57817a",
            "low",
            "2022-03-19T02:47:57.376000+00:00",
            "security-linux-1",
            "",
            "",
        ),
    ],
    "okta/elastic-integrations-okta-system-log-first5-with-duplicate.ndjson": [
        Key(
            "faf7398a-4f77-11ea-97fb-5925e98228bd",
            "low",
            "2020-02-14T22:18:51.843000+00:00",
            "",
            "username@elastic.co",
            "",
        ),
        Key(
            "3aeede38-4f67-11ea-abd3-1f5d113f2546",
            "low",
            "2020-02-14T20:18:57.718000+00:00",
            "",
            "xxxxxx@elastic.co",
            "",
        ),
        Key(
            "3af594f9-4f67-11ea-abd3-1f5d113f2546",
            "low",
            "2020-02-14T20:18:57.762000+00:00",
            "",
            "xxxxxx@elastic.co",
            "",
        ),
        Key(
            "faf7398a-4f77-11ea-97fb-5925e98228bd",
            "low",
            "2020-02-14T22:18:51.843000+00:00",
            "",
            "someusername@elastic.co",
            "",
        ),
        Key(
            "3aeede38-4f67-11ea-abd3-1f5d113f2546",
            "low",
            "2020-02-14T20:18:57.718000+00:00",
            "",
            "xxxxxx@elastic.co",
            "",
        ),
    ],
    "okta/panther-fastpass-phishing-blocked-lowercase-keys.json": [
        Key(
            "AbC-123-XyZ",
            "low",
            "2022-06-22T18:18:29.015000+00:00",
            "",
            "homer.simpson@duff.com",
            "",
        ),
    ],
    "okta/panther-security-threat-detected-no-user-lowercase-keys.json": [
        Key(
            "asdfa-1234-asdfdas",
            "medium",
            "2022-12-14T19:16:32.015000+00:00",
            "",
            "",
            "",
        ),
    ],
    "okta/panther-session-start-bare-username-redacted.json": [
        Rejected("published"),
    ],
    "okta/panther-user-account-lock-lowercase-keys.json": [
        Key(
            "aa-bb-cc-11",
            "low",
            "2022-11-22T18:48:49.177000+00:00",
            "",
            "homer.simpson@duff.com",
            "",
        ),
    ],
    "okta/panther-user-session-start-failure-naive-timestamp.json": [
        Key(
            "aac560bd-f125-11ee-9caa-cd5d09945def",
            "low",
            "2024-04-02T19:17:37.621000+00:00",
            "",
            "user.four@example.com",
            "",
        ),
    ],
    "wazuh/hidc2025-defender-lockbit-detection.json": [
        Key(
            "wazuh:1755075215.11573673",
            "high",
            "2025-08-13T08:53:35.985000+00:00",
            "DESKTOP-RL1K13Q",
            "",
            "",
        ),
    ],
    "wazuh/hidc2025-exe-dropped-malware-folder.json": [
        Key(
            "wazuh:1755073510.11406604",
            "critical",
            "2025-08-13T08:25:10.229000+00:00",
            "DESKTOP-RL1K13Q",
            "DESKTOP-RL1K13Q\\Bluecheap",
            "T1105",
        ),
    ],
    "wazuh/hidc2025-pass-the-hash-logon-nested-full_log.json": [
        Key(
            "wazuh:1755072874.11148436",
            "low",
            "2025-08-13T08:14:34.891000+00:00",
            "DESKTOP-RL1K13Q",
            "DESKTOP-RL1K13Q\\Bluecheap",
            "T1550.002",
        ),
    ],
    "wazuh/hidc2025-raw-excerpt-with-comment-line.ndjson": [
        Key(
            "wazuh:1755074016.11453346",
            "low",
            "2025-08-13T08:33:36.531000+00:00",
            "DESKTOP-RL1K13Q",
            "",
            "",
        ),
        Key(
            "wazuh:1755074349.11454942",
            "low",
            "2025-08-13T08:39:09.828000+00:00",
            "DESKTOP-RL1K13Q",
            "",
            "",
        ),
        Key(
            "wazuh:1755074541.11464994",
            "critical",
            "2025-08-13T08:42:21.006000+00:00",
            "DESKTOP-RL1K13Q",
            "DESKTOP-RL1K13Q\\Bluecheap",
            "T1105",
        ),
        Key(
            "wazuh:1755074567.11467813",
            "low",
            "2025-08-13T08:42:47.059000+00:00",
            "DESKTOP-RL1K13Q",
            "NT AUTHORITY\\SYSTEM",
            "T1078",
        ),
    ],
    "wazuh/hidc2025-selected-alerts.ndjson": [
        Key(
            "wazuh:1755071831.6735331",
            "low",
            "2025-08-13T07:57:11.846000+00:00",
            "wazuh",
            "root",
            "T1548.003",
        ),
        Key(
            "wazuh:1755071831.6735894",
            "critical",
            "2025-08-13T07:57:11.847000+00:00",
            "wazuh",
            "daysky",
            "",
        ),
        Key(
            "wazuh:1755072153.6750072",
            "medium",
            "2025-08-13T08:02:33.460000+00:00",
            "ubuntu-doddy",
            "daysky",
            "T1110",
        ),
        Key(
            "wazuh:1755072526.6866298",
            "medium",
            "2025-08-13T08:08:46.449000+00:00",
            "DESKTOP-RL1K13Q",
            "",
            "",
        ),
        Key(
            "wazuh:1755072682.8496009",
            "low",
            "2025-08-13T08:11:22.868000+00:00",
            "DESKTOP-RL1K13Q",
            "NT AUTHORITY\\SYSTEM",
            "T1087",
        ),
        Key(
            "wazuh:1755072791.8569759",
            "low",
            "2025-08-13T08:13:11.894000+00:00",
            "DESKTOP-RL1K13Q",
            "",
            "",
        ),
        Key(
            "wazuh:1755072859.8614186",
            "medium",
            "2025-08-13T08:14:19.692000+00:00",
            "DESKTOP-RL1K13Q",
            "Bluecheap",
            "T1110",
        ),
        Key(
            "wazuh:1755072874.11148436",
            "low",
            "2025-08-13T08:14:34.891000+00:00",
            "DESKTOP-RL1K13Q",
            "DESKTOP-RL1K13Q\\Bluecheap",
            "T1550.002",
        ),
        Key(
            "wazuh:1755073510.11406604",
            "critical",
            "2025-08-13T08:25:10.229000+00:00",
            "DESKTOP-RL1K13Q",
            "DESKTOP-RL1K13Q\\Bluecheap",
            "T1105",
        ),
        Key(
            "wazuh:1755075215.11573673",
            "high",
            "2025-08-13T08:53:35.985000+00:00",
            "DESKTOP-RL1K13Q",
            "",
            "",
        ),
        Key(
            "wazuh:1755075623.12155267",
            "low",
            "2025-08-13T09:00:23.031000+00:00",
            "DESKTOP-RL1K13Q",
            "DESKTOP-RL1K13Q\\Bluecheap",
            "T1021.001",
        ),
    ],
    "wazuh/hidc2025-sshd-bruteforce-linux.json": [
        Key(
            "wazuh:1755072153.6750072",
            "medium",
            "2025-08-13T08:02:33.460000+00:00",
            "ubuntu-doddy",
            "daysky",
            "T1110",
        ),
    ],
    "wazuh/hidc2025-sysmon-encoded-powershell.json": [
        Key(
            "wazuh:1755074541.11456929",
            "high",
            "2025-08-13T08:42:21.005000+00:00",
            "DESKTOP-RL1K13Q",
            "DESKTOP-RL1K13Q\\Bluecheap",
            "T1059.001",
        ),
    ],
    "wazuh/wazuh-integrations-test-placeholder-alert.json": [
        Rejected("timestamp"),
    ],
    "wazuh/wazuh-integratord-test-sshd-bruteforce-5712.json": [
        Key(
            "localhost.localdomain:1652272159.1549653",
            "medium",
            "2022-05-11T12:29:19.905000+00:00",
            "localhost.localdomain",
            "testuser",
            "T1110",
        ),
    ],
    "windows/panther-windows-4688-mimikatz.json": [
        Key(
            "WIN-WORKSTATION-01:Security:12345678",
            "medium",
            "2024-01-15T10:30:45+00:00",
            "WIN-WORKSTATION-01",
            "CORP\\jdoe",
            "",
        ),
    ],
}


def sample_files() -> list[Path]:
    if not SAMPLES_DIR.is_dir():
        return []
    return sorted(
        path
        for path in SAMPLES_DIR.glob("*/*")
        if path.is_file() and path.parent.name in FOLDER_SOURCES
    )


def sample_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def normalize_sample(path: Path) -> list[tuple[dict, object]]:
    """Return each document of a sample with its detection or its error."""
    source = FOLDER_SOURCES[path.parent.name]
    results: list[tuple[dict, object]] = []
    for document in parse_body(path.read_bytes()):
        try:
            results.append((document, normalize(source, document)))
        except NormalizationError as error:
            results.append((document, error))
    return results


@needs_samples
def test_samples_every_folder_has_files() -> None:
    folders = {path.parent.name for path in sample_files()}

    assert folders == set(FOLDER_SOURCES)


@needs_samples
@pytest.mark.parametrize("path", sample_files(), ids=sample_id)
def test_samples_invariants(path: Path) -> None:
    for document, result in normalize_sample(path):
        if isinstance(result, NormalizationError):
            assert result.field
            assert result.source == FOLDER_SOURCES[path.parent.name]
            continue

        assert result.raw is document
        assert result.source == FOLDER_SOURCES[path.parent.name]
        assert result.external_id
        assert len(result.external_id) <= 255
        assert result.title
        assert result.severity in SEVERITIES
        assert result.occurred.tzinfo == UTC
        assert re.fullmatch(r"[0-9a-f]{64}|", result.file_sha256)
        assert re.fullmatch(r"T\d{4}(\.\d{3})?|", result.mitre_technique)


@needs_samples
@pytest.mark.parametrize("path", sample_files(), ids=sample_id)
def test_samples_key_fields(path: Path) -> None:
    expected = EXPECTED.get(sample_id(path))
    if expected is None:
        pytest.skip(f"no expected key fields listed for {sample_id(path)}")

    actual: list[Key | Rejected] = []
    for _, result in normalize_sample(path):
        if isinstance(result, NormalizationError):
            actual.append(Rejected(result.field))
        else:
            actual.append(
                Key(
                    result.external_id,
                    result.severity,
                    result.occurred.isoformat(),
                    result.hostname,
                    result.username,
                    result.mitre_technique,
                )
            )

    assert len(actual) == len(expected)
    for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert got == want, f"document {index}"


def detection_in(name: str, index: int = 0) -> NormalizedDetection:
    result = normalize_sample(SAMPLES_DIR / name)[index][1]
    assert not isinstance(result, NormalizationError), result
    return result


@needs_samples
def test_samples_wazuh_sysmon_fields_unescaped() -> None:
    detection = detection_in("wazuh/hidc2025-sysmon-encoded-powershell.json")

    assert detection.command_line.startswith(
        '"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe" -NoP'
    )
    assert detection.file_path == (
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    )
    assert detection.file_sha256 == (
        "9785001b0dcf755eddb8af294a373c0b87b2498660f724e76c4d53f9c217c7a3"
    )
    assert detection.mitre_tactic == "Execution"
    assert detection.original_severity == "12"


@needs_samples
def test_samples_wazuh_rule_without_description() -> None:
    detection = detection_in("wazuh/hidc2025-selected-alerts.ndjson", 5)

    assert detection.title == "Wazuh rule 11"


@needs_samples
def test_samples_crowdstrike_unicode_command_line() -> None:
    detection = detection_in(
        "crowdstrike/panther-fdr-processrollup2-unicode-cmdline.json"
    )

    assert "Já conferiu as atualizações hoje?" in detection.command_line
    assert detection.vendor_endpoint_id == "877761efa8db44d792ddc2redacted"


@needs_samples
def test_samples_crowdstrike_zero_hash_and_missing_host() -> None:
    detection = detection_in("crowdstrike/panther-epp-detection-summary-crit.json")

    assert detection.hostname == ""
    assert detection.vendor_endpoint_id == ""
    assert detection.original_severity == "90"
    assert detection.mitre_tactic == "Execution"


@needs_samples
def test_samples_defender_graph_evidence() -> None:
    detection = detection_in(
        "defender/elastic-integrations-graph-security-alert-v2-mde.json"
    )

    assert detection.vendor_endpoint_id == "73e7e2de709dff64ef64b1d0c30e67fab63279db"
    assert detection.command_line == '"MsSense.exe"'
    assert detection.file_path == "C:\\Program Files\\temp\\MsSense.exe"
    assert detection.mitre_tactic == "Defense Evasion"


@needs_samples
def test_samples_windows_event_fields() -> None:
    detection = detection_in("windows/panther-windows-4688-mimikatz.json")

    assert detection.command_line == (
        "mimikatz.exe privilege::debug sekurlsa::logonpasswords"
    )
    assert detection.file_path == "C:\\Users\\jdoe\\Downloads\\mimikatz.exe"


@needs_samples
def test_samples_rejections_name_the_field() -> None:
    wazuh = normalize_sample(
        SAMPLES_DIR / "wazuh/wazuh-integrations-test-placeholder-alert.json"
    )
    okta = normalize_sample(
        SAMPLES_DIR / "okta/panther-session-start-bare-username-redacted.json"
    )

    assert "'year-month-dayThours:minuts:seconds+0000' is not a time" in str(
        wazuh[0][1]
    )
    assert "'redacted' is not a time" in str(okta[0][1])
