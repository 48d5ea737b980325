"""The one-shot commands: once, event, uninstall and collect."""

import logging
import sys
import types

import pytest

from agent.cli import main
from agent.tests.conftest import AGENT_TOKEN
from agent.tests.fake_server import GOOD_ENROLLMENT_TOKEN


def run(*arguments):
    return main(list(arguments))


def test_once_runs_tasks_and_exits(fake_server, config_path, handlers):
    fake_server.queue_task(40, "ping")

    code = run("once", "--config", str(config_path))

    assert code == 0
    assert [body["event"] for body in fake_server.state.checkins()] == [None]
    assert [body["status"] for _, body in fake_server.state.results] == [
        "running",
        "succeeded",
    ]


def test_once_unreachable_fails(config_path, fake_server, capsys):
    fake_server.stop()

    code = run("once", "--config", str(config_path))

    assert code == 1
    assert "check-in failed" in capsys.readouterr().err


def test_once_token_rejected_exits_78(fake_server, config_path, capsys):
    fake_server.state.agent_tokens.clear()

    code = run("once", "--config", str(config_path))

    assert code == 78
    assert "enroll again" in capsys.readouterr().err


def test_once_without_config_says_enroll(tmp_path, capsys):
    code = run("once", "--config", str(tmp_path / "absent.json"))

    assert code == 1
    assert "enroll first" in capsys.readouterr().err


@pytest.mark.parametrize("event", ["shutdown", "suspended"])
def test_event_posts_one_checkin(fake_server, config_path, event):
    code = run("event", event, "--config", str(config_path))

    assert code == 0
    assert [body["event"] for body in fake_server.state.checkins()] == [event]


def test_event_does_not_run_tasks(fake_server, config_path, handlers):
    fake_server.queue_task(41, "ping")

    code = run("event", "suspended", "--config", str(config_path))

    assert code == 0
    assert fake_server.state.results == []


def test_event_rejects_unknown_event(config_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run("event", "hibernate", "--config", str(config_path))

    assert exit_info.value.code == 2
    assert "invalid choice: 'hibernate'" in capsys.readouterr().err


def test_uninstall_reports_and_deletes_config(fake_server, config_path):
    code = run("uninstall", "--config", str(config_path))

    assert code == 0
    assert [body["event"] for body in fake_server.state.checkins()] == ["uninstalled"]
    assert not config_path.exists()


def test_uninstall_unreachable_keeps_config(fake_server, config_path, capsys):
    fake_server.stop()

    code = run("uninstall", "--config", str(config_path))

    assert code == 1
    assert config_path.exists()
    error = capsys.readouterr().err
    assert "is kept so you can retry" in error
    assert "--force" in error


def test_uninstall_force_deletes_when_unreachable(fake_server, config_path):
    fake_server.stop()

    code = run("uninstall", "--force", "--config", str(config_path))

    assert code == 0
    assert not config_path.exists()


def test_uninstall_after_revocation_deletes(fake_server, config_path):
    fake_server.state.agent_tokens.clear()

    code = run("uninstall", "--config", str(config_path))

    assert code == 0
    assert not config_path.exists()


def test_collect_without_forensics_explains(monkeypatch, capsys):
    # None in sys.modules makes the import fail as if the module were absent.
    monkeypatch.setitem(sys.modules, "agent.forensics.cli", None)

    code = run("collect", "--output", "x.zip")

    assert code == 1
    assert "lacks the forensics collectors" in capsys.readouterr().err


def test_collect_hands_arguments_to_forensics(monkeypatch):
    received = []
    module = types.ModuleType("agent.forensics.cli")
    module.main = lambda argv: received.append(argv) or 0
    monkeypatch.setitem(sys.modules, "agent.forensics.cli", module)

    code = run("collect", "--output", "x.zip", "--help")

    assert code == 0
    assert received == [["--output", "x.zip", "--help"]]


def test_token_never_in_logs(fake_server, tmp_path, capfd, handlers, monkeypatch):
    config = str(tmp_path / "agent.json")
    monkeypatch.setenv("EXEC_AGENT_LOG_LEVEL", "DEBUG")
    fake_server.queue_task(42, "ping")

    codes = [
        run(
            "enroll",
            "--server",
            fake_server.url,
            "--token",
            GOOD_ENROLLMENT_TOKEN,
            "--config",
            config,
        ),
        run("once", "--config", config),
        run("event", "suspended", "--config", config),
    ]
    agent_token = next(iter(fake_server.state.agent_tokens - {AGENT_TOKEN}))
    logging.getLogger("agent.test").info("token in a message: %s", agent_token)
    fake_server.stop()
    codes.append(run("once", "--config", config))
    codes.append(run("uninstall", "--config", config))

    assert codes == [0, 0, 0, 1, 1]
    output = capfd.readouterr()
    logged = output.out + output.err
    assert "token in a message: ***" in logged
    assert "/api/v1/agent/checkin" in logged
    assert agent_token not in logged
    assert GOOD_ENROLLMENT_TOKEN not in logged
