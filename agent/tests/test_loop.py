"""The check-in loop: intervals with jitter, backoff, recovery and 401."""

import random

import pytest

from agent.client import AuthenticationFailed, ServerClient
from agent.config import AgentConfig, load_config
from agent.loop import BACKOFF_CAP, Agent, Backoff, jittered
from agent.tests.conftest import AGENT_TOKEN
from agent.tests.fake_server import FakeExecServer

FACTS = {
    "agent_version": "0.1.0",
    "hostname": "laptop-42",
    "os_version": "12",
    "ip_addresses": ["10.0.0.5"],
    "mac_addresses": ["02:42:ac:11:00:02"],
    "users": [{"username": "jdoe", "logged_in": True}],
}


class LoopStopped(Exception):
    """Raised by the test's sleep to end `run_forever`."""


class RecordingSleep:
    """Record each delay; run `on_call` hooks by call number; stop after `limit`."""

    def __init__(self, limit, on_call=None):
        self.delays = []
        self.limit = limit
        self.on_call = on_call or {}

    def __call__(self, seconds):
        self.delays.append(seconds)
        hook = self.on_call.get(len(self.delays))
        if hook:
            hook()
        if len(self.delays) >= self.limit:
            raise LoopStopped


def make_agent(server_url, config_path, sleep, interval=60, seed=1):
    config = AgentConfig(server_url, 7, AGENT_TOKEN, None, interval)
    client = ServerClient(server_url, token=AGENT_TOKEN, timeout=(2, 5))
    return Agent(
        config,
        config_path,
        client,
        sleep=sleep,
        rng=random.Random(seed),
        collect_facts=lambda: dict(FACTS),
    )


def test_jittered_stays_within_ten_percent():
    rng = random.Random(3)

    delays = [jittered(60, rng) for _ in range(2000)]

    assert min(delays) >= 54
    assert max(delays) <= 66
    # The spread reaches both ends, so agents do not check in in lockstep.
    assert min(delays) < 55
    assert max(delays) > 65


def test_backoff_doubles_to_the_cap():
    backoff = Backoff(random.Random(5))

    delays = [backoff.next_delay() for _ in range(12)]

    steps = [5, 10, 20, 40, 80, 160, 300, 300, 300, 300, 300, 300]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step
    assert max(delays) <= BACKOFF_CAP


def test_backoff_reset_starts_over():
    backoff = Backoff(random.Random(5))
    for _ in range(4):
        backoff.next_delay()

    backoff.reset()

    assert backoff.next_delay() <= 5


def test_loop_checks_in_every_interval(fake_server, config_path):
    sleep = RecordingSleep(limit=3)
    agent = make_agent(fake_server.url, config_path, sleep)

    with pytest.raises(LoopStopped):
        agent.run_forever()

    checkins = fake_server.state.checkins()
    assert len(checkins) == 3
    assert checkins[0] == {**FACTS, "event": None}
    for delay in sleep.delays:
        assert 54 <= delay <= 66
    request = fake_server.state.requests[0]
    assert request.headers["Authorization"] == f"Bearer {AGENT_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"


def test_loop_backs_off_until_server_returns(tmp_path, unused_port):
    server_url = f"http://127.0.0.1:{unused_port}"
    servers = []

    def start_server():
        server = FakeExecServer(port=unused_port).start()
        server.state.agent_tokens.add(AGENT_TOKEN)
        servers.append(server)

    sleep = RecordingSleep(limit=6, on_call={4: start_server})
    agent = make_agent(server_url, tmp_path / "agent.json", sleep)

    try:
        with pytest.raises(LoopStopped):
            agent.run_forever()
    finally:
        for server in servers:
            server.stop()

    unreachable, recovered = sleep.delays[:4], sleep.delays[4:]
    for delay, step in zip(unreachable, [5, 10, 20, 40], strict=True):
        assert step / 2 <= delay <= step
    for delay in recovered:
        assert 54 <= delay <= 66
    assert len(servers[0].state.checkins()) == 2


def test_loop_backs_off_on_5xx(fake_server, config_path):
    fake_server.state.failing_checkins = 2
    sleep = RecordingSleep(limit=3)
    agent = make_agent(fake_server.url, config_path, sleep)

    with pytest.raises(LoopStopped):
        agent.run_forever()

    assert 2.5 <= sleep.delays[0] <= 5
    assert 5 <= sleep.delays[1] <= 10
    assert 54 <= sleep.delays[2] <= 66
    assert len(fake_server.state.checkins()) == 1


def test_loop_delivers_kept_result_after_outage(fake_server, config_path, handlers):
    sleep = RecordingSleep(limit=1)
    agent = make_agent(fake_server.url, config_path, sleep)
    fake_server.state.task_status[21] = "running"
    agent.runner.pending[21] = {"status": "succeeded", "result": {}, "error": ""}

    with pytest.raises(LoopStopped):
        agent.run_forever()

    assert fake_server.state.results == [
        (21, {"status": "succeeded", "result": {}, "error": ""})
    ]
    assert agent.runner.pending == {}


def test_loop_runs_handed_out_tasks(fake_server, config_path, handlers):
    fake_server.queue_task(30, "ping")
    fake_server.queue_task(31, "no_such_type")
    sleep = RecordingSleep(limit=1)
    agent = make_agent(fake_server.url, config_path, sleep)

    with pytest.raises(LoopStopped):
        agent.run_forever()

    assert fake_server.state.task_status == {30: "succeeded", 31: "failed"}


def test_loop_stores_new_interval(fake_server, config_path):
    fake_server.state.checkin_interval = 120
    sleep = RecordingSleep(limit=1)
    agent = make_agent(fake_server.url, config_path, sleep)

    with pytest.raises(LoopStopped):
        agent.run_forever()

    assert 108 <= sleep.delays[0] <= 132
    assert load_config(config_path).checkin_interval == 120


def test_loop_stops_on_401(fake_server, config_path):
    fake_server.state.agent_tokens.clear()
    sleep = RecordingSleep(limit=5)
    agent = make_agent(fake_server.url, config_path, sleep)

    with pytest.raises(AuthenticationFailed):
        agent.run_forever()

    assert sleep.delays == []


def test_loop_survives_unexpected_error(fake_server, config_path):
    sleep = RecordingSleep(limit=2)
    agent = make_agent(fake_server.url, config_path, sleep)
    broken = [True]

    def facts_once_broken():
        if broken.pop() if broken else False:
            raise RuntimeError("psutil failed")
        return dict(FACTS)

    agent.collect_facts = facts_once_broken

    with pytest.raises(LoopStopped):
        agent.run_forever()

    assert 2.5 <= sleep.delays[0] <= 5
    assert 54 <= sleep.delays[1] <= 66
    assert len(fake_server.state.checkins()) == 1
