"""Encryption of connector secrets at rest with Fernet keys from the settings."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


def _fernet() -> MultiFernet:
    # MultiFernet encrypts with the first key and tries every key to decrypt,
    # so an old key can stay listed until `rotate_secret` has re-encrypted all.
    return MultiFernet([Fernet(key) for key in settings.EXEC_ENCRYPTION_KEYS])


def encrypt_secret(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    """Decrypt a stored secret, or raise SecretDecryptionError naming the fix."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            "the stored secret cannot be decrypted with any key in "
            "EXEC_ENCRYPTION_KEY; add the key it was encrypted with, or enter "
            "the secret again"
        ) from None


def rotate_secret(token: str) -> str:
    """Re-encrypt a stored secret with the first configured key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            "the stored secret cannot be decrypted with any key in "
            "EXEC_ENCRYPTION_KEY; add the key it was encrypted with"
        ) from None
