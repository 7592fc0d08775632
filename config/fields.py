"""Model fields shared by the apps."""

from typing import Any

from django.db import models

from config import crypto


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; Python code sees the plaintext, the database never does.

    Empty values stay empty so "not configured" is visible without decrypting. The admin and the API
    treat these fields as write-only (see ``companies.forms`` and the serializers).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str:
        if not value:
            return ""
        return crypto.decrypt(value.encode()).decode()

    def get_prep_value(self, value: Any) -> str:
        value = super().get_prep_value(value)
        if not value:
            return ""
        return crypto.encrypt(str(value).encode()).decode()
