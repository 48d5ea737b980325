"""ATT&CK Enterprise tactics, so that vendor categories are not taken for tactics."""

from typing import Any

from playbooks.normalizers.base import as_text

# The 14 tactics of the MITRE ATT&CK Enterprise matrix, by id.
TACTICS = {
    "TA0043": "Reconnaissance",
    "TA0042": "Resource Development",
    "TA0001": "Initial Access",
    "TA0002": "Execution",
    "TA0003": "Persistence",
    "TA0004": "Privilege Escalation",
    "TA0005": "Defense Evasion",
    "TA0006": "Credential Access",
    "TA0007": "Discovery",
    "TA0008": "Lateral Movement",
    "TA0009": "Collection",
    "TA0011": "Command and Control",
    "TA0010": "Exfiltration",
    "TA0040": "Impact",
}


def _squeeze(text: str) -> str:
    return "".join(character for character in text.casefold() if character.isalnum())


_BY_SQUEEZED_NAME = {_squeeze(name): name for name in TACTICS.values()}


def clean_tactic(*values: Any) -> str:
    """Return the ATT&CK tactic name for the first value that is one, else "".

    A value may be a tactic id (TA0002) or a name in any spacing or case
    ("DefenseEvasion", "command and control"). Vendor categories such as
    CrowdStrike's "Malware" or "Machine Learning" are not tactics and give "".
    """
    for value in values:
        text = as_text(value)
        name = TACTICS.get(text.upper()) or _BY_SQUEEZED_NAME.get(_squeeze(text))
        if name:
            return name
    return ""
