"""Per-user collectors on a fake home: histories and browser extensions."""

import json
import os
import time
from pathlib import Path

import pytest

from agent.forensics import common


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "alice"
    home.mkdir()
    monkeypatch.setattr(common, "user_homes", lambda: [(1000, "alice", home)])
    return home


def test_shell_history_collector_reads_every_shell(home: Path) -> None:
    (home / ".bash_history").write_bytes(b"#1700000000\nls\necho caf\xe9\n")
    (home / ".zsh_history").write_bytes(b": 1700000005:1;make\n")
    (home / ".local/share/fish").mkdir(parents=True)
    (home / ".local/share/fish/fish_history").write_bytes(
        b"- cmd: fish_cmd\n  when: 7\n"
    )

    result = common.collect_shell_history()

    rows = {(r["shell"], r["command"]): r for r in result.rows}
    assert set(rows) == {
        ("bash", "ls\necho caf\ufffd"),
        ("zsh", "make"),
        ("fish", "fish_cmd"),
    }
    bash = rows[("bash", "ls\necho caf\ufffd")]
    assert bash["time_utc"] == "2023-11-14T22:13:20Z"
    assert bash["command_b64"] is not None
    assert bash["uid"] == 1000
    assert bash["history_file"] == str(home / ".bash_history")
    assert rows[("zsh", "make")]["duration"] == 1
    assert result.partial is False


def test_shell_history_fifo_and_symlink_refused(home: Path, tmp_path: Path) -> None:
    os.mkfifo(home / ".zsh_history")
    secret = tmp_path / "secret"
    secret.write_text("root:$6$hash:19000::::::\n")
    (home / ".bash_history").symlink_to(secret)

    started = time.monotonic()
    result = common.collect_shell_history()

    assert time.monotonic() - started < 2
    assert result.rows == []
    assert any("not a regular file (prw" in w for w in result.warnings)
    assert any("not a regular file (lrw" in w for w in result.warnings)
    assert result.reason == "no shell history files found in any home directory"


def test_browser_extensions_chrome_and_firefox(home: Path) -> None:
    version = home / ".config/google-chrome/Default/Extensions/abcdefgh/1.2_0"
    version.mkdir(parents=True)
    (version / "manifest.json").write_text(
        json.dumps(
            {
                "name": "Helper",
                "version": "1.2",
                "permissions": ["tabs"],
                "host_permissions": ["<all_urls>"],
                "update_url": "https://example.invalid/u",
            }
        )
    )
    broken = home / ".config/google-chrome/Default/Extensions/broken/1.0"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{not json")
    profile = home / ".mozilla/firefox/x1.default"
    profile.mkdir(parents=True)
    (profile / "extensions.json").write_text(
        json.dumps(
            {
                "addons": [
                    {
                        "id": "ublock@example",
                        "version": "1.0",
                        "type": "extension",
                        "active": True,
                        "defaultLocale": {"name": "Blocker"},
                        "sourceURI": None,
                    },
                ]
            }
        )
    )

    result = common.collect_browser_extensions()

    chrome = [r for r in result.rows if r["browser_type"] == "chrome"]
    firefox = [r for r in result.rows if r["browser_type"] == "firefox"]
    assert len(chrome) == 1
    assert chrome[0]["identifier"] == "abcdefgh"
    assert chrome[0]["permissions"] == ["tabs", "<all_urls>"]
    assert chrome[0]["profile"] == "Default"
    assert len(firefox) == 1
    assert firefox[0]["name"] == "Blocker"
    assert firefox[0]["active"] is True
    assert any("invalid JSON" in w for w in result.warnings)
