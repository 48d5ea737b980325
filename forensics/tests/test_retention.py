from datetime import timedelta

import pytest
from django.utils import timezone

from exec_site import schedules
from forensics import actions
from forensics.models import CollectedFile, ForensicsPackage
from forensics.tasks import purge_expired_forensics
from forensics.tests.builders import collected_file_bytes, package_bytes, sha256
from forensics.tests.conftest import make_endpoint, stored_files

pytestmark = pytest.mark.django_db


def receive(endpoint, tmp_path, body: bytes, *, age_days: float):
    path = tmp_path / "upload.zip"
    path.write_bytes(body)
    package, _ = actions.receive_package(
        path, sha256(body), len(body), endpoint=endpoint
    )
    package.received = timezone.now() - timedelta(days=age_days)
    package.save(update_fields=["received"])
    return package


def numbered(number: int) -> bytes:
    return package_bytes(edit_manifest=lambda m: m.update(package_id=f"p{number}"))


def purge(capture):
    with capture(execute=True):
        return actions.purge_expired(timezone.now())


def test_purge_deletes_expired_with_files(
    endpoint, tmp_path, media_root, django_capture_on_commit_callbacks
):
    old = receive(endpoint, tmp_path, numbered(1), age_days=91)
    recent = receive(endpoint, tmp_path, numbered(2), age_days=89)

    counts = purge(django_capture_on_commit_callbacks)

    assert counts == {"packages": 1, "files": 0}
    assert list(ForensicsPackage.objects.all()) == [recent]
    assert [path.name for path in stored_files(media_root)] == [f"{recent.sha256}.zip"]
    assert not (media_root / old.file.name).exists()


def test_purge_honours_legal_hold(
    tmp_path, media_root, django_capture_on_commit_callbacks
):
    held = make_endpoint("evidence01", legal_hold=True)
    package = receive(held, tmp_path, numbered(1), age_days=400)

    counts = purge(django_capture_on_commit_callbacks)

    assert counts == {"packages": 0, "files": 0}
    assert list(ForensicsPackage.objects.all()) == [package]
    assert (media_root / package.file.name).exists()


def test_purge_keeps_zip_shared_with_held_endpoint(
    endpoint, tmp_path, media_root, django_capture_on_commit_callbacks
):
    held = make_endpoint("evidence01", legal_hold=True)
    body = numbered(1)
    receive(endpoint, tmp_path, body, age_days=100)
    kept = receive(held, tmp_path, body, age_days=100)

    purge(django_capture_on_commit_callbacks)

    assert list(ForensicsPackage.objects.all()) == [kept]
    assert (media_root / kept.file.name).exists()


def test_purge_collected_files(
    endpoint, tmp_path, media_root, django_capture_on_commit_callbacks
):
    body = collected_file_bytes(b"sample")
    path = tmp_path / "ioc.zip"
    path.write_bytes(body)
    collected, _ = actions.receive_collected_file(
        path, sha256(body), len(body), endpoint=endpoint
    )
    CollectedFile.objects.update(received=timezone.now() - timedelta(days=120))

    counts = purge(django_capture_on_commit_callbacks)

    assert counts == {"packages": 0, "files": 1}
    assert CollectedFile.objects.count() == 0
    assert not (media_root / collected.file.name).exists()


def test_purge_uses_retention_setting(
    endpoint, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.FORENSICS_RETENTION_DAYS = 7
    receive(endpoint, tmp_path, numbered(1), age_days=8)

    counts = purge(django_capture_on_commit_callbacks)

    assert counts["packages"] == 1


def test_purge_records_event_each_run(events, django_capture_on_commit_callbacks):
    purge(django_capture_on_commit_callbacks)
    purge(django_capture_on_commit_callbacks)

    assert [event["kind"] for event in events] == ["forensics.purged"] * 2
    assert events[0]["details"]["packages"] == 0
    assert events[0]["details"]["retention_days"] == 90
    assert events[0]["actor"] is None


def test_purge_task_is_idempotent(
    endpoint, tmp_path, django_capture_on_commit_callbacks
):
    receive(endpoint, tmp_path, numbered(1), age_days=91)

    with django_capture_on_commit_callbacks(execute=True):
        first = purge_expired_forensics()
        second = purge_expired_forensics()

    assert first == {"packages": 1, "files": 0}
    assert second == {"packages": 0, "files": 0}


def test_purge_scheduled_daily():
    (task,) = [t for t in schedules.SCHEDULES if t.name == "forensics-purge"]

    assert task.func == "forensics.tasks.purge_expired_forensics"
    assert task.minutes == 24 * 60
