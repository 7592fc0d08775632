"""A request id for every log line: taken from ``X-Request-ID`` when sane, else generated."""

import contextvars
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
HEADER = "X-Request-ID"


def get_request_id() -> str:
    """The id of the request (or task) being handled, ``-`` outside of one."""
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token:
    """Bind ``value`` (or a new id when it is missing or unsafe) to the current context."""
    if not value or not _SAFE_ID.match(value):
        value = uuid.uuid4().hex
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


class RequestIdMiddleware:
    """Binds the request id for the duration of the request and echoes it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = set_request_id(request.headers.get(HEADER))
        try:
            request.request_id = get_request_id()
            response = self.get_response(request)
            response[HEADER] = request.request_id
            return response
        finally:
            reset_request_id(token)
