"""Beat's scheduler rides out a database outage: it keeps ticking, logs once and reads again when it is back."""

import datetime as dt
import logging

import pytest
import time_machine
from django.db import ProgrammingError
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config import beat
from config.celery import app as celery_app
from tests.outage import database_unreachable

# Beat commits and closes connections as it goes: no test transaction around it.
database = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock(monkeypatch):
    """beat's monotonic clock, moved by hand: ``clock[0] += seconds``."""
    now = [1000.0]
    monkeypatch.setattr(beat, "monotonic", lambda: now[0])
    return now


def _periodic_task(name: str, *, ran_ago: dt.timedelta | None = None) -> PeriodicTask:
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    last_run = timezone.now() - ran_ago if ran_ago else None
    return PeriodicTask.objects.create(name=name, task="config.tasks.heartbeat", interval=every, last_run_at=last_run)


_made: list[beat.DatabaseScheduler] = []


@pytest.fixture(autouse=True)
def _no_save_at_exit():
    """A scheduler saves its runs when the process exits (a multiprocessing finalizer): not after the tests."""
    yield
    while _made:
        _made.pop()._finalize.cancel()


def _scheduler(sent: list[str]) -> beat.DatabaseScheduler:
    scheduler = beat.DatabaseScheduler(app=celery_app)
    _made.append(scheduler)
    scheduler.__dict__["producer"] = None  # a cached property: no broker connection in these tests
    scheduler.apply_async = lambda entry, producer=None, advance=True, **options: sent.append(entry.name)
    return scheduler


def _beat_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(("config.beat", "celery")) and r.levelno >= 40]


@database
def test_beat_keeps_sending_through_an_outage_and_reads_the_schedule_again_when_it_answers(clock, caplog):
    _periodic_task("probe", ran_ago=dt.timedelta(hours=1))
    sent: list[str] = []
    scheduler = _scheduler(sent)
    scheduler.tick()
    assert sent == ["probe"]

    # Past django-celery-beat's forced full read (every 5 minutes), which raised out of tick and ended beat.
    later = timezone.now() + dt.timedelta(minutes=6)
    with database_unreachable(pool_timeout=0.2), time_machine.travel(later, tick=False):
        for _ in range(4):
            scheduler.tick()
            clock[0] += 1
    assert sent == ["probe", "probe"]  # sent again from memory, its minute having passed
    [logged] = _beat_errors(caplog)
    assert logged.startswith("Database unavailable (")

    _periodic_task("added-during-the-outage")
    clock[0] += beat.MAX_RETRY_SECONDS
    scheduler.tick()
    assert "added-during-the-outage" in scheduler.schedule
    assert PeriodicTask.objects.get(name="probe").total_run_count == 2  # the run sent in the outage was saved
    assert any("Database answers again" in record.getMessage() for record in caplog.records)
    assert len(_beat_errors(caplog)) == 1


@database
def test_beat_started_in_an_outage_waits_for_the_database(clock, caplog):
    _periodic_task("probe", ran_ago=dt.timedelta(hours=1))
    sent: list[str] = []
    with database_unreachable(pool_timeout=0.2):
        scheduler = _scheduler(sent)
        scheduler.tick()
        clock[0] += 1
        scheduler.tick()
    assert sent == []
    clock[0] += beat.MAX_RETRY_SECONDS
    scheduler.tick()
    assert sent == ["probe"]


@database
def test_the_database_is_not_asked_again_before_the_retry_delay(clock):
    sent: list[str] = []
    scheduler = _scheduler(sent)
    with database_unreachable(pool_timeout=0.2):
        scheduler.tick()
    asked = []
    scheduler.Changes = type("Changes", (), {"last_change": staticmethod(lambda: asked.append(1))})
    clock[0] += beat.FIRST_RETRY_SECONDS - 1
    scheduler.tick()
    assert asked == []
    clock[0] += 1
    scheduler.tick()  # due: it reads everything again, and checks for changes on the ticks after
    scheduler.tick()
    assert asked


@database
def test_other_database_errors_still_stop_beat(clock):
    scheduler = _scheduler([])

    def broken() -> None:
        raise ProgrammingError("relation django_celery_beat_periodictasks does not exist")

    scheduler.Changes = type("Changes", (), {"last_change": staticmethod(broken)})
    with pytest.raises(ProgrammingError):
        scheduler.tick()


def test_beat_uses_this_scheduler():
    assert celery_app.conf.beat_scheduler == "config.beat:DatabaseScheduler"
    assert logging.getLogger("config.beat")  # the logger the outage is reported on
