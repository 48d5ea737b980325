"""The demo detection is a real vendor document about this machine."""

import json
import socket
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from endpoints.models import Endpoint, EndpointUser
from playbooks.demo import SAMPLE_FILE_NAME
from playbooks.models import Detection
from playbooks.normalizers import normalize

pytestmark = pytest.mark.django_db


def demo(*args: str) -> dict:
    output = StringIO()
    call_command("demo_detection", *args, stdout=output, stderr=StringIO())
    return json.loads(output.getvalue())


@pytest.mark.parametrize("source", ["wazuh", "crowdstrike"])
def test_demo_detection_normalizes(source, settings, tmp_path):
    settings.VAR_DIR = tmp_path

    document = demo("--source", source, "--user", "CORP\\joren")

    detection = normalize(source, document)
    sample = tmp_path / "demo" / SAMPLE_FILE_NAME
    assert sample.exists()
    assert detection.hostname == socket.gethostname()
    assert detection.severity == "high"
    assert detection.file_path == str(sample)
    assert len(detection.file_sha256) == 64
    assert detection.mitre_technique == "T1105"
    assert detection.username in ("CORP\\joren", "joren")


def test_demo_detection_names_given_file(settings, tmp_path):
    settings.VAR_DIR = tmp_path

    document = demo("--file-path", "/srv/missing.bin", "--user", "alice")

    detection = normalize("wazuh", document)
    assert detection.file_path == "/srv/missing.bin"
    assert detection.file_sha256 == ""
    assert detection.username == "alice"
    assert not (tmp_path / "demo").exists()


def test_demo_detection_rejects_relative_path():
    with pytest.raises(CommandError, match="not absolute"):
        demo("--file-path", "notes.txt")


def test_demo_detection_sends_and_matches(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    endpoint = Endpoint.objects.create(
        hostname=socket.gethostname(), platform="linux", source_id="agent-1"
    )
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(demo("--user", "CORP\\joren", "--record-user")))

    call_command("send_detection", "wazuh", str(alert), stdout=StringIO())

    detection = Detection.objects.get()
    user = EndpointUser.objects.get()
    assert user.username == "CORP\\joren"
    assert user.name == "joren"
    assert detection.endpoint == endpoint
    assert detection.endpoint_user == user


def test_demo_detection_record_user_needs_endpoint(settings, tmp_path):
    settings.VAR_DIR = tmp_path

    with pytest.raises(CommandError, match="no endpoint named"):
        demo("--user", "joren", "--record-user", "--hostname", "nowhere")
