import pytest
from django.test import Client

from forensics import actions
from forensics.tests.builders import package_bytes, sha256

pytestmark = pytest.mark.django_db


@pytest.fixture
def package(endpoint, tmp_path):
    body = package_bytes()
    path = tmp_path / "package.zip"
    path.write_bytes(body)
    return actions.receive_package(path, sha256(body), len(body), endpoint=endpoint)[0]


def test_admin_lists_packages_read_only(package, admin_user):
    client = Client()
    client.force_login(admin_user)

    listing = client.get("/admin/forensics/forensicspackage/")
    detail = client.get(f"/admin/forensics/forensicspackage/{package.pk}/change/")
    add = client.get("/admin/forensics/forensicspackage/add/")
    delete = client.get(f"/admin/forensics/forensicspackage/{package.pk}/delete/")

    assert listing.status_code == 200
    assert "web01" in listing.text
    assert detail.status_code == 200
    assert "network.arp_cache" in detail.text
    assert "/media/" not in detail.text
    assert add.status_code == 403
    assert delete.status_code == 403


def test_admin_lists_collected_files(admin_user):
    client = Client()
    client.force_login(admin_user)

    assert client.get("/admin/forensics/collectedfile/").status_code == 200
    assert client.get("/admin/forensics/collectedfile/add/").status_code == 403
