"""Symmetric encryption for secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`).

Keys come from ``FIELD_ENCRYPTION_KEYS``: the first encrypts, every key decrypts, so a key is rotated
by putting the new one first and running ``manage.py rotate_encryption_keys``.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    """Stored ciphertext could not be decrypted with any configured key (the value is never included)."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in keys if key.strip()])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: bytes) -> bytes:
    return fernet().encrypt(plaintext)


def decrypt(token: bytes) -> bytes:
    try:
        return fernet().decrypt(token)
    except InvalidToken:
        raise DecryptionError("Stored secret cannot be decrypted: check FIELD_ENCRYPTION_KEYS.") from None


def rotate(token: bytes) -> bytes:
    """Re-encrypt ``token`` with the primary key."""
    return fernet().rotate(token)
