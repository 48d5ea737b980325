import json
import threading

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token

from endpoints.models import Endpoint, EndpointUser
from playbooks import engine
from playbooks.choices import MatchStatus
from playbooks.detections import resolve_endpoint, resolve_user
from playbooks.models import Detection, PlaybookRun
from playbooks.tests.conftest import detection_document

pytestmark = pytest.mark.django_db

URL = "/api/v1/detections/generic/"


def document(external_id="det-1", **fields):
    return detection_document(external_id, **fields)


@pytest.fixture
def source_client():
    user = User.objects.create_user("siem")
    user.user_permissions.add(Permission.objects.get(codename="add_detection"))
    token = Token.objects.create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def post(client, body, url=URL):
    if not isinstance(body, str | bytes):
        body = json.dumps(body)
    return client.post(url, body, content_type="application/json")


def test_detection_post_new_then_repeat(
    queue, source_client, make_playbook, endpoint, endpoint_user
):
    playbook = make_playbook(trigger_type="detection")

    first = queue.call(post, source_client, document())
    repeat = queue.call(post, source_client, document(title="changed title"))

    assert first.status_code == 201
    assert first.json()["new"] is True
    assert repeat.status_code == 200
    assert repeat.json()["id"] == first.json()["id"]
    assert repeat.json()["new"] is False
    assert repeat.json()["runs"] == []
    detection = Detection.objects.get()
    assert detection.title == "Credential dumping"
    assert detection.raw["username"] == "CORP\\jdoe"
    assert detection.endpoint == endpoint
    assert detection.endpoint_user == endpoint_user
    run = PlaybookRun.objects.get()
    assert first.json()["runs"] == [run.pk]
    assert run.playbook == playbook
    assert run.detection == detection
    assert run.endpoint == endpoint


def test_detection_conditions_select_playbooks(queue, source_client, make_playbook):
    make_playbook(
        trigger_type="detection",
        conditions=[
            {"field": "detection.severity", "operator": "gte", "value": "critical"}
        ],
    )
    medium = make_playbook(
        trigger_type="detection",
        conditions=[
            {"field": "detection.severity", "operator": "gte", "value": "medium"}
        ],
    )
    make_playbook(trigger_type="detection", enabled=False)
    make_playbook(trigger_type="manual")

    response = queue.call(post, source_client, document())

    assert response.status_code == 201
    assert list(PlaybookRun.objects.values_list("playbook", flat=True)) == [medium.pk]


def test_detection_bad_document_stores_nothing(source_client, make_playbook):
    make_playbook(trigger_type="detection")
    bad = document("bad")
    del bad["title"]
    body = [document("ok-1"), bad, document("ok-2")]

    response = post(source_client, body)

    assert response.status_code == 400
    assert response.json()["field"] == "title"
    assert response.json()["document"] == 1
    assert response.json()["detail"].startswith("document 2: ")
    assert "title" in response.json()["detail"]
    assert Detection.objects.count() == 0
    assert PlaybookRun.objects.count() == 0


def test_detection_array_and_ndjson(queue, source_client):
    ndjson = "\n".join(json.dumps(document(f"n-{i}")) for i in range(3))

    array = post(source_client, [document("a-1"), document("a-2")])
    lines = post(source_client, ndjson)

    assert array.status_code == 201
    assert [item["new"] for item in array.json()["detections"]] == [True, True]
    assert lines.status_code == 201
    assert len(lines.json()["detections"]) == 3
    assert Detection.objects.count() == 5


def test_detection_invalid_json_and_unknown_source(source_client):
    broken = post(source_client, "{not json")
    unknown = post(source_client, document(), url="/api/v1/detections/splunk/")

    assert broken.status_code == 400
    assert unknown.status_code == 404
    assert "unknown source 'splunk'" in unknown.json()["detail"]


def test_detection_needs_permission(client):
    user = User.objects.create_user("outsider")
    token = Token.objects.create(user=user)

    anonymous = post(client, document())
    outsider = post(Client(HTTP_AUTHORIZATION=f"Token {token.key}"), document())

    assert anonymous.status_code == 401
    assert outsider.status_code == 403
    assert Detection.objects.count() == 0


def test_resolve_endpoint_by_vendor_id(make_endpoint):
    falcon = make_endpoint(source="crowdstrike", source_id="abc123", hostname="x")

    match = resolve_endpoint("crowdstrike", "abc123", "other-name")

    assert match.obj == falcon
    assert match.status == MatchStatus.MATCHED


