"""Facts about the machine sent at enrollment and check-in."""

import socket
import sys

import pytest

from agent import __version__, facts
from agent.facts import (
    UnsupportedPlatform,
    fallback_machine_id,
    linux_machine_id,
    normalize_ip,
    parse_ioreg_uuid,
    platform_name,
)

IOREG_OUTPUT = """+-o J316sAP  <class IOPlatformExpertDevice, id 0x100000202>
    {
      "IOPlatformSerialNumber" = "C02XXXXXXX"
      "IOPlatformUUID" = "5A1B6C2D-0E3F-4A5B-8C7D-9E0F1A2B3C4D"
      "manufacturer" = <"Apple Inc.">
    }
"""


def test_platform_name_maps_sys_platform():
    assert platform_name("win32") == "windows"
    assert platform_name("darwin") == "macos"
    assert platform_name("linux") == "linux"


def test_platform_name_rejects_others():
    with pytest.raises(UnsupportedPlatform, match="freebsd14"):
        platform_name("freebsd14")


def test_parse_ioreg_uuid_finds_uuid():
    assert parse_ioreg_uuid(IOREG_OUTPUT) == "5A1B6C2D-0E3F-4A5B-8C7D-9E0F1A2B3C4D"
    assert parse_ioreg_uuid("no such key") is None


def test_linux_machine_id_skips_empty_files(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    real = tmp_path / "real"
    real.write_text("3f2a9c0d1e4b4c5d8e6f7a8b9c0d1e2f\n")

    found = linux_machine_id((tmp_path / "absent", empty, real))

    assert found == "3f2a9c0d1e4b4c5d8e6f7a8b9c0d1e2f"
    assert linux_machine_id((tmp_path / "absent", empty)) is None


def test_fallback_machine_id_is_stable(tmp_path):
    path = tmp_path / "state" / "machine-id"

    first = fallback_machine_id(path)
    second = fallback_machine_id(path)

    assert first == second
    assert len(first) == 36


def test_machine_id_falls_back_without_os_id(tmp_path, monkeypatch):
    monkeypatch.setattr(facts, "os_machine_id", lambda: None)

    found = facts.machine_id(tmp_path)

    assert (tmp_path / "machine-id").read_text().strip() == found


def test_normalize_ip_drops_loopback_and_zone():
    assert normalize_ip("127.0.0.1") is None
    assert normalize_ip("::1") is None
    assert normalize_ip("0.0.0.0") is None  # noqa: S104
    assert normalize_ip("fe80::1%eth0") == "fe80::1"
    assert normalize_ip("10.0.0.5") == "10.0.0.5"
    assert normalize_ip("not an address") is None


def test_logged_in_users_lists_each_name_once(monkeypatch):
    session = type("Session", (), {})
    sessions = []
    for name in ("jdoe", "root", "jdoe", ""):
        entry = session()
        entry.name = name
        sessions.append(entry)
    monkeypatch.setattr(facts.psutil, "users", lambda: sessions)

    users = facts.logged_in_users()

    assert users == [
        {"username": "jdoe", "logged_in": True},
        {"username": "root", "logged_in": True},
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux facts")
def test_enrollment_facts_on_this_machine(tmp_path):
    collected = facts.enrollment_facts(tmp_path)

    assert collected["platform"] == "linux"
    assert collected["hostname"] == socket.gethostname()
    assert collected["agent_version"] == __version__
    assert collected["machine_id"]
    assert collected["os_name"]
    assert "127.0.0.1" not in collected["ip_addresses"]
    assert all(mac == mac.lower() for mac in collected["mac_addresses"])


def test_checkin_facts_have_protocol_types():
    collected = facts.checkin_facts()

    assert isinstance(collected["users"], list)
    assert isinstance(collected["ip_addresses"], list)
    assert isinstance(collected["mac_addresses"], list)
    assert collected["agent_version"] == __version__
