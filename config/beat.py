"""Celery beat's scheduler: django-celery-beat's ``DatabaseScheduler``, riding out a database outage.

django-celery-beat reads the schedule again when it changed and at least every 5 minutes. Left as it is,
during an outage its change check logs a traceback on every tick and the next full read raises out of
``tick``: beat exits (minutes into the outage) and no periodic job runs until someone restarts it.
Started while the database is down, it does not start at all.
"""

import contextlib
import logging
from time import monotonic

from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError, close_old_connections, transaction
from django_celery_beat.schedulers import DatabaseScheduler as _DatabaseScheduler

from config.db_outage import describe, is_database_unavailable

logger = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 60.0


class DatabaseScheduler(_DatabaseScheduler):
    """While the database is unavailable, beat keeps sending the schedule it has in memory (each run expires
    in its queue) and asks the database again after 5 s, doubling up to 60 s; it logs the outage once and
    its end. When the database answers, it saves the runs it sent and reads the whole schedule again.
    Other database errors in a read (a missing table, say) still stop beat: restarting will not fix them.
    """

    _outage_since: float | None = None
    _retry_at = 0.0
    _retry_delay = 0.0
    _reading = False

    @property
    def schedule(self) -> dict:
        if self._outage_since is not None and monotonic() < self._retry_at:
            return self._in_memory()
        self._reading = True
        try:
            schedule = _DatabaseScheduler.schedule.fget(self)
        except DatabaseError as exc:
            if not is_database_unavailable(exc):
                raise
            self._database_failed(exc)
            return self._in_memory()
        finally:
            self._reading = False
        if self._outage_since is not None:
            logger.warning("Database answers again after %.0f s; beat read its schedule again.", self._outage_age())
            self._outage_since = None
        return schedule

    def schedule_changed(self) -> bool:
        """django-celery-beat's check, but a database error reaches :attr:`schedule` instead of being logged."""
        if self._outage_since is not None:
            return True  # what changed while the database was down is unknown: read it all
        close_old_connections()
        # On MySQL's REPEATABLE READ a read in the same transaction would never see a change (theirs, #41).
        with contextlib.suppress(transaction.TransactionManagementError):
            transaction.commit()
        last, self._last_timestamp = self._last_timestamp, self.Changes.last_change()
        return bool(self._last_timestamp and self._last_timestamp > (last or self._last_timestamp))

    def sync(self) -> None:
        """Save the runs sent since the last save; during an outage they wait for the read that ends it."""
        if self._reading:
            self._save_runs()  # before the read replaces the entries; an error reaches the read
            return
        if self._outage_since is not None:
            return
        try:
            self._save_runs()
        except DatabaseError as exc:
            if not is_database_unavailable(exc):
                logger.exception("Database error while beat saved its runs")
                return
            self._database_failed(exc)

    def _save_runs(self) -> None:
        close_old_connections()
        while self._dirty:
            name = next(iter(self._dirty))
            entry = (self._schedule or {}).get(name)
            if entry is not None:
                with contextlib.suppress(ObjectDoesNotExist):  # deleted in the meantime
                    entry.save()
            self._dirty.discard(name)  # only once saved: after an error it is saved next time

    def _in_memory(self) -> dict:
        return self._schedule if self._schedule is not None else {}

    def _outage_age(self) -> float:
        return monotonic() - self._outage_since if self._outage_since is not None else 0.0

    def _database_failed(self, exc: DatabaseError) -> None:
        if self._schedule is None:
            self._initial_read = True  # it never read the schedule: read it as at start
        if self._outage_since is None:
            self._outage_since, self._retry_delay = monotonic(), FIRST_RETRY_SECONDS
            logger.error(
                "Database unavailable (%s); beat keeps sending the %d periodic tasks it has and asks again"
                " in %.0f s, then less often, up to every %.0f s.",
                describe(exc),
                len(self._in_memory()),
                FIRST_RETRY_SECONDS,
                MAX_RETRY_SECONDS,
            )
        else:
            self._retry_delay = min(MAX_RETRY_SECONDS, self._retry_delay * 2)
            logger.debug("Database still unavailable (%s); next try in %.0f s.", describe(exc), self._retry_delay)
        self._retry_at = monotonic() + self._retry_delay
