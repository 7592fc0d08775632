"""The base of every domain error: apps raise subclasses, ``config.errors`` renders them once."""

from typing import Any


class DomainError(Exception):
    """An error a client can act on: it becomes ``{"error": {code, message, details}}`` with ``status``."""

    status = 400
    code = "bad_request"
    message = "The request cannot be processed."

    def __init__(self, message: str | None = None, *, details: Any = None, code: str | None = None) -> None:
        self.message = message or self.message
        self.details = details if details is not None else {}
        if code:
            self.code = code
        super().__init__(self.message)


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "The request conflicts with the current state."
