"""Running tasks through the registry and reporting their outcome."""

import signal
import socket

import pytest

from agent import __version__
from agent.client import ServerClient
from agent.power import StopRequested
from agent.runner import TaskRunner
from agent.tasks import TaskFailed
from agent.tests.conftest import AGENT_TOKEN


@pytest.fixture
def runner(fake_server, tmp_path, handlers):
    client = ServerClient(fake_server.url, token=AGENT_TOKEN)
    yield TaskRunner(client, tmp_path)
    client.close()


def send_task(server, task_id, task_type, **parameters):
    """Queue a task and hand it out, as a check-in would."""
    server.queue_task(task_id, task_type, **parameters)
    (task,) = server.state.queued
    server.state.queued = []
    server.state.task_status[task_id] = "sent"
    return task


def statuses(server, task_id):
    return [
        body["status"]
        for posted_id, body in server.state.results
        if posted_id == task_id
    ]


def final_body(server, task_id):
    return [body for posted_id, body in server.state.results if posted_id == task_id][
        -1
    ]


def test_runner_ping_succeeds(fake_server, runner):
    runner.run_task(send_task(fake_server, 12, "ping"))

    assert statuses(fake_server, 12) == ["running", "succeeded"]
    result = final_body(fake_server, 12)["result"]
    assert result["agent_version"] == __version__
    assert result["hostname"] == socket.gethostname()
    assert result["time"].endswith("Z")


def test_runner_unknown_type_fails_listing_types(fake_server, runner):
    runner.run_task(send_task(fake_server, 13, "reformat_disk"))

    assert statuses(fake_server, 13) == ["running", "failed"]
    body = final_body(fake_server, 13)
    assert body["error"] == (
        f"unknown task type 'reformat_disk'; this agent (version {__version__}) "
        "supports: collect_file, collect_forensics, ping"
    )
    assert body["result"] is None


def test_runner_handler_exception_fails(fake_server, runner, handlers):
    def explode(parameters, context):
        raise RuntimeError("disk on fire")

    handlers["explode"] = explode

    runner.run_task(send_task(fake_server, 14, "explode"))

    assert statuses(fake_server, 14) == ["running", "failed"]
    assert final_body(fake_server, 14)["error"] == (
        "the explode handler raised RuntimeError: disk on fire"
    )


def test_runner_task_failed_message(fake_server, runner, handlers):
    def reject_missing_path(parameters, context):
        raise TaskFailed(f"path {parameters['path']} does not exist")

    handlers["reject_path"] = reject_missing_path

    runner.run_task(send_task(fake_server, 15, "reject_path", path="/nope"))

    assert final_body(fake_server, 15)["error"] == "path /nope does not exist"


def test_runner_non_json_result_fails(fake_server, runner, handlers):
    handlers["bad_result"] = lambda parameters, context: {"when": object()}

    runner.run_task(send_task(fake_server, 16, "bad_result"))

    body = final_body(fake_server, 16)
    assert body["status"] == "failed"
    assert "not JSON-serializable" in body["error"]


def test_runner_context_uploads(fake_server, runner, handlers, tmp_path):
    archive = tmp_path / "package.zip"
    archive.write_bytes(b"PK\x05\x06" + bytes(18))

    def upload_package(parameters, context):
        assert context.task_id == 17
        assert context.work_dir == tmp_path
        return context.upload(archive, "package")

    handlers["upload_package"] = upload_package

    runner.run_task(send_task(fake_server, 17, "upload_package"))

    (upload,) = fake_server.state.uploads
    assert upload[0] == 17
    assert upload[1] == archive.read_bytes()
    assert upload[2]["X-Upload-Kind"] == "package"
    assert final_body(fake_server, 17)["result"]["size"] == 22


def test_runner_skips_task_server_rejects(fake_server, runner, handlers):
    ran = []
    handlers["record"] = lambda parameters, context: ran.append(1) or {}
    task = send_task(fake_server, 18, "record")
    fake_server.state.task_status[18] = "cancelled"

    runner.run_task(task)

    assert ran == []
    assert fake_server.state.results == []


def test_runner_keeps_result_while_server_down(fake_server, runner, handlers):
    task = send_task(fake_server, 19, "ping")
    # The server accepts the running report, then stops before the result.
    real_post = runner.client.post_result
    calls = []

    def post_then_vanish(task_id, status, result=None, error=""):
        calls.append(status)
        if status != "running" and len(calls) == 2:
            fake_server.stop()
        return real_post(task_id, status, result, error)

    runner.client.post_result = post_then_vanish

    runner.run_task(task)

    assert list(runner.pending) == [19]
    assert runner.pending[19]["status"] == "succeeded"


def test_runner_stop_during_task_reports_failed(fake_server, runner, handlers):
    def interrupted(parameters, context):
        # What the SIGTERM handler raises in the middle of a handler.
        raise StopRequested(signal.SIGTERM)

    handlers["interrupted"] = interrupted

    with pytest.raises(StopRequested):
        runner.run_task(send_task(fake_server, 20, "interrupted"))

    assert statuses(fake_server, 20) == ["running", "failed"]
    assert final_body(fake_server, 20)["error"] == (
        "the agent stopped before the task finished"
    )


def test_runner_rejects_non_object_parameters(fake_server, runner):
    task = send_task(fake_server, 22, "ping")
    task["parameters"] = ["not", "an", "object"]

    runner.run_task(task)

    assert final_body(fake_server, 22)["error"] == (
        "task parameters must be a JSON object, not list"
    )
