"""Shared set-up: Django against a throwaway test database (never the real one), and JSON output."""

import contextlib
import json
import os
import sys
from collections.abc import Iterator


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


@contextlib.contextmanager
def throwaway_database() -> Iterator[None]:
    """Create the `test_…` database (SQLite in memory, or PostgreSQL), migrate it, drop it after."""
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite":
        # Its own name, so a benchmark never collides with a test run's test_<name> database.
        connection.settings_dict["TEST"]["NAME"] = f"ponte_bench_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def emit(figures: dict) -> None:
    """Print the figures as the last line of output, one JSON object."""
    sys.stdout.write(json.dumps(figures) + "\n")
    sys.stdout.flush()
