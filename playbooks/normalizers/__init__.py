"""Normalizers: map the detections sources post to Exec onto one shape.

`normalize(source, document)` returns a NormalizedDetection or raises a
NormalizationError naming the field at fault; `parse_body(body)` splits a posted
body into documents first. Both are pure: no database, no clock, no network.

Sources and the document forms each accepts:

- `wazuh`: one alert of the manager's alerts.json.
- `elastic`: an Elastic Security alert (8.x `kibana.alert.*`, legacy 7.x
  `signal.*`) or a raw Elastic Defend alert, bare or inside a search hit.
- `crowdstrike`: streaming API detection events, Alerts API entities, SIEM
  connector events and Falcon Data Replicator events.
- `defender`: Defender for Endpoint API v1 alerts and Microsoft Graph
  security alerts (v2), including identity alerts with no device.
- `generic`: Exec's own format (see generic.py), plus two forms that no
  vendor-specific source covers. Okta System Log events arrive through Okta
  event hooks or a forwarder, and Windows events through a SIEM forwarder.
  Neither product is a detection source of its own in Exec, so both are posted
  as `generic`, which recognizes them by their fields.

Rules shared by every source:

- `external_id` is the vendor's stable alert id. Wazuh's is prefixed with the
  manager name, because alert ids are unique per manager only. A document with
  no id gets "sha256:" and the SHA-256 of its canonical JSON (sorted keys,
  compact separators, UTF-8), so a redelivered copy gets the same id.
- `occurred` is the time of the detected activity when the vendor reports it,
  else the alert's creation time, always in UTC. A timestamp without an offset
  is taken as UTC. Epoch seconds and milliseconds are accepted.
- `severity` is mapped per vendor and `original_severity` keeps the vendor's
  value as text. A document with no severity at all gets DEFAULT_SEVERITY
  ("medium") and an empty `original_severity`.
- `username` is `DOMAIN\\name` when the vendor reports the domain in a field of
  its own, else the name as reported (a UPN, an email or a bare name).
- `file_sha256` is lowercase hex; an all-zero or malformed hash gives "".
- `mitre_tactic` is an ATT&CK Enterprise tactic name and `mitre_technique` an
  ATT&CK id; vendor categories that are not ATT&CK give "".
"""

from collections.abc import Callable

from exec_site.jsonvalues import UNSTORABLE_MESSAGE, find_unstorable
from playbooks.normalizers import crowdstrike, defender, elastic, generic, wazuh
from playbooks.normalizers.base import (
    DEFAULT_SEVERITY,
    MAX_EXTERNAL_ID_LENGTH,
    SEVERITIES,
    NormalizationError,
    NormalizedDetection,
)
from playbooks.normalizers.body import DEFAULT_MAX_DOCUMENTS, BodyError, parse_body

__all__ = [
    "DEFAULT_MAX_DOCUMENTS",
    "DEFAULT_SEVERITY",
    "MAX_EXTERNAL_ID_LENGTH",
    "SEVERITIES",
    "SOURCES",
    "BodyError",
    "NormalizationError",
    "NormalizedDetection",
    "normalize",
    "parse_body",
]

_NORMALIZERS: dict[str, Callable[[dict], NormalizedDetection]] = {
    "generic": generic.normalize,
    "wazuh": wazuh.normalize,
    "elastic": elastic.normalize,
    "crowdstrike": crowdstrike.normalize,
    "defender": defender.normalize,
}

SOURCES: tuple[str, ...] = tuple(_NORMALIZERS)


def normalize(source: str, document: dict) -> NormalizedDetection:
    """Map one posted document of `source` onto a NormalizedDetection.

    Raise NormalizationError, naming the dotted field path at fault and what was
    expected, when the source is unknown, when a value cannot be stored (see
    find_unstorable), or when the document cannot be mapped.
    """
    normalizer = _NORMALIZERS.get(source)
    if normalizer is None:
        raise NormalizationError(
            source, "source", f"unknown source; expected one of {', '.join(SOURCES)}"
        )
    if not isinstance(document, dict):
        raise NormalizationError(
            source, "", f"expected a JSON object, got {type(document).__name__}"
        )
    bad_path = find_unstorable(document)
    if bad_path is not None:
        raise NormalizationError(source, bad_path, UNSTORABLE_MESSAGE)
    return normalizer(document)
