"""The configuration file: location, owner-only permissions, atomic writes."""

import json
import stat
from pathlib import Path

import pytest

from agent import config as config_module
from agent.config import (
    AgentConfig,
    ConfigError,
    default_config_path,
    load_config,
    resolve_config_path,
    save_config,
)

TOKEN = "agt_secret_value_123"


def make_config() -> AgentConfig:
    return AgentConfig("https://exec.test", 7, TOKEN, None, 60)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_config_is_owner_only(tmp_path):
    path = tmp_path / "new" / "agent.json"

    save_config(make_config(), path)

    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    assert json.loads(path.read_text())["agent_token"] == TOKEN


def test_save_config_replaces_a_readable_file(tmp_path):
    path = tmp_path / "agent.json"
    path.write_text("{}")
    path.chmod(0o644)

    save_config(make_config(), path)

    assert mode_of(path) == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["agent.json"]


def test_save_config_leaves_no_temporary_file_on_error(tmp_path, monkeypatch):
    path = tmp_path / "agent.json"
    path.write_text('{"old": true}')

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(config_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_config(make_config(), path)

    assert [entry.name for entry in tmp_path.iterdir()] == ["agent.json"]
    assert path.read_text() == '{"old": true}'


def test_load_config_round_trip(tmp_path):
    path = tmp_path / "agent.json"
    save_config(make_config(), path)

    loaded = load_config(path)

    assert loaded == make_config()


def test_load_config_missing_says_enroll(tmp_path):
    with pytest.raises(ConfigError, match="enroll first"):
        load_config(tmp_path / "absent.json")


def test_load_config_invalid_names_file(tmp_path):
    path = tmp_path / "agent.json"
    path.write_text('{"server_url": "https://exec.test"}')

    with pytest.raises(ConfigError, match="is invalid"):
        load_config(path)


def test_load_config_warns_when_readable(tmp_path, caplog):
    path = tmp_path / "agent.json"
    save_config(make_config(), path)
    path.chmod(0o644)

    load_config(path)

    assert "readable by others" in caplog.text


def test_config_repr_hides_token():
    assert TOKEN not in repr(make_config())
    assert TOKEN not in str(make_config())


def test_resolve_config_path_prefers_flag_then_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EXEC_AGENT_CONFIG", str(tmp_path / "env.json"))

    assert resolve_config_path(str(tmp_path / "flag.json")) == tmp_path / "flag.json"
    assert resolve_config_path(None) == tmp_path / "env.json"


def test_default_config_path_per_os(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ProgramData", "D:\\Data")
    monkeypatch.setattr(config_module.sys, "platform", "linux")
    monkeypatch.setattr(config_module.os, "geteuid", lambda: 0)
    assert default_config_path() == Path("/etc/exec-agent/agent.json")

    monkeypatch.setattr(config_module.os, "geteuid", lambda: 1000)
    assert default_config_path() == tmp_path / ".config/exec-agent/agent.json"

    monkeypatch.setattr(config_module.sys, "platform", "darwin")
    expected = tmp_path / "Library/Application Support/Exec/agent.json"
    assert default_config_path() == expected

    monkeypatch.setattr(config_module.sys, "platform", "win32")
    assert str(default_config_path()) == "D:\\Data/Exec/agent.json"
