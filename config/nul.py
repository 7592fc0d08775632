"""NUL characters in client input are refused as 400: PostgreSQL can neither store nor compare them.

psycopg refuses a NUL in any text parameter (``DataError``) before the query is even sent, so a
``?status=%00`` would fail deep inside a lookup, and look like a database outage. Input is checked
where it is parsed: the path, query string, headers and cookies of every request here
(:class:`RejectNulMiddleware`), API bodies in ``config.api.JSONParser`` (:func:`nul_path`), and the
identifiers webhooks look tenants up by where the webhooks read them.
"""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import BadRequest, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse

from config.errors import error_response, wants_json

NUL = "\x00"
MESSAGE = "NUL characters are not allowed."


def has_nul(value: object) -> bool:
    return isinstance(value, str) and NUL in value


def shown(name: str) -> str:
    """A name as it can be quoted back in an error (the NUL itself spelt out)."""
    return name.replace(NUL, "\\u0000")


def nul_path(document: Any) -> str | None:
    """Where the first NUL of a parsed JSON document is ("template.parameters.0"), or None; keys count.

    The root itself is "non_field_errors", as DRF names errors of the whole body.
    """
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                return path or "non_field_errors"
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{shown(str(key))}" if path else shown(str(key))
                if has_nul(key):
                    return child
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}" if path else str(index), item) for index, item in enumerate(value))
    return None


def _nul_in_request(request: HttpRequest) -> str | None:
    """The name of the part of the request that holds a NUL, or None."""
    if NUL in request.path_info:
        return "path"
    for name, values in request.GET.lists():  # TooManyFieldsSent propagates: Django answers it 400
        if NUL in name or any(NUL in value for value in values):
            return shown(name)
    for name, value in request.headers.items():
        if has_nul(value):
            return name
    for name, value in request.COOKIES.items():  # cookie values are unquoted: "\000" becomes a NUL
        if NUL in name or NUL in value:
            return "Cookie"
    return None


class RejectNulMiddleware:
    """A request whose path, query string, headers or cookies hold a NUL is answered 400 at once (and, as
    this is where the query string is first read, one with more fields than Django reads too)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            where = _nul_in_request(request)
        except TooManyFieldsSent:
            if not wants_json(request):
                raise
            # Answered here: under DEBUG, Django's page for it reads the query again and fails with a 500.
            return error_response(400, "bad_request", "The query string has too many fields.")
        if where is None:
            return self.get_response(request)
        if wants_json(request):
            return error_response(400, "invalid", "The request holds a NUL character.", {where: [MESSAGE]})
        raise BadRequest(f"NUL character in {where}")  # the admin's own 400 page
