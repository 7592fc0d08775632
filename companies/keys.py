"""API key material: generation and hashing. Only the SHA-256 of a key is ever stored.

A plain SHA-256 (not a slow password hash) is right here: keys are 256 random bits, so there is
nothing to brute-force, and every API request must verify one cheaply.
"""

import hashlib
import secrets
from dataclasses import dataclass

COMPANY_KEY_PREFIX = "pnt_"
PLATFORM_TOKEN_PREFIX = "pnts_"  # noqa: S105  (a prefix, not a secret)
SHOWN_PREFIX_LENGTH = 12


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key(kind_prefix: str) -> NewKey:
    plaintext = kind_prefix + secrets.token_urlsafe(32)
    return NewKey(plaintext=plaintext, prefix=plaintext[:SHOWN_PREFIX_LENGTH], key_hash=hash_key(plaintext))
