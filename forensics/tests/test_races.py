import threading

import pytest
from django.db import connection

from forensics import actions, storage, verify
from forensics.models import ForensicsPackage
from forensics.tests.builders import package_bytes, sha256
from forensics.tests.conftest import make_endpoint, stored_files


@pytest.mark.django_db(transaction=True)
def test_receive_package_concurrent_same_bytes(
    postgres_only, tmp_path, media_root, monkeypatch
):
    """Two uploads of one package at once make one row and keep one stored zip."""
    endpoint = make_endpoint("web01")
    body = package_bytes()
    source = tmp_path / "package.zip"
    source.write_bytes(body)
    barrier = threading.Barrier(2, timeout=20)
    original = verify.verify_package

    def verify_then_wait(path):
        verified = original(path)
        # Both threads pass verification and the duplicate check together.
        barrier.wait()
        return verified

    monkeypatch.setattr(actions, "verify_package", verify_then_wait)
    results = []
    errors = []

    def upload():
        path, digest, size = storage.copy_to_incoming(source)
        try:
            results.append(
                actions.receive_package(path, digest, size, endpoint=endpoint)
            )
        except Exception as error:
            errors.append(error)
        finally:
            path.unlink(missing_ok=True)
            connection.close()

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0].pk == results[1][0].pk
    assert ForensicsPackage.objects.count() == 1
    stored = stored_files(media_root)
    assert [path.name for path in stored] == [f"{sha256(body)}.zip"]
