import datetime as dt

from celery import shared_task

from companies.joblocks import exclusive_job
from notifications.notices import reminders


@shared_task(name="notifications.tasks.send_billing_reminders")
@exclusive_job(lease=dt.timedelta(hours=1), name="notifications.tasks.send_billing_reminders")
def send_billing_reminders() -> int:
    return reminders.run_due()
