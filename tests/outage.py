"""A database outage for tests: the default connection swapped for one to a server that is not there."""

import contextlib
import copy
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.db import connections


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens on it once the socket is closed


@contextlib.contextmanager
def database_unreachable(*, pool_timeout: float | None = None) -> Iterator[None]:
    """Until the block ends, ``connections["default"]`` connects to nothing and fails as the driver does:
    PostgreSQL on a closed port (connection refused, after the pool's own timeout), SQLite in a folder
    that does not exist (unable to open database file). The real connection, and its transaction, wait
    untouched. ``pool_timeout`` shortens the pool's wait for tests that are not about it.
    """
    real = connections["default"]
    settings_dict = copy.deepcopy(real.settings_dict)
    if real.vendor == "sqlite":
        settings_dict["NAME"] = str(Path(tempfile.gettempdir()) / f"missing-{uuid.uuid4().hex}" / "db.sqlite3")
    else:
        settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
        if pool_timeout is not None and settings_dict["OPTIONS"].get("pool"):
            settings_dict["OPTIONS"]["pool"]["timeout"] = pool_timeout
    # Another alias, so the PostgreSQL backend builds a pool of its own instead of lending the real one's.
    down = type(real)(settings_dict, alias=f"unreachable-{uuid.uuid4().hex[:8]}")
    connections["default"] = down
    try:
        yield
    finally:
        connections["default"] = real
        down.close()
        if down.alias in getattr(down, "_connection_pools", {}):
            down.close_pool()
