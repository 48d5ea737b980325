"""Shell history parsers: zsh, bash, fish, PSReadLine and bytes that are not UTF-8."""

from agent.forensics.history import (
    parse_bash,
    parse_fish,
    parse_history,
    parse_psreadline,
    parse_zsh,
    unmetafy,
)

ZSH_SAMPLE = (
    b": 1700000000:0;ls -la\n"
    b": 1700000005:2;for f in a b; do\\\n  echo $f\\\ndone\n"
    b": 1700000010:0;echo multi \\\\\ncontinued\n"
    b": 1700000020:0;echo \xe6\x83\xb6\x83\xa7\n"
    b"plain line without timestamp\n"
)

BASH_LITHIST = (
    b"#1700000000\n"
    b"ls\n"
    b"#1700000005\n"
    b"for f in a b; do\n"
    b"  echo $f\n"
    b"done\n"
    b"#1700000010\n"
    b"echo 'x\n"
    b"#1700000099\n"
    b"y'\n"
    b"echo after\n"
)


def test_zsh_multiline_metafied_and_plain_entries() -> None:
    assert parse_zsh(ZSH_SAMPLE) == [
        {"time": 1700000000, "duration": 0, "command": "ls -la"},
        {
            "time": 1700000005,
            "duration": 2,
            "command": "for f in a b; do\n  echo $f\ndone",
        },
        {"time": 1700000010, "duration": 0, "command": "echo multi \\\ncontinued"},
        {"time": 1700000020, "duration": 0, "command": "echo 文"},
        {"time": None, "duration": None, "command": "plain line without timestamp"},
    ]


def test_zsh_unmetafy_restores_utf8() -> None:
    assert unmetafy(b"\xe6\x83\xb6\x83\xa7") == "文".encode()
    assert unmetafy(b"no meta") == b"no meta"


def test_bash_timestamps_start_entries() -> None:
    assert parse_bash(BASH_LITHIST) == [
        {"time": 1700000000, "command": "ls"},
        {"time": 1700000005, "command": "for f in a b; do\n  echo $f\ndone"},
        {"time": 1700000010, "command": "echo 'x"},
        {"time": 1700000099, "command": "y'\necho after"},
    ]


def test_bash_lines_before_first_timestamp_have_no_time() -> None:
    assert parse_bash(b"old1\nold2\n#1700000000\nnew1\n") == [
        {"time": None, "command": "old1"},
        {"time": None, "command": "old2"},
        {"time": 1700000000, "command": "new1"},
    ]


def test_bash_non_utf8_keeps_raw_bytes() -> None:
    assert parse_bash(b"echo caf\xe9\nls\n") == [
        {"time": None, "command": "echo caf\ufffd", "command_b64": "ZWNobyBjYWbp"},
        {"time": None, "command": "ls"},
    ]


def test_fish_items_with_escaped_newlines() -> None:
    data = (
        b"- cmd: ls -la\n"
        b"  when: 1700000000\n"
        b"- cmd: echo one\\ntwo \\\\ done\n"
        b"  when: 1700000030\n"
        b"  paths:\n"
        b"    - /tmp\n"
        b"- cmd: no time\n"
    )
    assert parse_fish(data) == [
        {"time": 1700000000, "command": "ls -la"},
        {"time": 1700000030, "command": "echo one\ntwo \\ done"},
        {"time": None, "command": "no time"},
    ]


def test_psreadline_backtick_continues() -> None:
    data = b"\xef\xbb\xbfGet-Process\r\nWrite-Host `\r\n  'x'\r\nexit\r\n"
    assert [e["command"] for e in parse_psreadline(data)] == [
        "Get-Process",
        "Write-Host `\n  'x'",
        "exit",
    ]


def test_history_unknown_shell_is_line_list() -> None:
    assert parse_history("python", b"import os\n\nprint(1)\n") == [
        {"time": None, "command": "import os"},
        {"time": None, "command": "print(1)"},
    ]
