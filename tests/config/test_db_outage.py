"""A database outage answers a prompt 503 in the error format, logged once; errors the data caused do not."""

import logging
import sqlite3
import time

import psycopg
import psycopg_pool
import pytest
from django.conf import settings as django_settings
from django.db import DataError, IntegrityError, InterfaceError, OperationalError, ProgrammingError
from rest_framework.test import APIClient

from config.db_outage import is_database_unavailable
from tests.outage import database_unreachable


def _as_django(django_error: type[Exception], driver_error: Exception) -> Exception:
    """What Django's DatabaseErrorWrapper raises for a driver error: its own class, the driver's as cause."""
    wrapped = django_error(*driver_error.args)
    wrapped.__cause__ = driver_error
    return wrapped


def _sqlite_error(sql: str, path: str = ":memory:") -> sqlite3.Error:
    connection = None
    try:
        connection = sqlite3.connect(path)
        connection.execute(sql)
    except sqlite3.Error as exc:
        return exc
    finally:
        if connection is not None:
            connection.close()  # Python 3.13 warns about a connection left to the garbage collector
    raise AssertionError("no error")


def _error_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


def _pool_timeout() -> float:
    pool = django_settings.DATABASES["default"].get("OPTIONS", {}).get("pool") or {}
    return pool.get("timeout", 0.0)


@pytest.mark.django_db
def test_the_api_answers_a_prompt_503_when_the_database_is_unreachable(caplog):
    client = APIClient()
    with database_unreachable():
        started = time.monotonic()
        response = client.get("/api/v1/me", HTTP_X_API_KEY="pnt_some_key")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json() == {
        "error": {"code": "unavailable", "message": "Temporarily unavailable; try again.", "details": {}}
    }
    assert response["Retry-After"] == "5"
    # Within the pool's wait for a connection (3 s by default; the old 10 s answered a 500 at its end).
    assert elapsed < _pool_timeout() + 1.5
    [logged] = _error_records(caplog)
    assert logged.getMessage().startswith("Database unavailable in GET /api/v1/me: ")
    assert logged.exc_info is None


@pytest.mark.django_db
def test_an_admin_page_answers_503_when_the_database_is_unreachable(admin_client, caplog):
    with database_unreachable(pool_timeout=0.5):
        response = admin_client.get("/admin/")  # the session's user is read from the database
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/plain")
    assert len(_error_records(caplog)) == 1


def test_the_database_options_bound_how_long_an_outage_is_waited_for():
    options = django_settings.DATABASES["default"].get("OPTIONS", {})
    if django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("SQLite has no connection to wait for")
    assert options["connect_timeout"] <= 5
    if pool := options.get("pool"):
        assert pool["timeout"] <= 5
        assert pool["reconnect_timeout"] <= 30


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            _as_django(OperationalError, psycopg.OperationalError("connection failed: Connection refused")),
            id="refused",
        ),
        pytest.param(
            _as_django(OperationalError, psycopg.errors.TooManyConnections("too many clients already")),
            id="too-many-connections",
        ),
        pytest.param(
            _as_django(OperationalError, psycopg.OperationalError("server closed the connection unexpectedly")),
            id="connection-lost",
        ),
        pytest.param(_as_django(OperationalError, psycopg.errors.AdminShutdown("terminating")), id="shutdown"),
        pytest.param(_as_django(OperationalError, psycopg.errors.CannotConnectNow("starting up")), id="starting"),
        pytest.param(_as_django(OperationalError, psycopg_pool.PoolTimeout("no connection")), id="pool-timeout"),
        pytest.param(_as_django(InterfaceError, psycopg.InterfaceError("the connection is closed")), id="closed"),
        pytest.param(
            _as_django(OperationalError, _sqlite_error("SELECT 1", "/nonexistent-folder/db.sqlite3")),
            id="sqlite-cannot-open",
        ),
    ],
)
def test_errors_that_mean_the_database_is_unavailable(error):
    assert is_database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            _as_django(DataError, psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")),
            id="nul",
        ),
        pytest.param(_as_django(IntegrityError, psycopg.errors.UniqueViolation("duplicate key")), id="integrity"),
        pytest.param(_as_django(ProgrammingError, psycopg.errors.UndefinedTable("no such table")), id="programming"),
        pytest.param(_as_django(OperationalError, psycopg.errors.QueryCanceled("statement timeout")), id="timeout"),
        pytest.param(_as_django(OperationalError, psycopg.errors.DeadlockDetected("deadlock")), id="deadlock"),
        pytest.param(_as_django(OperationalError, _sqlite_error("SELEC 1")), id="sqlite-syntax"),
        pytest.param(_as_django(OperationalError, _sqlite_error("SELECT * FROM missing")), id="sqlite-no-table"),
        pytest.param(ValueError("A string literal cannot contain NUL (0x00) characters."), id="nul-value-error"),
    ],
)
def test_errors_the_request_caused_are_not_an_outage(error):
    assert not is_database_unavailable(error)
