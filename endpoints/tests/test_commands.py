from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from endpoints.models import EnrollmentToken, hash_token

pytestmark = pytest.mark.django_db


def test_create_enrollment_token_prints_once(capsys):
    call_command(
        "create_enrollment_token",
        "--expires",
        "2",
        "--uses",
        "3",
        "--tag",
        "laptops",
        "--tag",
        "berlin",
        "--label",
        "Berlin office",
    )

    output = capsys.readouterr()
    token = output.out.strip()
    assert token.startswith("enr_")
    saved = EnrollmentToken.objects.get()
    assert saved.token_hash == hash_token(token)
    assert saved.max_uses == 3
    assert saved.label == "Berlin office"
    assert sorted(tag.name for tag in saved.tags.all()) == ["berlin", "laptops"]
    expected = timezone.now() + timedelta(hours=2)
    assert abs((saved.expires - expected).total_seconds()) < 60
    assert "shown only this once" in output.err
    assert token not in output.err


def test_create_enrollment_token_defaults(capsys):
    call_command("create_enrollment_token")

    saved = EnrollmentToken.objects.get()
    assert saved.max_uses is None
    assert list(saved.tags.all()) == []


def test_create_enrollment_token_bad_tag():
    with pytest.raises(CommandError, match="--tag 'Big Servers': invalid tag"):
        call_command("create_enrollment_token", "--tag", "Big Servers")

    assert not EnrollmentToken.objects.exists()


@pytest.mark.parametrize("option", ["--expires", "--uses"])
@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many"])
def test_create_enrollment_token_rejects_bad_number(option, value):
    with pytest.raises(CommandError) as raised:
        call_command("create_enrollment_token", option, value)

    assert f"expected a whole number of 1 or more, got '{value}'" in str(raised.value)
    assert not EnrollmentToken.objects.exists()
