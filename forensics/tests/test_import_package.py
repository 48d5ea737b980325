import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from forensics.models import ForensicsPackage
from forensics.tests.builders import package_bytes, sha256
from forensics.tests.conftest import stored_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def package_file(tmp_path):
    path = tmp_path / "fp_web01_20261204T153001Z_6f0c9f8e.zip"
    path.write_bytes(package_bytes())
    return path


def test_import_package_stores_package(endpoint, package_file, events, capsys):
    call_command("import_package", str(package_file), "--endpoint", str(endpoint.pk))

    package = ForensicsPackage.objects.get()
    assert package.endpoint == endpoint
    assert package.task is None
    assert package.sha256 == sha256(package_file.read_bytes())
    assert package.artifacts.count() == 3
    assert events[0]["kind"] == "forensics.package_received"
    assert events[0]["actor"] == "command:import_package"
    assert capsys.readouterr().out.startswith(f"Imported package {package.pk} ")


def test_import_package_leaves_source(endpoint, package_file):
    call_command("import_package", str(package_file), "--endpoint", str(endpoint.pk))

    assert package_file.exists()


def test_import_package_records_user(endpoint, package_file):
    user = User.objects.create_user("responder1")

    call_command(
        "import_package",
        str(package_file),
        "--endpoint",
        str(endpoint.pk),
        "--user",
        "responder1",
    )

    package = ForensicsPackage.objects.get()
    assert package.requested_by == user


def test_import_package_twice_is_one_package(endpoint, package_file, capsys):
    for _ in range(2):
        call_command(
            "import_package", str(package_file), "--endpoint", str(endpoint.pk)
        )

    assert ForensicsPackage.objects.count() == 1
    assert "Already stored as package" in capsys.readouterr().out


def test_import_package_rejects_tampered(endpoint, tmp_path, media_root):
    def flip(members):
        members["collection.log.jsonl"] = b"changed\n"

    path = tmp_path / "tampered.zip"
    path.write_bytes(package_bytes(edit_members=flip))

    with pytest.raises(
        CommandError, match=r"rejected: member 'collection\.log\.jsonl'"
    ):
        call_command("import_package", str(path), "--endpoint", str(endpoint.pk))

    assert ForensicsPackage.objects.count() == 0
    assert stored_files(media_root) == []


def test_import_package_unknown_endpoint(package_file):
    with pytest.raises(CommandError, match="--endpoint 999: no such endpoint"):
        call_command("import_package", str(package_file), "--endpoint", "999")


def test_import_package_missing_file(endpoint, tmp_path):
    with pytest.raises(CommandError, match="not found"):
        call_command(
            "import_package", str(tmp_path / "nope.zip"), "--endpoint", str(endpoint.pk)
        )
