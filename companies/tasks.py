"""Domain event delivery: the events queue's task and its sweeper."""

import datetime as dt

from celery import shared_task

from companies import events
from companies.joblocks import exclusive_job


@shared_task(ignore_result=True)
def deliver_events() -> int:
    """Hand due domain events to their handlers until none is due (``events.deliver``)."""
    return events.deliver()


@shared_task
@exclusive_job(lease=dt.timedelta(minutes=2))
def sweep_events() -> int:
    return events.sweep()
