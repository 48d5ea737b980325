import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_ensure_admin_creates_once(capsys):
    call_command("ensure_admin", "--url", "http://127.0.0.1:8000/admin/")
    first = capsys.readouterr().out
    call_command("ensure_admin")
    second = capsys.readouterr().out

    admin = User.objects.get(username="admin")
    password = first.split("password ")[1].split()[0]
    assert admin.is_superuser
    assert admin.check_password(password)
    assert admin.groups.filter(name="Administrators").exists()
    assert "http://127.0.0.1:8000/admin/" in first
    assert "The administrator account admin exists already" in second
    assert "changepassword admin" in second
    assert password not in second


def test_ensure_admin_sets_email(capsys):
    call_command("ensure_admin", "--email", "admin@localhost")

    assert User.objects.get(username="admin").email == "admin@localhost"
