"""Secrets generated once on a developer's machine, so `make run` needs no configuration."""

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def read_or_create_secret(path: Path, *, fernet: bool = False) -> str:
    """Return the secret stored at ``path``, creating it (mode 0600) on first use."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = Fernet.generate_key().decode() if fernet else secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its value
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
