"""Template jobs: keep every active WABA's template statuses in step with Meta."""

import datetime as dt
import logging

from celery import shared_task

from companies.joblocks import exclusive_job
from companies.models import Channel, Company
from templates_meta import meta

logger = logging.getLogger(__name__)


@shared_task
@exclusive_job(lease=dt.timedelta(minutes=30))
def sync_all_templates() -> int:
    """Sync each active company's WABAs; one failing WABA does not stop the others. Returns WABAs synced."""
    synced = 0
    wabas = list(
        Channel.objects.filter(kind=Channel.Kind.CLOUD, is_active=True, company__status=Company.Status.ACTIVE)
        .exclude(waba_id="")
        .values_list("company_id", "waba_id")
        .distinct()
    )
    companies = Company.objects.in_bulk({company_id for company_id, _ in wabas})
    for company_id, waba_id in wabas:
        try:
            meta.sync_waba(company=companies[company_id], waba_id=waba_id)
            synced += 1
        except Exception:
            logger.exception("Template sync failed for company %s, WABA %s", company_id, waba_id)
    return synced
