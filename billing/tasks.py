"""Billing jobs: Meta's own figures fetched each day beside ours."""

import datetime as dt

from celery import shared_task

from billing.services import reconciliation
from companies.joblocks import exclusive_job


@shared_task(name="billing.tasks.reconcile_with_meta")
@exclusive_job(lease=dt.timedelta(hours=2), name="billing.tasks.reconcile_with_meta")
def reconcile_with_meta() -> int:
    """Fetch each company's due days of pricing analytics from Meta; returns the days fetched (None: skipped)."""
    return reconciliation.run_due()
