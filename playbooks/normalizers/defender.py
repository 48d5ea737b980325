"""Microsoft Defender alerts: MDE API v1 (`/api/alerts`) and Graph `alerts_v2`.

A Graph alert has `createdDateTime` and typed `evidence[]`. An MDE v1 alert has
`alertCreationTime` and untyped evidence, either an array or one object.
"""

from typing import Any

from playbooks.normalizers.base import (
    DEFAULT_SEVERITY,
    NormalizedDetection,
    Reader,
    as_list,
    as_text,
    clean_sha256,
    first_technique,
    join_path,
    join_user,
    lookup,
)
from playbooks.normalizers.mitre import clean_tactic

SOURCE = "defender"

# Defender has no "critical". "UnSpecified" (v1) and "unknownFutureValue" (Graph)
# carry no rating, so they get the default.
_SEVERITIES = {
    "informational": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "unspecified": DEFAULT_SEVERITY,
    "unknownfuturevalue": DEFAULT_SEVERITY,
}

# Panther renames "@odata.type" to this key.
_ODATA_TYPE_KEYS = ("@odata.type", "at_sign_odata_type")


def normalize(document: dict) -> NormalizedDetection:
    """Map a Defender alert; `id`, `title`, `severity` and a time are required."""
    reader = Reader(SOURCE, document)
    alert_id = reader.require_text("id", expected="the alert id")
    title = reader.require_text("title", expected="the alert title")
    raw_severity = reader.require_text(
        "severity", expected="Informational, Low, Medium or High"
    )
    severity = _SEVERITIES.get(raw_severity.lower())
    if severity is None:
        raise reader.error(
            "severity",
            f"{raw_severity!r} is invalid; expected Informational, Low, Medium, "
            "High or UnSpecified",
        )

    if reader.get("createdDateTime") is not None:
        fields = _graph_fields(reader)
    else:
        fields = _v1_fields(reader)

    return NormalizedDetection(
        source=SOURCE,
        external_id=reader.external_id(alert_id, "id"),
        title=title,
        severity=severity,
        original_severity=raw_severity,
        mitre_tactic=clean_tactic(reader.get("category")),
        mitre_technique=first_technique(reader.get("mitreTechniques")),
        raw=document,
        **fields,
    )


def _v1_fields(reader: Reader) -> dict[str, Any]:
    evidence = [
        item for item in as_list(reader.get("evidence")) if isinstance(item, dict)
    ]
    processes = [item for item in evidence if item.get("processCommandLine")]
    hashed = [item for item in evidence if clean_sha256(item.get("sha256"))]
    files = processes or hashed or evidence

    username = join_user(
        reader.text("relatedUser.domainName"), reader.text("relatedUser.userName")
    )
    for item in evidence:
        username = username or join_user(
            as_text(item.get("domainName")), as_text(item.get("accountName"))
        )

    return {
        "occurred": reader.timestamp("firstEventTime", "alertCreationTime"),
        "hostname": reader.text("computerDnsName"),
        "vendor_endpoint_id": reader.text("machineId"),
        "username": username,
        "command_line": _first_text(processes, "processCommandLine"),
        "file_path": _first_path(files, "filePath", "fileName"),
        "file_sha256": clean_sha256(_first_text(hashed, "sha256")),
    }


def _graph_fields(reader: Reader) -> dict[str, Any]:
    evidence = as_list(reader.get("evidence"))
    devices = _of_type(evidence, "deviceEvidence")
    processes = _of_type(evidence, "processEvidence")
    images = [item.get("imageFile") for item in processes] + [
        item.get("fileDetails") for item in _of_type(evidence, "fileEvidence")
    ]
    files = [item for item in images if isinstance(item, dict)]

    return {
        "occurred": reader.timestamp("firstActivityDateTime", "createdDateTime"),
        "hostname": _first_text(devices, "deviceDnsName"),
        "vendor_endpoint_id": _first_text(devices, "mdeDeviceId", "azureAdDeviceId"),
        "username": _graph_username(evidence),
        "command_line": _first_text(processes, "processCommandLine"),
        "file_path": _first_path(files, "filePath", "fileName"),
        "file_sha256": clean_sha256(_first_text(files, "sha256")),
    }


def _graph_username(evidence: list) -> str:
    """Return the user evidence's UPN or DOMAIN\\name, else the process's user."""
    for kind in ("userEvidence", "processEvidence"):
        for item in _of_type(evidence, kind):
            account = item.get("userAccount")
            if not isinstance(account, dict):
                continue
            upn = as_text(account.get("userPrincipalName"))
            name = join_user(
                as_text(account.get("domainName")), as_text(account.get("accountName"))
            )
            if upn or name:
                return upn or name
    return ""


def _of_type(evidence: list, kind: str) -> list[dict]:
    """Return the evidence items whose OData type ends with `kind`."""
    suffix = "." + kind.casefold()
    found = []
    for item in evidence:
        if not isinstance(item, dict):
            continue
        odata_type = as_text(lookup(item, *_ODATA_TYPE_KEYS)).casefold()
        if odata_type.endswith(suffix):
            found.append(item)
    return found


def _first_text(items: list[dict], *keys: str) -> str:
    for item in items:
        text = as_text(lookup(item, *keys))
        if text:
            return text
    return ""


def _first_path(items: list[dict], directory_key: str, name_key: str) -> str:
    for item in items:
        path = join_path(as_text(item.get(directory_key)), as_text(item.get(name_key)))
        if path:
            return path
    return ""