def test_resolve_endpoint_by_hostname(make_endpoint):
    laptop = make_endpoint(hostname="LT-7", fqdn="lt-7.corp.example.com")
    make_endpoint(hostname="kiosk", fqdn="kiosk.lobby.example.com")
    make_endpoint(hostname="KIOSK")

    assert resolve_endpoint("generic", "", "lt-7").obj == laptop
    assert resolve_endpoint("generic", "", "LT-7.CORP.EXAMPLE.COM").obj == laptop
    ambiguous = resolve_endpoint("generic", "", "kiosk")
    missing = resolve_endpoint("generic", "", "nothere")
    none = resolve_endpoint("generic", "", "")

    assert ambiguous.status == MatchStatus.AMBIGUOUS
    assert ambiguous.obj is None
    assert ambiguous.reason.startswith("kiosk matches endpoints")
    assert missing.status == MatchStatus.NOT_FOUND
    assert none.status == MatchStatus.NOT_REPORTED


def test_resolve_endpoint_short_name_needs_one_match(make_endpoint):
    only = make_endpoint(hostname="web7.corp.example.com")
    make_endpoint(hostname="mail.a.example.com")
    make_endpoint(hostname="other", fqdn="mail.b.example.com")

    assert resolve_endpoint("generic", "", "web7").obj == only
    assert resolve_endpoint("generic", "", "mail").status == MatchStatus.AMBIGUOUS


def test_resolve_user_exact_then_name(endpoint):
    exact = EndpointUser.objects.create(
        endpoint=endpoint, username="CORP\\jdoe", name="jdoe"
    )
    EndpointUser.objects.create(
        endpoint=endpoint, username="asmith@corp.example.com", name="asmith"
    )
    EndpointUser.objects.create(
        endpoint=endpoint, username="OLD\\asmith", name="asmith"
    )

    assert resolve_user(endpoint, "CORP\\jdoe").obj == exact
    assert resolve_user(endpoint, "jdoe@corp.example.com").obj == exact
    ambiguous = resolve_user(endpoint, "asmith")
    assert ambiguous.status == MatchStatus.AMBIGUOUS
    assert "asmith matches users" in ambiguous.reason
    assert resolve_user(None, "jdoe").status == MatchStatus.NOT_FOUND
    assert resolve_user(endpoint, "").status == MatchStatus.NOT_REPORTED


def test_detection_unmatched_keeps_reason_and_runs_without_target(
    queue, source_client, make_playbook
):
    make_playbook(trigger_type="detection")

    response = queue.call(post, source_client, document(hostname="ghost"))

    detection = Detection.objects.get()
    assert detection.endpoint is None
    assert detection.endpoint_match == MatchStatus.NOT_FOUND
    assert detection.endpoint_match_reason == "no endpoint named ghost"
    assert detection.user_match == MatchStatus.NOT_FOUND
    run = PlaybookRun.objects.get()
    assert response.json()["runs"] == [run.pk]
    assert run.endpoint is None


def test_send_detection_command(queue, tmp_path, make_playbook, endpoint, capsys):
    make_playbook(trigger_type="detection")
    path = tmp_path / "alerts.ndjson"
    path.write_text(json.dumps(document("c-1")) + "\n" + json.dumps(document("c-2")))

    queue.call(call_command, "send_detection", "generic", str(path))
    queue.call(call_command, "send_detection", "generic", str(path))

    lines = capsys.readouterr().out.splitlines()
    runs = list(PlaybookRun.objects.order_by("pk").values_list("pk", flat=True))
    ids = list(Detection.objects.order_by("pk").values_list("pk", flat=True))
    assert lines[0] == f"detection {ids[0]} new runs: {runs[0]}"
    assert lines[1].startswith(f"detection {ids[1]} new runs: ")
    assert lines[2] == f"detection {ids[0]} known runs: none"


def test_send_detection_command_rejects_bad_file(tmp_path):
    path = tmp_path / "bad.json"
    bad = document("x")
    del bad["title"]
    path.write_text(json.dumps(bad))

    with pytest.raises(CommandError, match=r"title.*; nothing was stored"):
        call_command("send_detection", "generic", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("send_detection", "generic", str(tmp_path / "none.json"))


def test_concurrent_duplicate_posts_start_one_run(
    postgres_only, transactional_db, make_playbook, make_endpoint, monkeypatch
):
    monkeypatch.setattr(engine, "enqueue_step", lambda pk: None)
    make_endpoint(hostname="ws-042")
    make_playbook(trigger_type="detection", max_concurrent_runs=0)
    user = User.objects.create_user("siem")
    user.user_permissions.add(Permission.objects.get(codename="add_detection"))
    token = Token.objects.create(user=user).key
    barrier = threading.Barrier(6)
    codes = []

    def send():
        try:
            client = Client(HTTP_AUTHORIZATION=f"Token {token}")
            barrier.wait()
            codes.append(post(client, document("race-1")).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(codes) == [200] * 5 + [201]
    assert Detection.objects.count() == 1
    assert PlaybookRun.objects.count() == 1
    assert Endpoint.objects.count() == 1
