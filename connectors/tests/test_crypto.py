"""Connector secrets encrypted at rest with rotating Fernet keys."""

import pytest
from cryptography.fernet import Fernet

from connectors.crypto import (
    SecretDecryptionError,
    decrypt_secret,
    encrypt_secret,
    rotate_secret,
)
from connectors.models import Connector


def test_crypto_round_trip(settings):
    settings.EXEC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    token = encrypt_secret("00abc-secret-token")

    assert "00abc-secret-token" not in token
    assert decrypt_secret(token) == "00abc-secret-token"


def test_crypto_rotation_keeps_old_secrets_readable(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.EXEC_ENCRYPTION_KEYS = [old]
    stored = encrypt_secret("token-1")

    settings.EXEC_ENCRYPTION_KEYS = [new, old]
    rotated = rotate_secret(stored)
    fresh = encrypt_secret("token-2")

    settings.EXEC_ENCRYPTION_KEYS = [new]
    assert decrypt_secret(rotated) == "token-1"
    assert decrypt_secret(fresh) == "token-2"
    with pytest.raises(SecretDecryptionError, match="EXEC_ENCRYPTION_KEY"):
        decrypt_secret(stored)


def test_crypto_unknown_key_message_has_no_secret(settings):
    settings.EXEC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    stored = encrypt_secret("super-secret")
    settings.EXEC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(SecretDecryptionError) as caught:
        decrypt_secret(stored)

    assert "super-secret" not in str(caught.value)
    assert "enter the secret again" in str(caught.value)


@pytest.mark.django_db
def test_crypto_connector_stores_only_ciphertext():
    connector = Connector(kind="okta", name="Okta", base_url="https://127.0.0.1")
    connector.set_secret("00plain-token")
    connector.save()

    stored = Connector.objects.values_list("encrypted_secret", flat=True).get()
    assert "00plain-token" not in stored
    assert Connector.objects.get().get_secret() == "00plain-token"
    assert Connector.objects.get().secret_changed is not None


@pytest.mark.django_db
def test_crypto_connector_audit_log_excludes_secret():
    from auditlog.models import LogEntry

    connector = Connector(kind="okta", name="Okta", base_url="https://127.0.0.1")
    connector.set_secret("00plain-token")
    connector.save()
    connector.set_secret("00second-token")
    connector.save()

    entries = LogEntry.objects.get_for_object(connector)
    assert entries.count() == 2
    for entry in entries:
        assert "encrypted_secret" not in entry.changes_dict
        assert "00plain-token" not in str(entry.changes)
        assert "00second-token" not in str(entry.changes)
    assert "secret_changed" in entries.first().changes_dict


@pytest.mark.django_db
def test_crypto_audit_log_lists_only_columns(admin_client, okta_server):
    from auditlog.models import LogEntry
    from django.urls import reverse

    from connectors.tests.test_admin import add_form

    admin_client.post(reverse("admin:connectors_connector_add"), add_form(okta_server))
    connector = Connector.objects.get()
    columns = {field.name for field in Connector._meta.concrete_fields}

    created = LogEntry.objects.get_for_object(connector).get()
    assert set(created.changes_dict) <= columns - {"encrypted_secret"}
    assert "name" in created.changes_dict
    assert "accounts" not in created.changes_dict
    assert "identity_links" not in created.changes_dict
    assert "identities." not in created.changes_str


@pytest.mark.django_db
def test_crypto_rotate_command_reencrypts_all(settings):
    from io import StringIO

    from django.core.management import call_command

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.EXEC_ENCRYPTION_KEYS = [old]
    for name in ("A", "B"):
        connector = Connector(kind="okta", name=name, base_url="https://127.0.0.1")
        connector.set_secret(f"token-{name}")
        connector.save()
    output = StringIO()

    settings.EXEC_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_connector_secrets", stdout=output)
    settings.EXEC_ENCRYPTION_KEYS = [new]

    assert "2 connector(s)" in output.getvalue()
    assert Connector.objects.get(name="A").get_secret() == "token-A"
    assert Connector.objects.get(name="B").get_secret() == "token-B"


@pytest.mark.django_db
def test_crypto_rotate_command_unknown_key_changes_nothing(settings):
    from django.core.management import CommandError, call_command

    settings.EXEC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    connector = Connector(kind="okta", name="A", base_url="https://127.0.0.1")
    connector.set_secret("token-A")
    connector.save()
    stored = connector.encrypted_secret

    settings.EXEC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("rotate_connector_secrets")

    assert Connector.objects.get().encrypted_secret == stored
