"""Fixtures of the agent's tests: a fake server and an enrolled configuration."""

import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import AgentConfig, save_config
from agent.handlers import load_handlers
from agent.tasks import HANDLERS
from agent.tests.fake_server import FakeExecServer

AGENT_TOKEN = "agt_test_token_5b1f0e9c4d2a"


@pytest.fixture(autouse=True)
def local_fqdn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep enrollment from asking the system's DNS resolver for the FQDN."""
    monkeypatch.setattr("agent.facts.fqdn", lambda: socket.gethostname())


@pytest.fixture(autouse=True)
def agent_logging() -> Iterator[None]:
    """Remove the handler that the commands add to the root logger."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if getattr(handler, "exec_agent", False):
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def fake_server() -> Iterator[FakeExecServer]:
    server = FakeExecServer().start()
    server.state.agent_tokens.add(AGENT_TOKEN)
    yield server
    server.stop()
    # Requests the contract does not allow, such as a missing Content-Type.
    assert server.state.problems == []


@pytest.fixture
def config_path(tmp_path: Path, fake_server: FakeExecServer) -> Path:
    """Write the configuration of an agent enrolled with `fake_server`."""
    path = tmp_path / "etc" / "agent.json"
    config = AgentConfig(
        server_url=fake_server.url,
        endpoint_id=fake_server.state.endpoint_id,
        agent_token=AGENT_TOKEN,
        checkin_interval=fake_server.state.checkin_interval,
    )
    save_config(config, path)
    return path


@pytest.fixture
def handlers() -> Iterator[dict]:
    """Load the built-in handlers; remove any a test registers on top."""
    load_handlers()
    before = dict(HANDLERS)
    yield HANDLERS
    HANDLERS.clear()
    HANDLERS.update(before)


@pytest.fixture
def restore_signals() -> Iterator[None]:
    """Put back the SIGTERM and SIGINT handlers that the `run` command replaces."""
    saved = {
        number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)
    }
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.fixture
def unused_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on (at this moment)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
