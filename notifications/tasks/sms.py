"""SMS tasks: send one number (retries are rows queued again with a countdown), sweep what was left."""

import datetime as dt

from celery import shared_task

from companies.joblocks import exclusive_job
from notifications.sms import services


# Acknowledged late (the project's default): a task whose worker died is delivered again, and the row's claim
# makes that run do nothing once the gateway was called (services.deliver).
@shared_task(ignore_result=True)
def deliver_sms(recipient_id: int) -> str:
    return services.deliver(recipient_id=recipient_id)


@shared_task
@exclusive_job(lease=dt.timedelta(minutes=5))
def sweep_sms() -> dict[str, int]:
    return services.sweep()
