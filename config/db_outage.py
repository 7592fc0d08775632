"""A database outage answers a prompt 503 with ``Retry-After``, logged once, instead of a 500.

:func:`is_database_unavailable` decides what counts as an outage: the server refused, dropped or could not
take the connection (refused, unreachable, too many connections, shutting down, out of disk, the pool
found none in time). What the request itself caused (a DataError such as a NUL character, an
IntegrityError, a ProgrammingError, a query cancelled by its timeout, a deadlock) is not an outage and
keeps its own answer. DRF views reach :func:`database_unavailable_response` through
:func:`api_exception_handler`; every other view through :class:`DatabaseUnavailableMiddleware`.
"""

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from config import errors

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

# PostgreSQL error classes that say the server cannot serve anyone right now: 08 connection exception,
# 53 insufficient resources (too many connections, disk full), 57 operator intervention (shutting down,
# starting up), 58 system error. https://www.postgresql.org/docs/current/errcodes-appendix.html
_POSTGRES_UNAVAILABLE_CLASSES = {"08", "53", "57", "58"}
_POSTGRES_CAUSED_BY_THE_QUERY = {"57014"}  # query_canceled: a statement timeout, or the client cancelled
# SQLite primary result codes of the same kind: BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL.
# https://www.sqlite.org/rescode.html
_SQLITE_UNAVAILABLE_CODES = {5, 6, 10, 13, 14, 15}


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached or could not serve, not what was asked."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    cause = exc.__cause__  # the driver's exception, which Django's wrappers chain
    if isinstance(cause, sqlite3.Error):
        code = getattr(cause, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_UNAVAILABLE_CODES
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        # psycopg's own connection errors (refused, lost, closed, the pool's timeout) carry no SQLSTATE.
        return True
    return sqlstate[:2] in _POSTGRES_UNAVAILABLE_CLASSES and sqlstate not in _POSTGRES_CAUSED_BY_THE_QUERY


def describe(exc: BaseException) -> str:
    """The driver's error in one line (its first), for a log line: psycopg adds hints on the next ones."""
    cause = exc.__cause__ or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


def database_unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse | None:
    """The 503 for a database outage (error format under the JSON paths), logged once; None for other errors."""
    if not is_database_unavailable(exc):
        return None
    # One line, no traceback: the cause is outside the code, and during an outage every request logs it.
    logger.error("Database unavailable in %s %s: %s", request.method, request.path, describe(exc))
    if errors.wants_json(request):
        response = errors.error_response(503, "unavailable", "Temporarily unavailable; try again.")
    else:
        response = HttpResponse(
            "Service temporarily unavailable; try again in a moment.", status=503, content_type="text/plain"
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response._has_been_logged = True  # django.request would log the 503 again, at ERROR
    return response


class DatabaseUnavailableMiddleware:
    """Plain Django views (admin, webhooks, health): an outage becomes :func:`database_unavailable_response`.

    Innermost in ``MIDDLEWARE``, so it sees the exception before ``JsonExceptionMiddleware`` and Django's
    500 (or, with DEBUG, its debug page).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        return database_unavailable_response(request, exc)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse:
    """DRF's exception handler: an outage is :func:`database_unavailable_response`, the rest ``config.errors``'s."""
    request = context.get("request")
    if request is not None and (response := database_unavailable_response(request, exc)) is not None:
        return response
    return errors.api_exception_handler(exc, context)
