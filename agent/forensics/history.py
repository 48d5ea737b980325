"""Parsers for shell history files: zsh, bash, fish, PSReadLine and plain lists.

Each parser takes the file's raw bytes and returns one dict per command with
`time` (epoch seconds or None, never the collection time) and `command`. A
command whose bytes are not UTF-8 also gets `command_b64` with the raw bytes.
"""

import re
from typing import Any

from agent.forensics.safeio import decode_lossless

ZSH_EXTENDED = re.compile(rb"^: *(\d+):(\d+);(.*)\Z", re.DOTALL)
BASH_TIMESTAMP = re.compile(rb"^#(\d+)\Z")
ZSH_META = 0x83


def _entry(time: int | None, command: bytes, **extra: Any) -> dict[str, Any]:
    return {"time": time, **extra, **decode_lossless(command, "command")}


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def unmetafy(data: bytes) -> bytes:
    """Undo zsh's metafication: 0x83 followed by b stands for b XOR 0x20."""
    if ZSH_META not in data:
        return data
    out = bytearray()
    escaped = False
    for byte in data:
        if escaped:
            out.append(byte ^ 0x20)
            escaped = False
        elif byte == ZSH_META:
            escaped = True
        else:
            out.append(byte)
    return bytes(out)


def parse_zsh(data: bytes) -> list[dict[str, Any]]:
    """Parse zsh history, extended (`: start:elapsed;cmd`) or plain.

    zsh stores a newline inside a command as backslash + newline, so a line
    that ends in a backslash continues on the next one, minus that backslash.
    """
    lines = _lines(data)
    entries = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        while line.endswith(b"\\") and index < len(lines):
            line = line[:-1] + b"\n" + lines[index]
            index += 1
        line = unmetafy(line)
        match = ZSH_EXTENDED.match(line)
        if match:
            start, elapsed, command = match.groups()
            entries.append(_entry(int(start), command, duration=int(elapsed)))
        elif line.strip():
            entries.append(_entry(None, line, duration=None))
    return entries


def parse_bash(data: bytes) -> list[dict[str, Any]]:
    """Parse bash history with or without HISTTIMEFORMAT's `#<epoch>` lines.

    Once a timestamp line appears, every timestamp line starts an entry and
    the lines up to the next one form its command (bash's own `lithist`
    reading). Lines before the first timestamp are one entry each.
    """
    entries: list[dict[str, Any]] = []
    time: int | None = None
    pending: list[bytes] | None = None

    def flush() -> None:
        if pending is not None and time is not None:
            entries.append(_entry(time, b"\n".join(pending)))

    for line in _lines(data):
        match = BASH_TIMESTAMP.match(line)
        if match:
            flush()
            time, pending = int(match.group(1)), []
        elif pending is not None:
            pending.append(line)
        elif line.strip():
            entries.append(_entry(None, line))
    flush()
    return entries


def _unescape_fish(value: bytes) -> bytes:
    # fish writes a newline in a command as `\n` and a backslash as `\\`.
    return re.sub(
        rb"\\(.)", lambda m: b"\n" if m.group(1) == b"n" else m.group(1), value
    )


def parse_fish(data: bytes) -> list[dict[str, Any]]:
    """Parse fish's history: `- cmd: ...` items with an optional `  when: <epoch>`."""
    entries: list[dict[str, Any]] = []
    for line in _lines(data):
        if line.startswith(b"- cmd: "):
            entries.append(_entry(None, _unescape_fish(line[7:])))
        elif line.startswith(b"  when: ") and entries:
            value = line[8:].strip()
            entries[-1]["time"] = int(value) if value.isdigit() else None
    return entries


def parse_plain(data: bytes) -> list[dict[str, Any]]:
    """Parse a history with one command per line and no timestamps."""
    return [_entry(None, line) for line in _lines(data) if line.strip()]


def parse_psreadline(data: bytes) -> list[dict[str, Any]]:
    """Parse PSReadLine's ConsoleHost_history.txt; a trailing backtick continues."""
    data = data.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
    entries = []
    pending: list[bytes] = []
    for line in _lines(data):
        pending.append(line)
        if not line.endswith(b"`"):
            entries.append(_entry(None, b"\n".join(pending)))
            pending = []
    if pending:
        entries.append(_entry(None, b"\n".join(pending)))
    return entries


# History file names relative to a home directory, with their parser and shell.
HISTORY_FILES: tuple[tuple[str, str], ...] = (
    (".bash_history", "bash"),
    (".zsh_history", "zsh"),
    (".zhistory", "zsh"),
    (".histfile", "zsh"),
    (".local/share/fish/fish_history", "fish"),
    (".sh_history", "sh"),
    (".ash_history", "sh"),
    (".python_history", "python"),
    (".mysql_history", "mysql"),
    (".psql_history", "psql"),
    (".node_repl_history", "node"),
    (
        "AppData/Roaming/Microsoft/Windows/PowerShell/PSReadLine/"
        "ConsoleHost_history.txt",
        "powershell",
    ),
    (".local/share/powershell/PSReadLine/ConsoleHost_history.txt", "powershell"),
)

PARSERS = {
    "bash": parse_bash,
    "zsh": parse_zsh,
    "fish": parse_fish,
    "powershell": parse_psreadline,
}


def parse_history(shell: str, data: bytes) -> list[dict[str, Any]]:
    """Parse `data` with the parser for `shell`; unknown shells are line lists."""
    return PARSERS.get(shell, parse_plain)(data)
