"""The Linux firewall collector with stand-in nft and iptables-save tools."""

import stat
import sys
from pathlib import Path

import pytest

from agent.forensics.model import ARTIFACTS, OK, PERMISSION_DENIED, UNSUPPORTED
from agent.forensics.runner import load_collectors, run_collector

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux collector")

IPTABLES_SAVE = """*filter
:INPUT DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
COMMIT"""


def tool(folder: Path, name: str, stdout: str, stderr: str = "", code: int = 0) -> None:
    script = folder / name
    script.write_text(
        f"#!/bin/sh\n/bin/cat <<'EOF'\n{stdout}\nEOF\n"
        f"echo '{stderr}' >&2\nexit {code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Only the stand-ins are on PATH, so real tools on the machine do not interfere.
    monkeypatch.setenv("PATH", str(tmp_path))
    load_collectors()
    return tmp_path


def collect() -> dict:
    return run_collector(ARTIFACTS["network.firewall"], "linux")


def test_firewall_iptables_save_rows(tools: Path) -> None:
    tool(tools, "iptables-save", IPTABLES_SAVE)
    outcome = collect()
    assert outcome["status"] == OK
    assert outcome["sources"] == ["iptables-save"]
    assert [(r["kind"], r["chain"], r["policy"]) for r in outcome["rows"]] == [
        ("chain", "INPUT", "DROP"),
        ("chain", "OUTPUT", "ACCEPT"),
        ("rule", "INPUT", None),
    ]


def test_firewall_nft_json_rows(tools: Path) -> None:
    ruleset = (
        '{"nftables": [{"chain": {"family": "inet", "table": "filter", '
        '"name": "input", "policy": "drop"}}, {"rule": {"family": "inet", '
        '"table": "filter", "chain": "input", "expr": [{"accept": null}]}}]}'
    )
    tool(tools, "nft", ruleset)
    outcome = collect()
    assert outcome["status"] == OK
    assert outcome["rows"][1]["rule"] == '[{"accept": null}]'


def test_firewall_denied_without_root(tools: Path) -> None:
    tool(tools, "nft", "", "Operation not permitted (you must be root)", 1)
    outcome = collect()
    assert outcome["status"] == PERMISSION_DENIED
    assert "CAP_NET_ADMIN" in outcome["error"]["message"]


def test_firewall_one_tool_failing_is_partial(tools: Path) -> None:
    tool(tools, "iptables-save", IPTABLES_SAVE)
    tool(tools, "ip6tables-save", "", "ip6tables: modules missing", 2)
    outcome = collect()
    assert outcome["status"] == "partial"
    assert outcome["warnings"][0].startswith("ip6tables-save failed")


def test_firewall_without_tools_unsupported(tools: Path) -> None:
    outcome = collect()
    assert outcome["status"] == UNSUPPORTED
    assert "nft" in outcome["reason"]
