"""Windows events, as SIEM forwarders post them to the generic source."""

from playbooks.normalizers.base import (
    DEFAULT_SEVERITY,
    NormalizedDetection,
    Reader,
    join_user,
)


def normalize(reader: Reader) -> NormalizedDetection:
    """Map a Windows event; `EventID`, `Computer` and `TimeCreated` are required.

    The event has no severity of its own (its Level is a log level), so it gets
    DEFAULT_SEVERITY. Its id joins the computer, channel and record number, which
    together identify one event.
    """
    event_id = reader.require_text("EventID", expected="the Windows event id")
    computer = reader.require_text("Computer", expected="the computer name")
    record = reader.text("EventRecordID")
    channel = reader.text("Channel")
    external_id = f"{computer}:{channel}:{record}" if record and channel else ""

    title = reader.text("MessageTitle", "Message").splitlines()
    # Some forwarders keep the XML form, where TimeCreated is {"SystemTime": ...}.
    if isinstance(reader.get("TimeCreated"), dict):
        time_path = "TimeCreated.SystemTime"
    else:
        time_path = "TimeCreated"
    return NormalizedDetection(
        source=reader.source,
        external_id=reader.external_id(external_id, "EventRecordID"),
        title=f"Windows event {event_id}: {title[0]}"
        if title
        else f"Windows event {event_id}",
        severity=DEFAULT_SEVERITY,
        original_severity="",
        occurred=reader.timestamp(time_path),
        hostname=computer,
        vendor_endpoint_id="",
        username=join_user(
            reader.text(
                "ExtraEventData.SubjectDomainName", "EventData.SubjectDomainName"
            ),
            reader.text("ExtraEventData.SubjectUserName", "EventData.SubjectUserName"),
        ),
        command_line=reader.text("ExtraEventData.CommandLine", "EventData.CommandLine"),
        file_path=reader.text(
            "ExtraEventData.NewProcessName", "EventData.NewProcessName"
        ),
        file_sha256="",
        mitre_tactic="",
        mitre_technique="",
        raw=reader.document,
    )
