"""Socket to process attribution on a fake procfs, and processes that vanish."""

import os
from pathlib import Path

import psutil
import pytest

from agent.forensics.common import describe_processes
from agent.forensics.linux import ProcFS, linux_sockets

LINE_TAIL = (
    " 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0 20 4 30 10 -1"
)
HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
    "retrnsmt   uid  timeout inode\n"
)


def tcp_table(*lines: str) -> str:
    return HEADER + "".join(line + "\n" for line in lines)


def make_pid(root: Path, pid: int, namespace: str, fds: dict[str, str]) -> None:
    (root / str(pid) / "ns").mkdir(parents=True)
    (root / str(pid) / "fd").mkdir()
    os.symlink(f"net:[{namespace}]", root / str(pid) / "ns" / "net")
    for fd, target in fds.items():
        os.symlink(target, root / str(pid) / "fd" / fd)


class DeniedFdProcFS(ProcFS):
    """A procfs where reading PID 1's fd links is denied, as in some sandboxes."""

    def readlink(self, relative: str) -> str:
        if relative.startswith("1/fd/"):
            raise PermissionError(13, "Permission denied", relative)
        return super().readlink(relative)


def test_sockets_denied_fd_keeps_row_without_pid(tmp_path: Path) -> None:
    make_pid(tmp_path, 1, "4026531992", {"3": "socket:[232]"})
    (tmp_path / "1" / "net").mkdir()
    (tmp_path / "1" / "net" / "tcp").write_text(
        tcp_table("   0: 00000000:07E8 00000000:0000 0A" + LINE_TAIL.format(inode=232))
    )

    result = linux_sockets(DeniedFdProcFS(str(tmp_path)))

    assert len(result.rows) == 1
    row = result.rows[0]
    assert row["local_address"] == "0.0.0.0"  # noqa: S104 - a parsed socket.
    assert row["local_port"] == 2024
    assert row["state"] == "LISTEN"
    assert row["socket"] == 232
    assert row["pid"] is None
    assert row["pid_resolution"] == "denied"
    assert result.partial is True
    assert result.warnings == ["1 socket(s) without owning PID: permission denied"]


def test_sockets_other_namespace_marked_in_container(tmp_path: Path) -> None:
    make_pid(tmp_path, 1, "4026531992", {})
    make_pid(tmp_path, 4321, "4026532301", {"5": "socket:[555]"})
    (tmp_path / "4321" / "net").mkdir()
    (tmp_path / "4321" / "net" / "tcp").write_text(
        tcp_table("   0: 0100007F:1F90 00000000:0000 0A" + LINE_TAIL.format(inode=555))
    )

    result = linux_sockets(ProcFS(str(tmp_path)))

    assert len(result.rows) == 1
    row = result.rows[0]
    assert row["local_address"] == "127.0.0.1"
    assert row["local_port"] == 8080
    assert row["state"] == "LISTEN"
    assert row["socket"] == 555
    assert row["pid"] == 4321
    assert row["fd"] == 5
    assert row["net_namespace"] == "4026532301"
    assert row["in_container"] is True
    assert result.partial is False


def test_sockets_host_namespace_not_in_container(tmp_path: Path) -> None:
    make_pid(tmp_path, 1, "4026531992", {"7": "socket:[900]"})
    (tmp_path / "1" / "net").mkdir()
    (tmp_path / "1" / "net" / "tcp").write_text(
        tcp_table("   0: 0100007F:0016 0100007F:D431 01" + LINE_TAIL.format(inode=900))
    )
    row = linux_sockets(ProcFS(str(tmp_path))).rows[0]
    assert row["pid"] == 1
    assert row["in_container"] is False
    assert row["remote_port"] == 54321


class FakeProcess:
    """A psutil.Process stand-in whose fields return values or raise."""

    def __init__(self, pid: int, **fields: object) -> None:
        self.pid = pid
        self.fields = fields

    def _get(self, name: str) -> object:
        value = self.fields[name]
        if isinstance(value, Exception):
            raise value
        return value

    def name(self) -> object:
        return self._get("name")

    def exe(self) -> object:
        return self._get("exe")

    def status(self) -> object:
        return self._get("status")

    def cmdline(self) -> object:
        return self._get("cmdline")


def test_processes_zombie_vanished_and_denied() -> None:
    processes = [
        FakeProcess(
            100, name="sshd", exe="/usr/sbin/sshd", status="sleeping", cmdline=["sshd"]
        ),
        FakeProcess(
            101,
            name="sleep",
            exe=psutil.ZombieProcess(101),
            status="zombie",
            cmdline=psutil.ZombieProcess(101),
        ),
        FakeProcess(
            102,
            name="gone",
            exe="/bin/gone",
            status="sleeping",
            cmdline=psutil.NoSuchProcess(102),
        ),
        FakeProcess(
            103,
            name="init",
            exe=psutil.AccessDenied(103),
            status="sleeping",
            cmdline=["init"],
        ),
    ]

    rows, warnings = describe_processes(processes)

    keys = ("pid", "name", "exe", "status", "field_errors")
    assert [{k: row[k] for k in keys} for row in rows] == [
        {
            "pid": 100,
            "name": "sshd",
            "exe": "/usr/sbin/sshd",
            "status": "sleeping",
            "field_errors": {},
        },
        {
            "pid": 101,
            "name": "sleep",
            "exe": None,
            "status": "zombie",
            "field_errors": {"exe": "zombie", "cmdline": "zombie"},
        },
        {
            "pid": 103,
            "name": "init",
            "exe": None,
            "status": "sleeping",
            "field_errors": {"exe": "access_denied"},
        },
    ]
    assert warnings == ["1 process exited during collection"]


@pytest.mark.parametrize("missing", ["ns", "fd"])
def test_sockets_unreadable_pid_entries_do_not_fail(
    tmp_path: Path, missing: str
) -> None:
    make_pid(tmp_path, 1, "4026531992", {})
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / ("fd" if missing == "ns" else "ns")).mkdir()
    assert linux_sockets(ProcFS(str(tmp_path))).rows == []
